/* test_config.c: unit tests of the table-driven configuration: defaults, file, env, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* A small settings struct with one field of each type (two ints, three strings). */
struct tset {
    bool verbose;
    long conn_max;
    char *iface;
    int level;
    struct ruleset rules;
    long tcp_timeout;
    char *node;
    char *mac;
};

enum { LEVEL_FULL, LEVEL_ESTABLISHED, LEVEL_NONE };
static const char *const levels[] = {"full", "established", "none", NULL};

static int validated;

/* node: not empty, no spaces. */
static int check_node(const struct cfg_option *opt, const void *value, char *err, size_t errlen)
{
    const char *s = *(char *const *)value;
    (void)opt;
    validated++;
    if (s == NULL || s[0] == '\0' || strchr(s, ' ') != NULL) {
        snprintf(err, errlen, "must be a word without spaces");
        return -1;
    }
    return 0;
}

static const struct cfg_option tab[] = {
    {"verbose", "TCFG_VERBOSE", "verbose", CFG_BOOL, "no", offsetof(struct tset, verbose), 0, 0,
     NULL, NULL, "log every packet"},
    {"conn_max", "TCFG_CONN_MAX", "conntrack.max", CFG_INT, "65536",
     offsetof(struct tset, conn_max), 1, 16777216, NULL, NULL, "most connections tracked"},
    {"iface_a", "TCFG_IFACE_A", "side_a.iface", CFG_STRING, "eth0", offsetof(struct tset, iface), 0,
     0, NULL, NULL, "interface on side A"},
    {"sync_level", "TCFG_LEVEL", "sync.level", CFG_ENUM, "full", offsetof(struct tset, level), 0, 0,
     levels, NULL, "which state changes go to Redis"},
    {"rules", "TCFG_RULES", "rules", CFG_RULES, "deny tcp to any port 23; allow icmp type 8",
     offsetof(struct tset, rules), 0, 0, NULL, NULL, "ordered rules, first match wins"},
    {"tcp_established", "TCFG_TCP_EST", "conntrack.timeouts.tcp_established", CFG_INT, "432000",
     offsetof(struct tset, tcp_timeout), 1, 1000000, NULL, NULL, "seconds"},
    {"node", "TCFG_NODE", "node", CFG_STRING, "fw1", offsetof(struct tset, node), 0, 0, NULL,
     check_node, "worker name"},
    {"mac_a", "TCFG_MAC_A", "side_a.mac", CFG_STRING, NULL, offsetof(struct tset, mac), 0, 0, NULL,
     NULL, "virtual MAC"},
    CFG_END,
};

static const char *const envs[] = {"TCFG_VERBOSE", "TCFG_CONN_MAX", "TCFG_IFACE_A", "TCFG_LEVEL",
                                   "TCFG_RULES",   "TCFG_TCP_EST",  "TCFG_NODE",    "TCFG_MAC_A"};

static char dir[64];
static char path[128];
static struct tset s;
static char err[512];

/* Writes text to a file in the test directory; returns its path (valid until the next call). */
static const char *write_conf(const char *name, const char *text)
{
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Loads text as a file; returns config_load's result. */
static int load_text(const char *text)
{
    return config_load(tab, &s, write_conf("t.cfg", text), err, sizeof(err));
}

/* Asserts that loading text fails with "PATH:line: want". */
static void assert_file_error(const char *text, int line, const char *want)
{
    char full[512];

    assert_int_equal(load_text(text), -1);
    snprintf(full, sizeof(full), "%s:%d: %s", path, line, want);
    assert_string_equal(err, full);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_config.XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    char p[128];
    (void)state;
    static const char *const names[] = {"t.cfg", "inc.cfg", "main.cfg"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    return rmdir(dir);
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++)
        unsetenv(envs[i]);
    memset(&s, 0xa5, sizeof(s)); /* config_load must not read what was there */
    err[0] = '\0';
    validated = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_free(tab, &s);
    return 0;
}

static void test_defaults(void **state)
{
    char buf[128];
    (void)state;
    assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_false(s.verbose);
    assert_int_equal(s.conn_max, 65536);
    assert_string_equal(s.iface, "eth0");
    assert_int_equal(s.level, LEVEL_FULL);
    assert_int_equal(s.tcp_timeout, 432000);
    assert_string_equal(s.node, "fw1");
    assert_null(s.mac);
    assert_int_equal(s.rules.n, 2);
    rule_format(&s.rules.rules[0], buf, sizeof(buf));
    assert_string_equal(buf, "deny tcp to any port 23");
    rule_format(&s.rules.rules[1], buf, sizeof(buf));
    assert_string_equal(buf, "allow icmp type 8");
    assert_int_equal(validated, 1);
}

static void test_file_values(void **state)
{
    char buf[128];
    (void)state;
    assert_int_equal(
        load_text("# comment\n"
                  "verbose = true;\n"
                  "conntrack = { max = 1000; timeouts = { tcp_established = 600; }; };\n"
                  "side_a = { iface = \"veth-a\"; mac = \"02:00:00:00:00:01\"; };\n"
                  "sync: { level = \"established\"; };\n"
                  "node = \"fw7\";\n"
                  "rules = ( \"allow tcp on a to 10.0.0.0/8 port 80\",\n"
                  "          \"deny any\" );\n"),
        0);
    assert_true(s.verbose);
    assert_int_equal(s.conn_max, 1000);
    assert_int_equal(s.tcp_timeout, 600);
    assert_string_equal(s.iface, "veth-a");
    assert_string_equal(s.mac, "02:00:00:00:00:01");
    assert_int_equal(s.level, LEVEL_ESTABLISHED);
    assert_string_equal(s.node, "fw7");
    assert_int_equal(s.rules.n, 2);
    rule_format(&s.rules.rules[0], buf, sizeof(buf));
    assert_string_equal(buf, "allow tcp on a to 10.0.0.0/8 port 80");
    rule_format(&s.rules.rules[1], buf, sizeof(buf));
    assert_string_equal(buf, "deny any");
}

static void test_file_partial_keeps_defaults(void **state)
{
    (void)state;
    assert_int_equal(load_text("conntrack = { max = 5; };\n"), 0);
    assert_int_equal(s.conn_max, 5);
    assert_int_equal(s.tcp_timeout, 432000);
    assert_string_equal(s.iface, "eth0");
    assert_int_equal(s.rules.n, 2);
}

static void test_file_int64_and_array(void **state)
{
    (void)state;
    assert_int_equal(load_text("conntrack = { max = 77L; };\n"
                               "rules = [ \"allow udp\", \"deny tcp\", \"allow icmp\" ];\n"),
                     0);
    assert_int_equal(s.conn_max, 77);
    assert_int_equal(s.rules.n, 3);
    assert_int_equal(s.rules.rules[2].proto, 1);
}

static void test_file_empty_rules(void **state)
{
    (void)state;
    assert_int_equal(load_text("rules = ();\n"), 0);
    assert_int_equal(s.rules.n, 0);
    assert_null(s.rules.rules);
}

static void test_env_overrides_file(void **state)
{
    (void)state;
    setenv("TCFG_VERBOSE", "off", 1);
    setenv("TCFG_CONN_MAX", "4096", 1);
    setenv("TCFG_IFACE_A", "env0", 1);
    setenv("TCFG_LEVEL", "none", 1);
    setenv("TCFG_TCP_EST", "+60", 1);
    setenv("TCFG_MAC_A", "", 1);
    assert_int_equal(
        load_text("verbose = true;\n"
                  "conntrack = { max = 1000; timeouts = { tcp_established = 600; }; };\n"
                  "side_a = { iface = \"veth-a\"; mac = \"m\"; };\n"
                  "sync = { level = \"established\"; };\n"),
        0);
    assert_false(s.verbose);
    assert_int_equal(s.conn_max, 4096);
    assert_string_equal(s.iface, "env0");
    assert_int_equal(s.level, LEVEL_NONE);
    assert_int_equal(s.tcp_timeout, 60);
    assert_string_equal(s.mac, "");
}

static void test_env_bool_words(void **state)
{
    static const char *const yes[] = {"1", "true", "TRUE", "yes", "Yes", "on"};
    static const char *const no[] = {"0", "false", "no", "NO", "off", "Off"};
    (void)state;
    for (size_t i = 0; i < 6; i++) {
        setenv("TCFG_VERBOSE", yes[i], 1);
        assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), 0);
        assert_true(s.verbose);
        config_free(tab, &s);
        setenv("TCFG_VERBOSE", no[i], 1);
        assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), 0);
        assert_false(s.verbose);
        config_free(tab, &s);
    }
    setenv("TCFG_VERBOSE", "maybe", 1);
    assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "TCFG_VERBOSE: not a boolean: 'maybe' (expected 1/0, true/false, "
                             "yes/no, on/off)");
}

static void test_env_int_errors(void **state)
{
    static const struct {
        const char *value, *err;
    } cases[] = {
        {"abc", "TCFG_CONN_MAX: not a number: 'abc'"},
        {"", "TCFG_CONN_MAX: not a number: ''"},
        {"12x", "TCFG_CONN_MAX: not a number: '12x'"},
        {" 12", "TCFG_CONN_MAX: not a number: ' 12'"},
        {"12 ", "TCFG_CONN_MAX: not a number: '12 '"},
        {"0x10", "TCFG_CONN_MAX: not a number: '0x10'"},
        {"-", "TCFG_CONN_MAX: not a number: '-'"},
        {"0", "TCFG_CONN_MAX: must be between 1 and 16777216"},
        {"-5", "TCFG_CONN_MAX: must be between 1 and 16777216"},
        {"16777217", "TCFG_CONN_MAX: must be between 1 and 16777216"},
        {"99999999999999999999999", "TCFG_CONN_MAX: must be between 1 and 16777216"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv("TCFG_CONN_MAX", cases[i].value, 1);
        assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), -1);
        assert_string_equal(err, cases[i].err);
        config_free(tab, &s);
    }
    setenv("TCFG_CONN_MAX", "16777216", 1);
    assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), 0);
    assert_int_equal(s.conn_max, 16777216);
    config_free(tab, &s);
    setenv("TCFG_CONN_MAX", "1", 1);
    assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), 0);
    assert_int_equal(s.conn_max, 1);
}

static void test_env_enum_error(void **state)
{
    (void)state;
    setenv("TCFG_LEVEL", "Full", 1);
    assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "TCFG_LEVEL: unknown value 'Full' (choices: full|established|none)");
}

static void test_env_rules_replace_file(void **state)
{
    char buf[128];
    (void)state;
    setenv("TCFG_RULES", " ; allow udp to any port 53;;  deny tcp on b ;", 1);
    assert_int_equal(load_text("rules = ( \"allow tcp\", \"allow icmp\", \"deny any\" );\n"), 0);
    assert_int_equal(s.rules.n, 2);
    rule_format(&s.rules.rules[0], buf, sizeof(buf));
    assert_string_equal(buf, "allow udp to any port 53");
    rule_format(&s.rules.rules[1], buf, sizeof(buf));
    assert_string_equal(buf, "deny tcp on b");
    config_free(tab, &s);

    /* an empty value means no rules at all */
    setenv("TCFG_RULES", "", 1);
    assert_int_equal(load_text("rules = ( \"allow tcp\" );\n"), 0);
    assert_int_equal(s.rules.n, 0);
}

static void test_env_rules_error(void **state)
{
    (void)state;
    setenv("TCFG_RULES", "allow tcp;; allow tcpp to any", 1);
    assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "TCFG_RULES: rule 2: unknown protocol 'tcpp' (expected tcp, udp, "
                             "icmp, icmpv6 or any)");
    config_free(tab, &s);
    setenv("TCFG_RULES", "allow tcp from 10.10.1.5/24", 1);
    assert_int_equal(config_load(tab, &s, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "TCFG_RULES: rule 1: host bits set in 10.10.1.5/24");
}

static void test_unknown_setting(void **state)
{
    (void)state;
    assert_file_error("verbose = true;\n"
                      "side_a = {\n"
                      "  ifac = \"eth1\";\n"
                      "};\n",
                      3, "unknown setting 'side_a.ifac'");
    config_free(tab, &s);
    assert_file_error("\n\nverbos = true;\n", 3, "unknown setting 'verbos'");
    config_free(tab, &s);
    assert_file_error("conntrack = {\n"
                      "  max = 5;\n"
                      "  timeouts = {\n"
                      "    tcp_establish = 5;\n"
                      "  };\n"
                      "};\n",
                      4, "unknown setting 'conntrack.timeouts.tcp_establish'");
    config_free(tab, &s);
    /* a group whose name is a prefix of a known one, but not a path prefix */
    assert_file_error("conn = { max = 1; };\n", 1, "unknown setting 'conn'");
    config_free(tab, &s);
    /* a group where a value is expected is a type error, not unknown */
    assert_file_error("\nnode = { x = 1; };\n", 2, "node: must be a string");
}

static void test_wrong_types(void **state)
{
    (void)state;
    assert_file_error("\nverbose = 1;\n", 2, "verbose: must be a boolean (true or false)");
    config_free(tab, &s);
    assert_file_error("conntrack = {\n  max = \"10\";\n};\n", 2,
                      "conntrack.max: must be an integer");
    config_free(tab, &s);
    assert_file_error("conntrack = { max = 1.5; };\n", 1, "conntrack.max: must be an integer");
    config_free(tab, &s);
    assert_file_error("\n\n\nside_a = { iface = 5; };\n", 4, "side_a.iface: must be a string");
    config_free(tab, &s);
    assert_file_error("sync = { level = true; };\n", 1,
                      "sync.level: must be a string (choices: full|established|none)");
    config_free(tab, &s);
    assert_file_error("\nrules = \"allow tcp\";\n", 2, "rules: must be a list of rule strings");
    config_free(tab, &s);
    assert_file_error("rules = (\n  \"allow tcp\",\n  5\n);\n", 3, "rules[1]: must be a string");
}

static void test_file_range(void **state)
{
    (void)state;
    assert_file_error("conntrack = {\n  max = 16777217;\n};\n", 2,
                      "conntrack.max: must be between 1 and 16777216");
    config_free(tab, &s);
    assert_file_error("conntrack = { max = 0; };\n", 1,
                      "conntrack.max: must be between 1 and 16777216");
    config_free(tab, &s);
    assert_file_error("conntrack = { max = 99999999999L; };\n", 1,
                      "conntrack.max: must be between 1 and 16777216");
    config_free(tab, &s);
    assert_file_error("conntrack = { max = -1; };\n", 1,
                      "conntrack.max: must be between 1 and 16777216");
    config_free(tab, &s);
    assert_int_equal(load_text("conntrack = { max = 16777216; };\n"), 0);
    assert_int_equal(s.conn_max, 16777216);
}

static void test_file_enum_error(void **state)
{
    (void)state;
    assert_file_error("\nsync = {\n  level = \"fast\";\n};\n", 3,
                      "sync.level: unknown value 'fast' (choices: full|established|none)");
}

static void test_file_rules_error(void **state)
{
    (void)state;
    assert_file_error("rules = (\n"
                      "  \"allow tcp\",\n"
                      "  \"deny udp\",\n"
                      "  \"allow tcpp to any\"\n"
                      ");\n",
                      4,
                      "rules[2]: unknown protocol 'tcpp' (expected tcp, udp, icmp, icmpv6 or any)");
    config_free(tab, &s);
    /* a string's line is its own even when the next token is on a later line */
    assert_file_error(
        "rules = (\n"
        "  \"allow tcp\",\n"
        "  \"deny udp\"  # comment\n"
        "\n"
        "  // comment\n"
        "  , \"allow bogus\"\n"
        ");\n",
        6, "rules[2]: unknown protocol 'bogus' (expected tcp, udp, icmp, icmpv6 or any)");
    config_free(tab, &s);
    assert_file_error("rules = (\n"
                      "  \"allow tcp\",\n"
                      "  \"deny udp port 5\"  # comment\n"
                      "\n"
                      "  // comment\n"
                      "  , \"allow\"\n"
                      ");\n",
                      3, "rules[1]: 'port' must follow 'from ADDR' or 'to ADDR' (once each)");
    config_free(tab, &s);
    assert_file_error("\nnode = \"a b\"\n\n;\n", 2, "node: must be a word without spaces");
    config_free(tab, &s);
    assert_file_error("rules = [\"allow\", \"allow tcp to any port 443-80\"];\n", 1,
                      "rules[1]: bad port range '443-80': 443 is above 80");
}

static void test_syntax_error(void **state)
{
    char want[256];
    (void)state;
    assert_int_equal(load_text("verbose = true;\n"
                               "conntrack = { max = 5 }\n"
                               "node = ;\n"),
                     -1);
    snprintf(want, sizeof(want), "%s:3: syntax error", path);
    assert_string_equal(err, want);
    config_free(tab, &s);
    assert_int_equal(load_text("\n\n\n\nnode = \"unterminated;\n"), -1);
    snprintf(want, sizeof(want), "%s:", path);
    assert_true(strncmp(err, want, strlen(want)) == 0);
}

static void test_missing_file(void **state)
{
    char p[160], want[256];
    (void)state;
    snprintf(p, sizeof(p), "%s/does-not-exist.cfg", dir);
    assert_int_equal(config_load(tab, &s, p, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", p);
    assert_string_equal(err, want);
}

static void test_include_reports_included_file(void **state)
{
    char inc[160], text[256], want[256];
    (void)state;
    write_conf("inc.cfg", "\nside_a = { iface = 7; };\n");
    snprintf(inc, sizeof(inc), "%s", path);
    snprintf(text, sizeof(text), "verbose = true;\n@include \"%s\"\n", inc);
    assert_int_equal(config_load(tab, &s, write_conf("main.cfg", text), err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:2: side_a.iface: must be a string", inc);
    assert_string_equal(err, want);
}

static void test_validator(void **state)
{
    (void)state;
    assert_file_error("\nnode = \"two words\";\n", 2, "node: must be a word without spaces");
    config_free(tab, &s);

    setenv("TCFG_NODE", "", 1);
    assert_int_equal(load_text("node = \"fine\";\n"), -1);
    assert_string_equal(err, "TCFG_NODE: must be a word without spaces");
    config_free(tab, &s);

    /* the validator sees the final value: a bad file value fixed by env passes */
    setenv("TCFG_NODE", "fw9", 1);
    validated = 0;
    assert_int_equal(load_text("node = \"two words\";\n"), 0);
    assert_string_equal(s.node, "fw9");
    assert_int_equal(validated, 1);
}

static void test_bad_default(void **state)
{
    struct small {
        long n;
        char *str;
    } o;
    static const struct cfg_option bad[] = {
        {"str", NULL, "str", CFG_STRING, "x", offsetof(struct small, str), 0, 0, NULL, NULL, ""},
        {"n", "TCFG_NONE", "n", CFG_INT, "500", offsetof(struct small, n), 1, 100, NULL, NULL,
         "bad default"},
        CFG_END,
    };
    (void)state;
    memset(&s, 0, sizeof(s)); /* not loaded here */
    assert_int_equal(config_load(bad, &o, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "n: bad default '500': must be between 1 and 100");
    config_free(bad, &o);
}

static void test_string_override_frees(void **state)
{
    (void)state;
    /* default, then file, then env: each replaces the last (ASan reports a leak otherwise) */
    setenv("TCFG_IFACE_A", "from-env", 1);
    assert_int_equal(load_text("side_a = { iface = \"from-file\"; };\n"), 0);
    assert_string_equal(s.iface, "from-env");
    config_free(tab, &s);
    assert_null(s.iface);
    assert_null(s.rules.rules);
    config_free(tab, &s); /* twice is fine */
    config_free(tab, NULL);
}

static void test_usage(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    (void)state;
    memset(&s, 0, sizeof(s)); /* not loaded here */
    assert_non_null(f);
    config_usage(tab, f);
    fclose(f);
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++)
        assert_non_null(strstr(buf, envs[i]));
    for (const struct cfg_option *o = tab; o->name != NULL; o++) {
        assert_non_null(strstr(buf, o->name));
        assert_non_null(strstr(buf, o->path));
        assert_non_null(strstr(buf, o->help));
    }
    assert_non_null(strstr(buf, "full|established|none"));
    assert_non_null(strstr(buf, "int 1..16777216"));
    assert_non_null(strstr(buf, "65536"));
    assert_non_null(strstr(buf, "deny tcp to any port 23; allow icmp type 8"));
    /* aligned: the env column starts at the same offset on every line */
    char *line = buf;
    long col = -1;
    while (*line != '\0') {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if (strncmp(line, "  NAME", 6) != 0) {
            char *e = strstr(line, "TCFG_");
            assert_non_null(e);
            if (col < 0)
                col = e - line;
            assert_int_equal(e - line, col);
        }
        line = nl + 1;
    }
    free(buf);
}

static void test_dump(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    (void)state;
    assert_int_equal(load_text("verbose = true;\n"
                               "rules = ( \"allow tcp on a to 10.0.0.0/8 port 80\" );\n"),
                     0);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_dump(tab, &s, f);
    fclose(f);
    assert_string_equal(buf, "verbose = true\n"
                             "conn_max = 65536\n"
                             "iface_a = eth0\n"
                             "sync_level = full\n"
                             "rules = 1 rule\n"
                             "    allow tcp on a to 10.0.0.0/8 port 80\n"
                             "tcp_established = 432000\n"
                             "node = fw1\n"
                             "mac_a = (unset)\n");
    free(buf);
}

/* CPU lists (FW_CPUS): numbers and low-high ranges, comma-separated; anything else refused */
static void test_cpu_list(void **state)
{
    (void)state;
    memset(&s, 0, sizeof(s)); /* nothing loaded: nothing for teardown to free */
    cpu_set_t set;
    assert_int_equal(config_parse_cpus("1", &set, err, sizeof(err)), 0);
    assert_int_equal(CPU_COUNT(&set), 1);
    assert_true(CPU_ISSET(1, &set));
    assert_int_equal(config_parse_cpus("0,2-4,7", &set, err, sizeof(err)), 0);
    assert_int_equal(CPU_COUNT(&set), 5);
    for (int c = 0; c < 8; c++)
        assert_int_equal(CPU_ISSET(c, &set) != 0, c == 0 || (c >= 2 && c <= 4) || c == 7);
    assert_int_equal(config_parse_cpus("3-3", &set, err, sizeof(err)), 0);
    assert_int_equal(CPU_COUNT(&set), 1);

    static const char *const bad[] = {"",        "a",   "1,",    ",1",
                                      "1,,2",    "1-",  "-1",    "2-1",
                                      "1 2",     "0x1", "1-2-3", "99999999999999999999",
                                      "1048576", " 1",  "1 ",    "1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(config_parse_cpus(bad[i], &set, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(config_parse_cpus("2-1", &set, err, sizeof(err)), -1);
    assert_string_equal(err, "'2-1': a CPU range goes low-high");
    /* the last CPU a set holds, and the first it does not */
    assert_int_equal(config_parse_cpus("1023", &set, err, sizeof(err)), 0);
    assert_true(CPU_ISSET(1023, &set));
    assert_int_equal(config_parse_cpus("1022-1023", &set, err, sizeof(err)), 0);
    assert_int_equal(CPU_COUNT(&set), 2);
    assert_int_equal(config_parse_cpus("1024", &set, err, sizeof(err)), -1);
    assert_string_equal(err, "'1024': CPUs are numbered 0..1023 here");
    assert_int_equal(config_parse_cpus("0-1024", &set, err, sizeof(err)), -1);
    assert_string_equal(err, "'0-1024': CPUs are numbered 0..1023 here");

    /* as a validator: "" (no affinity) passes, a bad list is refused */
    const char *v = "";
    assert_int_equal(config_valid_cpus(NULL, &v, err, sizeof(err)), 0);
    v = "0-1";
    assert_int_equal(config_valid_cpus(NULL, &v, err, sizeof(err)), 0);
    v = "0;1";
    assert_int_equal(config_valid_cpus(NULL, &v, err, sizeof(err)), -1);
    assert_string_equal(err, "'0;1': not a CPU list like 0 or 2-3,6");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_file_values),
        T(test_file_partial_keeps_defaults),
        T(test_file_int64_and_array),
        T(test_file_empty_rules),
        T(test_env_overrides_file),
        T(test_env_bool_words),
        T(test_env_int_errors),
        T(test_env_enum_error),
        T(test_env_rules_replace_file),
        T(test_env_rules_error),
        T(test_unknown_setting),
        T(test_wrong_types),
        T(test_file_range),
        T(test_file_enum_error),
        T(test_file_rules_error),
        T(test_syntax_error),
        T(test_missing_file),
        T(test_include_reports_included_file),
        T(test_validator),
        T(test_bad_default),
        T(test_string_override_frees),
        T(test_usage),
        T(test_dump),
        T(test_cpu_list),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
