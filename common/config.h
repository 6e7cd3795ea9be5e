/* config.h: table-driven configuration.
 *
 * Every setting is one row: name, environment variable, libconfig path, type, default, validator
 * and help text. The same table fills a settings struct from defaults, then a libconfig file, then
 * the environment (env overrides file), prints --help, and checks a file for -t. The only module
 * that includes libconfig.h. */
#ifndef FW_CONFIG_H
#define FW_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rule.h"

enum cfg_type {
    CFG_BOOL,   /* bool; file: true/false; env: 1/0, true/false, yes/no, on/off */
    CFG_INT,    /* long, within [min, max] */
    CFG_STRING, /* char * (malloc'd, freed by config_free) */
    CFG_ENUM,   /* int: index into choices[] (NULL-terminated); file and env give the word */
    CFG_RULES,  /* struct ruleset; file: a list of rule strings; env: rules separated by ';' */
};

struct cfg_option;

/* Extra check after parsing. Returns 0, or -1 with a reason in err. */
typedef int (*cfg_validator)(const struct cfg_option *opt, const void *value, char *err,
                             size_t errlen);

struct cfg_option {
    const char *name; /* as printed by --help, e.g. "conn_max" */
    const char *env;  /* e.g. "FW_CONN_MAX" */
    const char *path; /* libconfig path, e.g. "conntrack.max" */
    enum cfg_type type;
    const char *def;            /* default, in the text form the env var takes; NULL: none */
    size_t offset;              /* offsetof() the field in the settings struct */
    long min, max;              /* CFG_INT bounds */
    const char *const *choices; /* CFG_ENUM words */
    cfg_validator validate;     /* optional */
    const char *help;           /* one line */
};

/* End a table with CFG_END. */
#define CFG_END                                                                                    \
    {                                                                                              \
        NULL                                                                                       \
    }

/* Fills obj from the defaults, then file (may be NULL), then the environment.
 * Returns 0, or -1 with err set to "FILE:LINE: reason" for a file error or "FW_X: reason" for an
 * env error. Unknown keys in the file are errors ("FILE:LINE: unknown setting 'x'"). On error obj
 * may be partly filled; config_free() it anyway. */
int config_load(const struct cfg_option *tab, void *obj, const char *file, char *err,
                size_t errlen);

/* Frees the strings and rule sets config_load allocated in obj. */
void config_free(const struct cfg_option *tab, void *obj);

/* Prints one line per setting: name, env var, file path, type/choices, default and help. */
void config_usage(const struct cfg_option *tab, FILE *out);

/* Prints the effective value of every setting (for logs and -t -v). */
void config_dump(const struct cfg_option *tab, const void *obj, FILE *out);

/* Validators shared by the daemons' tables: a CFG_INT that is a power of two; a CFG_STRING that
 * is "all" or a count 0..64 (required replicas). */
int config_valid_pow2(const struct cfg_option *opt, const void *value, char *err, size_t errlen);
int config_valid_replicas(const struct cfg_option *opt, const void *value, char *err,
                          size_t errlen);

/* Parses a CPU list ("0", "2-3,6": numbers and low-high ranges, comma-separated) into set.
 * Returns 0, or -1 with err set. config_valid_cpus: a CFG_STRING that is "" or such a list. */
int config_parse_cpus(const char *s, cpu_set_t *set, char *err, size_t errlen);
int config_valid_cpus(const struct cfg_option *opt, const void *value, char *err, size_t errlen);

/* Reads the first line of a secret file (a password) into buf, without its line end.
 * Returns 0 or -1 with err set. */
int config_read_secret(const char *path, char *buf, size_t len, char *err, size_t errlen);

#endif
