/* test_log.c: unit tests of the logger: levels, plain and JSON lines, escaping, errno, fatal. */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* stderr is redirected to a temporary file while a test logs. */
static int saved_stderr = -1;
static FILE *capture_file;
static char captured[2 * PIPE_BUF + 1];

static void capture_start(void)
{
    capture_file = tmpfile();
    assert_non_null(capture_file);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Restores stderr and returns what was written meanwhile (NUL-terminated). */
static const char *capture_end(void)
{
    size_t n;

    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    rewind(capture_file);
    n = fread(captured, 1, sizeof(captured) - 1, capture_file);
    captured[n] = '\0';
    fclose(capture_file);
    capture_file = NULL;
    return captured;
}

static int reset(void **state)
{
    (void)state;
    log_init("fwnode", LOG_LVL_DEBUG, false);
    return 0;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;

    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("'%s' does not match /%s/", text, pattern);
    regfree(&re);
}

/* The text of the "msg" field of a JSON line (still escaped). */
static const char *json_msg(const char *line, char *buf, size_t len)
{
    const char *p = strstr(line, "\"msg\":\"");
    const char *end;

    assert_non_null(p);
    p += 7;
    end = strstr(p, "\"}\n");
    assert_non_null(end);
    assert_true((size_t)(end - p) < len);
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return buf;
}

static void test_level_names(void **state)
{
    (void)state;
    assert_int_equal(log_level_from_name("debug"), LOG_LVL_DEBUG);
    assert_int_equal(log_level_from_name("info"), LOG_LVL_INFO);
    assert_int_equal(log_level_from_name("warn"), LOG_LVL_WARN);
    assert_int_equal(log_level_from_name("error"), LOG_LVL_ERROR);
    assert_int_equal(log_level_from_name("warning"), -1);
    assert_int_equal(log_level_from_name(""), -1);
    assert_int_equal(log_level_from_name(NULL), -1);
    assert_string_equal(log_level_name(LOG_LVL_DEBUG), "debug");
    assert_string_equal(log_level_name(LOG_LVL_INFO), "info");
    assert_string_equal(log_level_name(LOG_LVL_WARN), "warn");
    assert_string_equal(log_level_name(LOG_LVL_ERROR), "error");
    assert_string_equal(log_level_name((enum log_level)42), "unknown");
}

static void test_plain_format(void **state)
{
    char want[64];
    (void)state;
    capture_start();
    log_warnx("disk %s at %d%%", "full", 99);
    const char *out = capture_end();
    assert_matches(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                        "fwnode\\[[0-9]+\\]: warn: disk full at 99%\n$");
    snprintf(want, sizeof(want), "fwnode[%ld]: ", (long)getpid());
    assert_non_null(strstr(out, want));
}

static void test_level_filter(void **state)
{
    (void)state;
    log_set_level(LOG_LVL_WARN);
    capture_start();
    log_debug("d");
    log_info("i");
    log_warnx("w");
    log_errorx("e");
    log_msg(LOG_LVL_INFO, false, "direct info");
    const char *out = capture_end();
    assert_null(strstr(out, ": debug: "));
    assert_null(strstr(out, ": info: "));
    assert_non_null(strstr(out, ": warn: w\n"));
    assert_non_null(strstr(out, ": error: e\n"));

    log_set_level(LOG_LVL_ERROR);
    capture_start();
    log_warnx("w");
    log_errorx("e");
    out = capture_end();
    assert_null(strstr(out, "warn"));
    assert_non_null(strstr(out, ": error: e\n"));

    log_set_level(LOG_LVL_DEBUG);
    capture_start();
    log_debug("d%d", 1);
    log_info("i%d", 2);
    out = capture_end();
    assert_non_null(strstr(out, ": debug: d1\n"));
    assert_non_null(strstr(out, ": info: i2\n"));
}

/* Arguments of a skipped message are not even evaluated. */
static int evaluated;
static int side_effect(void)
{
    evaluated++;
    return 1;
}

static void test_level_checked_before_format(void **state)
{
    (void)state;
    log_set_level(LOG_LVL_INFO);
    evaluated = 0;
    capture_start();
    log_debug("%d", side_effect());
    capture_end();
    assert_int_equal(evaluated, 0);
    assert_int_equal(log_min_level, LOG_LVL_INFO);
}

static void test_warn_errno(void **state)
{
    (void)state;
    capture_start();
    errno = ENOENT;
    log_warn("open %s", "/nope");
    int after = errno;
    const char *out = capture_end();
    assert_int_equal(after, ENOENT); /* logging keeps errno */
    assert_matches(out, ": warn: open /nope: No such file or directory\n$");

    capture_start();
    errno = ENOENT;
    log_warnx("no errno");
    out = capture_end();
    assert_matches(out, ": warn: no errno\n$");
}

static void test_plain_one_line(void **state)
{
    (void)state;
    capture_start();
    log_warnx("two\nlines\r\tend");
    const char *out = capture_end();
    assert_matches(out, ": warn: two lines \tend\n$");
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void test_json_format(void **state)
{
    char want[128];
    (void)state;
    log_init("fwnode", LOG_LVL_INFO, true);
    capture_start();
    log_info("hello %d", 7);
    const char *out = capture_end();
    assert_matches(out, "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
                        "[0-9]{3}Z\",\"prog\":\"fwnode\",\"pid\":[0-9]+,\"level\":\"info\","
                        "\"msg\":\"hello 7\"\\}\n$");
    snprintf(want, sizeof(want), "\"pid\":%ld,", (long)getpid());
    assert_non_null(strstr(out, want));
}

static void test_json_escaping(void **state)
{
    char msg[512];
    (void)state;
    log_init("fw\"node", LOG_LVL_DEBUG, true);
    capture_start();
    log_warnx("q\" b\\ n\n r\r t\t c\x01 d\x7f e\xc3\xa9 bad\xff\xc3 end");
    const char *out = capture_end();
    assert_non_null(strstr(out, "\"prog\":\"fw\\\"node\""));
    assert_string_equal(json_msg(out, msg, sizeof(msg)),
                        "q\\\" b\\\\ n\\n r\\r t\\t c\\u0001 d\\u007f e\xc3\xa9 "
                        "bad\\ufffd\\ufffd end");
    /* one line: the only raw newline is the last byte */
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

static void test_json_utf8(void **state)
{
    char msg[512];
    (void)state;
    log_init("fwnode", LOG_LVL_DEBUG, true);
    capture_start();
    /* valid 3 and 4 byte sequences, then an overlong, a surrogate and a truncated one */
    log_warnx("\xe2\x82\xac \xf0\x9f\x94\xa5 \xc0\xaf \xed\xa0\x80 \xe2\x82");
    const char *out = capture_end();
    assert_string_equal(json_msg(out, msg, sizeof(msg)),
                        "\xe2\x82\xac \xf0\x9f\x94\xa5 \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd "
                        "\\ufffd\\ufffd");
}

static void test_json_errno(void **state)
{
    char msg[512];
    (void)state;
    log_init("fwnode", LOG_LVL_DEBUG, true);
    capture_start();
    errno = EACCES;
    log_warn("bind \"%s\"", "x");
    const char *out = capture_end();
    assert_string_equal(json_msg(out, msg, sizeof(msg)), "bind \\\"x\\\": Permission denied");
    assert_non_null(strstr(out, "\"level\":\"warn\""));
}

static void test_long_line_cut(void **state)
{
    static char big[3 * PIPE_BUF];
    (void)state;
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    log_init("fwnode", LOG_LVL_DEBUG, true);
    capture_start();
    log_warnx("%s", big);
    const char *out = capture_end();
    size_t n = strlen(out);
    assert_true(n <= PIPE_BUF);
    assert_true(n > PIPE_BUF - 16);
    assert_string_equal(out + n - 5, "\\\"\"}\n"); /* ends on a whole escape */

    log_init("fwnode", LOG_LVL_DEBUG, false);
    capture_start();
    log_warnx("%s", big);
    out = capture_end();
    n = strlen(out);
    assert_int_equal(n, PIPE_BUF);
    assert_int_equal(out[n - 1], '\n');
    assert_int_equal(out[n - 2], '"');
}

static void test_two_lines(void **state)
{
    (void)state;
    capture_start();
    log_warnx("one");
    log_errorx("two");
    const char *out = capture_end();
    assert_matches(out, "^[^\n]*: warn: one\n[^\n]*: error: two\n$");
}

/* Runs fn in a child with stderr captured; returns the child's exit status. */
static int run_child(void (*fn)(void))
{
    pid_t pid;
    int status;

    capture_start();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(99);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    capture_end();
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void call_fatalx(void)
{
    log_set_level(LOG_LVL_ERROR);
    fatalx("cannot go on: %d", 5);
}

static void call_fatal(void)
{
    errno = EPERM;
    fatal("setuid");
}

static void test_fatal(void **state)
{
    (void)state;
    assert_int_equal(run_child(call_fatalx), 1);
    assert_matches(captured, ": error: cannot go on: 5\n$");
    assert_int_equal(run_child(call_fatal), 1);
    assert_matches(captured, ": error: setuid: Operation not permitted\n$");
}

static void test_set_level_clamps(void **state)
{
    (void)state;
    log_set_level((enum log_level)9);
    assert_int_equal(log_min_level, LOG_LVL_ERROR);
    log_set_level(LOG_LVL_DEBUG);
    assert_int_equal(log_min_level, LOG_LVL_DEBUG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_level_names, reset),
        cmocka_unit_test_setup(test_plain_format, reset),
        cmocka_unit_test_setup(test_level_filter, reset),
        cmocka_unit_test_setup(test_level_checked_before_format, reset),
        cmocka_unit_test_setup(test_warn_errno, reset),
        cmocka_unit_test_setup(test_plain_one_line, reset),
        cmocka_unit_test_setup(test_json_format, reset),
        cmocka_unit_test_setup(test_json_escaping, reset),
        cmocka_unit_test_setup(test_json_utf8, reset),
        cmocka_unit_test_setup(test_json_errno, reset),
        cmocka_unit_test_setup(test_long_line_cut, reset),
        cmocka_unit_test_setup(test_two_lines, reset),
        cmocka_unit_test_setup(test_fatal, reset),
        cmocka_unit_test_setup(test_set_level_clamps, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
