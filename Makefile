# Build, test and run the clustered stateful firewall.
#   make            build the daemons into build/
#   make deps       install every build and test package (Debian 12, idempotent)
#   make test       unit tests (plain and ASan+UBSan) and lab integration tests
#   make demo       the lab's cluster under load, an active worker killed: failover report
#   make bench-fastpath   per-packet cost of the worker's fast path
#   make bench-conntrackd the conntrackd active/backup pair's failover under load (peer baseline)
#   make bench-throughput established-flow packets/s: worker, worker SCHED_FIFO, kernel firewall
#   make bench-plot       PNG figures from a results directory (RESULTS=dir, default the latest)
#   make bench-modes / bench-clustersize   the sync modes / cluster sizes (quick)
#   make bench-failover   the cluster's failover under load: an active worker killed, per sync level
#   make bench-takeover   a failover with 0 to 200,000 stored connections to load
#   make base-image  debian:bookworm-slim for the Dockerfiles (debootstrap when not pullable)
#   make images      the container images (docker/build); compose.yaml runs them

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-missing-field-initializers
CPPFLAGS += -D_GNU_SOURCE -Icommon -Ifwnode -Iemgr
LDLIBS  := -lpcap -lev -lconfig -lhiredis -lm -pthread
SANFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

B := build

COMMON_SRC := $(wildcard common/*.c)
FWNODE_SRC := $(filter-out fwnode/main.c,$(wildcard fwnode/*.c))
EMGR_SRC   := $(filter-out emgr/main.c,$(wildcard emgr/*.c))
LIB_SRC    := $(COMMON_SRC) $(FWNODE_SRC) $(EMGR_SRC)
TEST_SRC   := $(wildcard tests/unit/test_*.c)
HDRS       := $(wildcard common/*.h fwnode/*.h emgr/*.h tests/unit/*.h)

LIB_OBJ      := $(LIB_SRC:%.c=$(B)/obj/%.o)
LIB_OBJ_SAN  := $(LIB_SRC:%.c=$(B)/san/%.o)
TESTS        := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TESTS_SAN    := $(TEST_SRC:tests/unit/%.c=$(B)/san/tests/%)
# Test programs against a private redis-server (ASan + UBSan), run by tests/integration scripts.
STORE_TESTS  := $(patsubst tests/store/%.c,$(B)/san/store-tests/%,$(wildcard tests/store/*.c))

.PHONY: fuzz fuzz-build all deps test unit integration demo bench-fastpath bench bench-full bench-conntrackd bench-throughput bench-plot bench-failover bench-modes bench-clustersize bench-takeover clean format check-format

all: $(B)/fwnode $(B)/fwnode-san $(B)/emgr $(B)/emgr-san $(B)/storertt

$(B)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/san/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(SANFLAGS) -c -o $@ $<

$(B)/libfw.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libfw-san.a: $(LIB_OBJ_SAN)
	@rm -f $@
	ar rcs $@ $^

$(B)/fwnode: $(B)/obj/fwnode/main.o $(B)/libfw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The same worker under AddressSanitizer + UBSan: the integration tests run it.
$(B)/fwnode-san: $(B)/san/fwnode/main.o $(B)/libfw-san.a
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(B)/emgr: $(B)/obj/emgr/main.o $(B)/libfw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/emgr-san: $(B)/san/emgr/main.o $(B)/libfw-san.a
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# The bare store round trip the benchmarks compare the worker's hold time with.
$(B)/storertt: bench/storertt.c $(B)/libfw.a
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< $(B)/libfw.a $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libfw.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(WARN) $(CFLAGS) -o $@ $< $(B)/libfw.a $(LDLIBS) -lcmocka

$(B)/san/tests/%: tests/unit/%.c $(B)/libfw-san.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(WARN) $(SANFLAGS) -o $@ $< $(B)/libfw-san.a $(LDLIBS) -lcmocka

$(B)/san/store-tests/%: tests/store/%.c $(B)/libfw-san.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(SANFLAGS) -o $@ $< $(B)/libfw-san.a $(LDLIBS)

deps:
	./tests/deps.sh

unit: $(TESTS) $(TESTS_SAN)
	tests/run --unit

integration: all $(STORE_TESTS)
	tests/run --integration

test: all $(TESTS) $(TESTS_SAN) $(STORE_TESTS)
	tests/run

demo: all
	lab/demo

bench-fastpath: $(B)/fwnode
	bench/fastpath

# The benchmark suite in the lab (bench/run: every experiment, summary.md, plots; quick: about
# 15 minutes); bench-full: the paper's size. Each experiment also has a target below.
bench: all
	bench/run --quick

bench-full: all
	bench/run --full

# The conntrackd peer baseline (quick: 3 takeovers); BENCH_FLAGS=--full for 10.
bench-conntrackd: $(B)/fwnode
	bench/conntrackd $(or $(BENCH_FLAGS),--quick)

# Established-flow packets/s through one worker vs the kernel firewall (quick: 1 run, 2 s steps);
# BENCH_FLAGS=--full for 3 runs of 5 s steps.
bench-throughput: $(B)/fwnode
	bench/throughput $(or $(BENCH_FLAGS),--quick)

# The figures (gnuplot) of a results directory: RESULTS=bench/results/<date>, default latest.
bench-plot:
	bench/plot $(or $(RESULTS),bench/results/latest)

# The sync modes (quick: concurrency 100, both host profiles) and the cluster sizes (quick).
bench-modes: all
	bench/modes $(or $(BENCH_FLAGS),--quick)

bench-clustersize: all
	bench/clustersize $(or $(BENCH_FLAGS),--quick)

# The cluster's failover (issue 4, "Speed"; quick: 3 kills per level); BENCH_FLAGS=--full for 10.
bench-failover: $(B)/fwnode $(B)/emgr
	bench/failover $(or $(BENCH_FLAGS),--quick)

# A takeover of 0, 50,000 and 200,000 stored entries (BENCH_TAKEOVER_N for others).
bench-takeover: $(B)/fwnode $(B)/emgr
	bench/takeover

base-image:
	docker/engine
	docker/base-image

images: base-image
	docker/build

format:
	clang-format -i common/*.[ch] fwnode/*.[ch] emgr/*.[ch] tests/unit/*.[ch] tests/store/*.c \
		bench/*.c tests/fuzz/*.c

check-format:
	clang-format --dry-run --Werror common/*.[ch] fwnode/*.[ch] emgr/*.[ch] tests/unit/*.[ch] \
		tests/store/*.c bench/*.c tests/fuzz/*.c

clean:
	rm -rf $(B)

# Fuzzing (clang's libFuzzer with ASan + UBSan): each target runs FUZZ_SECONDS from the seed
# corpus in tests/fuzz/corpus/; what it finds goes to build/fuzz-work/.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
LIB_OBJ_FUZZ := $(LIB_SRC:%.c=$(B)/fuzzobj/%.o)

$(B)/fuzzobj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -c -o $@ $<

$(B)/fuzz/%: tests/fuzz/%.c $(LIB_OBJ_FUZZ)
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_OBJ_FUZZ) $(LDLIBS)

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS)
