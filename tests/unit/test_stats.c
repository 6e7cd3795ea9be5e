/* test_stats.c: latency histograms and the counters' text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
        assert_true(got > want[i] * 0.93 && got < want[i] * 1.07);
    }
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
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    stats_write(&s, f);
    fclose(f);
    assert_non_null(strstr(buf, "pkts_in 7\n"));
    assert_non_null(strstr(buf, "drop_rule 3\n"));
    assert_non_null(strstr(buf, "drop_parse_ip4_ihl 2\n"));
    assert_non_null(strstr(buf, "drop_tcp_bad_rst 1\n"));
    assert_non_null(strstr(buf, "setup_count 1\n"));
    assert_non_null(strstr(buf, "setup_p50_us "));
    assert_string_equal(stats_drop_name(DROP_TABLE_FULL), "table_full");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles_within_resolution),
        cmocka_unit_test(test_small_and_huge_values),
        cmocka_unit_test(test_write_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
