/* test_stats.c: latency histograms and the counters' text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

static void test_quantiles_within_resolution(void **state)
{
    (void)state;
    static struct hist h;
    hist_reset(&h);
    assert_int_equal(hist_quantile(&h, 0.5), 0);
    for (uint64_t v = 1; v <= 10000; v++)
        hist_add(&h, v * 1000); /* 1 us .. 10 ms */
    assert_int_equal(h.count, 10000);
    double q[] = {0.5, 0.9, 0.99};
    double want[] = {5000e3, 9000e3, 9900e3};
    for (int i = 0; i < 3; i++) {
        double got = (double)hist_quantile(&h, q[i]);
        assert_true(got > want[i] * 0.99 && got < want[i] * 1.01); /* interpolated in a bin */
    }
}

static void test_quantile_within_one_bin(void **state)
{
    (void)state;
    static struct hist h;
    hist_reset(&h);
    for (int i = 0; i < 100; i++)
        hist_add(&h, 400000000); /* 400 ms: a bin of 2^22 ns, 1/64 of its power of two */
    double q[] = {0.01, 0.5, 0.99};
    for (int i = 0; i < 3; i++) {
        double got = (double)hist_quantile(&h, q[i]);
        assert_true(got >= 400e6 * (1 - 1.0 / 64) && got < 400e6 * (1 + 1.0 / 64));
    }
    /* two clusters: p50 in the lower, p90 in the upper, each within its bin */
    hist_reset(&h);
    for (int i = 0; i < 600; i++)
        hist_add(&h, 150000);
    for (int i = 0; i < 400; i++)
        hist_add(&h, 250000);
    double p50 = (double)hist_quantile(&h, 0.5), p90 = (double)hist_quantile(&h, 0.9);
    assert_true(p50 >= 150e3 * (1 - 1.0 / 64) && p50 < 150e3 * (1 + 1.0 / 64));
    assert_true(p90 >= 250e3 * (1 - 1.0 / 64) && p90 < 250e3 * (1 + 1.0 / 64));
    assert_true(hist_quantile(&h, 0.5) <= hist_quantile(&h, 0.59));
}

static void test_small_and_huge_values(void **state)
{
    (void)state;
    static struct hist h;
    hist_reset(&h);
    hist_add(&h, 3);
    assert_int_equal(hist_quantile(&h, 0.5), 3);
    hist_reset(&h);
    hist_add(&h, UINT64_MAX); /* clamps into the last bin, never out of bounds */
    assert_true(hist_quantile(&h, 0.99) > 0);
}

/* The whole of a file (NUL-terminated, malloc'd), NULL when it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* A new directory (dir, a mkdtemp template) with path = dir/node.stats and tmp its temporary
 * file's name. */
static void temp_paths(char *dir, char *path, size_t pathlen, char *tmp, size_t tmplen)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, pathlen, "%s/node.stats", dir);
    snprintf(tmp, tmplen, "%s.tmp", path);
}

/* The text stats_write gives for s. */
static char *as_text(const struct fw_stats *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    stats_write(s, f);
    fclose(f);
    return buf;
}

static void test_write_names(void **state)
{
    (void)state;
    static struct fw_stats s;
    memset(&s, 0, sizeof(s));
    s.pkts_in = 7;
    s.drop[DROP_RULE] = 3;
    s.drop_parse[PKT_ERR_IP4_IHL] = 2;
    s.drop_tcp[TCP_BAD_RST] = 1;
    hist_add(&s.setup, 50000);
    char *buf = as_text(&s);
    assert_non_null(strstr(buf, "pkts_in 7\n"));
    assert_non_null(strstr(buf, "drop_rule 3\n"));
    assert_non_null(strstr(buf, "drop_parse_ip4_ihl 2\n"));
    assert_non_null(strstr(buf, "drop_tcp_bad_rst 1\n"));
    assert_non_null(strstr(buf, "setup_count 1\n"));
    assert_non_null(strstr(buf, "setup_p50_us "));
    assert_string_equal(stats_drop_name(DROP_TABLE_FULL), "table_full");
    free(buf);
}

/* The writer thread writes the newest counters handed to it; stopping it writes the last ones,
 * and leaves no temporary file. */
static void test_file_writer(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_stats.XXXXXX", path[256], tmp[300];
    temp_paths(dir, path, sizeof(path), tmp, sizeof(tmp));
    char err[256];
    struct stats_file *sf = stats_file_new(path, err, sizeof(err));
    assert_non_null(sf);
    static struct fw_stats s;
    memset(&s, 0, sizeof(s));
    for (uint64_t i = 1; i <= 50; i++) {
        s.pkts_in = i;
        assert_int_equal(stats_file_post(sf, &s), 0);
    }
    assert_int_equal(stats_file_free(sf, 5.0), 0);
    char *got = slurp(path), *want = as_text(&s);
    assert_non_null(got);
    assert_string_equal(got, want); /* the last handed over: pkts_in 50 */
    assert_non_null(strstr(got, "pkts_in 50\n"));
    assert_int_equal(access(tmp, F_OK), -1);
    free(got);
    free(want);
    unlink(path);
    rmdir(dir);
}

/* A write that fails is reported by a later hand-over (the errno), and the synchronous write
 * fails the same way. */
static void test_file_writer_error(void **state)
{
    (void)state;
    const char *path = "/nonexistent-dir-of-test-stats/node.stats";
    char err[256];
    struct stats_file *sf = stats_file_new(path, err, sizeof(err));
    assert_non_null(sf);
    static struct fw_stats s;
    memset(&s, 0, sizeof(s));
    int e = stats_file_post(sf, &s);
    for (int i = 0; i < 2000 && e == 0; i++) { /* until the thread has tried: 2 s at most */
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        e = stats_file_post(sf, &s);
    }
    assert_int_equal(e, ENOENT);
    assert_int_equal(stats_file_free(sf, 5.0), 0);
    errno = 0;
    assert_int_equal(stats_write_file(&s, path), -1);
    assert_int_equal(errno, ENOENT);
}

/* A write that hangs (the temporary file is a FIFO nobody reads) holds the writer, not the caller:
 * handing over returns, stopping gives up after its wait and can be asked again once the write
 * is through; the FIFO's reader gets the counters. */
static void test_file_writer_hung(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_stats.XXXXXX", path[256], tmp[300];
    temp_paths(dir, path, sizeof(path), tmp, sizeof(tmp));
    assert_int_equal(mkfifo(tmp, 0600), 0);
    char err[256];
    struct stats_file *sf = stats_file_new(path, err, sizeof(err));
    assert_non_null(sf);
    static struct fw_stats s;
    memset(&s, 0, sizeof(s));
    s.pkts_in = 42;
    assert_int_equal(stats_file_post(sf, &s), 0);
    s.pkts_in = 43;
    assert_int_equal(stats_file_post(sf, &s), 0); /* the writer is in open(): no wait here */
    assert_int_equal(stats_file_free(sf, 0.2), -1);
    int fd = open(tmp, O_RDONLY); /* lets the writer's open() through */
    assert_true(fd >= 0);
    char buf[8192];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    assert_int_equal(stats_file_free(sf, 5.0), 0); /* writes 43 if it was not, then stops */
    /* the FIFO was renamed to path: the writer took 43 first (42 was replaced before it woke),
     * or it took 42 and then wrote 43 to a new file renamed over the FIFO */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if (S_ISFIFO(st.st_mode)) {
        assert_non_null(strstr(buf, "pkts_in 43\n"));
    } else {
        assert_non_null(strstr(buf, "pkts_in 42\n"));
        char *last = slurp(path);
        assert_non_null(last);
        assert_non_null(strstr(last, "pkts_in 43\n"));
        free(last);
    }
    unlink(path);
    unlink(tmp);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles_within_resolution),
        cmocka_unit_test(test_quantile_within_one_bin),
        cmocka_unit_test(test_small_and_huge_values),
        cmocka_unit_test(test_write_names),
        cmocka_unit_test(test_file_writer),
        cmocka_unit_test(test_file_writer_error),
        cmocka_unit_test(test_file_writer_hung),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
