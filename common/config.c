/* config.c: table-driven settings from defaults, a libconfig file and the environment. */
#include "config.h"
#include "err.h"

#include <errno.h>
#include <libconfig.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where the current value of a setting came from, for the validator's error message. */
enum cfg_origin { ORIGIN_DEFAULT = 0, ORIGIN_FILE, ORIGIN_ENV };

struct cfg_src {
    enum cfg_origin origin;
    const char *file; /* ORIGIN_FILE: the file (or included file) the value is in */
    int line;         /* ORIGIN_FILE: its line */
};

/* Widest type or default column of config_usage(). */
#define USAGE_COL_MAX 28

static const char *const type_names[] = {"bool", "int", "string", "enum", "rules"};

static void *field(const struct cfg_option *opt, void *obj)
{
    return (char *)obj + opt->offset;
}

static const void *cfield(const struct cfg_option *opt, const void *obj)
{
    return (const char *)obj + opt->offset;
}

/* Writes "a|b|c" (the choices of an enum) to buf. */
static void join_choices(const struct cfg_option *opt, char *buf, size_t len)
{
    size_t pos = 0;

    buf[0] = '\0';
    for (size_t i = 0; opt->choices != NULL && opt->choices[i] != NULL && pos < len; i++) {
        int n = snprintf(buf + pos, len - pos, "%s%s", i ? "|" : "", opt->choices[i]);
        if (n < 0)
            break;
        pos += (size_t)n;
    }
}

/* Index of word in the enum's choices, or -1. */
static int enum_index(const struct cfg_option *opt, const char *word)
{
    for (int i = 0; opt->choices != NULL && opt->choices[i] != NULL; i++)
        if (strcmp(opt->choices[i], word) == 0)
            return i;
    return -1;
}

static int enum_error(const struct cfg_option *opt, const char *word, char *err, size_t errlen)
{
    char choices[512];

    join_choices(opt, choices, sizeof(choices));
    return errf(err, errlen, "unknown value '%s' (choices: %s)", word, choices);
}

static int range_error(const struct cfg_option *opt, char *err, size_t errlen)
{
    return errf(err, errlen, "must be between %ld and %ld", opt->min, opt->max);
}

/* Parses the text form of env vars and defaults into the field: "1"/"yes"/..., decimal, any
 * string, an enum word, or rules separated by ';'. Replaces (and frees) the old value. */
static int parse_text(const struct cfg_option *opt, void *obj, const char *text, char *err,
                      size_t errlen)
{
    void *f = field(opt, obj);

    switch (opt->type) {
    case CFG_BOOL: {
        static const char *const yes[] = {"1", "true", "yes", "on"};
        static const char *const no[] = {"0", "false", "no", "off"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(text, yes[i]) == 0) {
                *(bool *)f = true;
                return 0;
            }
            if (strcasecmp(text, no[i]) == 0) {
                *(bool *)f = false;
                return 0;
            }
        }
        return errf(err, errlen, "not a boolean: '%s' (expected 1/0, true/false, yes/no, on/off)",
                    text);
    }
    case CFG_INT: {
        char *end;
        long v;
        const char *d = text[0] == '-' || text[0] == '+' ? text + 1 : text;
        if (*d < '0' || *d > '9')
            return errf(err, errlen, "not a number: '%s'", text);
        errno = 0;
        v = strtol(text, &end, 10);
        if (*end != '\0')
            return errf(err, errlen, "not a number: '%s'", text);
        if (errno == ERANGE || v < opt->min || v > opt->max)
            return range_error(opt, err, errlen);
        *(long *)f = v;
        return 0;
    }
    case CFG_STRING: {
        char *s = strdup(text);
        if (s == NULL)
            return errf(err, errlen, "out of memory");
        free(*(char **)f);
        *(char **)f = s;
        return 0;
    }
    case CFG_ENUM: {
        int i = enum_index(opt, text);
        if (i < 0)
            return enum_error(opt, text, err, errlen);
        *(int *)f = i;
        return 0;
    }
    case CFG_RULES: {
        struct ruleset rs = {NULL, 0};
        char *copy = strdup(text), *save = NULL, *piece;
        char why[256];
        int no = 0;
        if (copy == NULL)
            return errf(err, errlen, "out of memory");
        for (piece = strtok_r(copy, ";", &save); piece != NULL;
             piece = strtok_r(NULL, ";", &save)) {
            struct rule r;
            if (strspn(piece, " \t\r\n") == strlen(piece))
                continue; /* empty piece */
            no++;
            if (rule_parse(piece, &r, why, sizeof(why)) < 0) {
                errf(err, errlen, "rule %d: %s", no, why);
                goto rules_err;
            }
            if (ruleset_add(&rs, &r) < 0) {
                errf(err, errlen, "out of memory");
                goto rules_err;
            }
        }
        free(copy);
        ruleset_free((struct ruleset *)f);
        *(struct ruleset *)f = rs;
        return 0;
    rules_err:
        free(copy);
        ruleset_free(&rs);
        return -1;
    }
    }
    return errf(err, errlen, "unknown setting type %d", (int)opt->type);
}

/* Sets the default of every option. The fields are overwritten, not freed: obj may hold garbage. */
static int load_defaults(const struct cfg_option *tab, void *obj, char *err, size_t errlen)
{
    char why[512];

    for (const struct cfg_option *opt = tab; opt->name != NULL; opt++) {
        void *f = field(opt, obj);
        switch (opt->type) {
        case CFG_BOOL:
            *(bool *)f = false;
            break;
        case CFG_INT:
            *(long *)f = 0;
            break;
        case CFG_STRING:
            *(char **)f = NULL;
            break;
        case CFG_ENUM:
            *(int *)f = 0;
            break;
        case CFG_RULES:
            ((struct ruleset *)f)->rules = NULL;
            ((struct ruleset *)f)->n = 0;
            break;
        }
    }
    for (const struct cfg_option *opt = tab; opt->name != NULL; opt++) {
        if (opt->def == NULL)
            continue;
        if (parse_text(opt, obj, opt->def, why, sizeof(why)) < 0)
            return errf(err, errlen, "%s: bad default '%s': %s", opt->name, opt->def, why);
    }
    return 0;
}

/* The file a setting is in (the main file or an @include), for error messages. */
static const char *src_file(const config_setting_t *s, const char *file)
{
    const char *f = config_setting_source_file(s);
    return f != NULL ? f : file;
}

/* The line of a setting for an error message. libconfig records a string's line only after it
 * has read the next token (adjacent strings are joined), so "x"<newline>) gets the line of the
 * ')'. When that line starts with such a closing token, the string is on the last line before it
 * that has content. */
static int setting_line(const config_setting_t *s, const char *file)
{
    int line = config_setting_source_line(s), found = line, last = 0, no = 0;
    char *buf = NULL;
    size_t cap = 0;
    FILE *f;

    if (config_setting_type(s) != CONFIG_TYPE_STRING || line <= 1)
        return line;
    f = fopen(src_file(s, file), "r");
    if (f == NULL)
        return line;
    while (getline(&buf, &cap, f) >= 0) {
        const char *p = buf + strspn(buf, " \t\r\n");
        if (++no == line) {
            if (*p != '\0' && strchr(")]};,", *p) != NULL && last > 0)
                found = last;
            break;
        }
        if (*p != '\0' && *p != '#' && strncmp(p, "//", 2) != 0)
            last = no;
    }
    free(buf);
    fclose(f);
    return found;
}

/* Reads a list or array of rule strings from the file into the option's rule set (replacing the
 * defaults). Errors name the element: "FILE:LINE: rules[2]: unknown protocol 'tcpp'". */
static int file_rules(const struct cfg_option *opt, void *obj, const config_setting_t *s,
                      const char *file, char *err, size_t errlen)
{
    struct ruleset rs = {NULL, 0};
    char why[256];
    int n = config_setting_length(s);

    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *text;
        struct rule r;
        int line = setting_line(e, file);

        if (line == 0)
            line = setting_line(s, file);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            errf(err, errlen, "%s:%d: %s[%d]: must be a string", src_file(e, file), line, opt->path,
                 i);
            goto err;
        }
        text = config_setting_get_string(e);
        if (rule_parse(text, &r, why, sizeof(why)) < 0) {
            errf(err, errlen, "%s:%d: %s[%d]: %s", src_file(e, file), line, opt->path, i, why);
            goto err;
        }
        if (ruleset_add(&rs, &r) < 0) {
            errf(err, errlen, "out of memory");
            goto err;
        }
    }
    ruleset_free((struct ruleset *)field(opt, obj));
    *(struct ruleset *)field(opt, obj) = rs;
    return 0;
err:
    ruleset_free(&rs);
    return -1;
}

/* Reads one setting from the file into the field, checking its type and value. */
static int file_value(const struct cfg_option *opt, void *obj, const config_setting_t *s,
                      const char *file, char *err, size_t errlen)
{
    const char *sf = src_file(s, file);
    int line = setting_line(s, file);
    int type = config_setting_type(s);
    char why[512];

    switch (opt->type) {
    case CFG_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return errf(err, errlen, "%s:%d: %s: must be a boolean (true or false)", sf, line,
                        opt->path);
        *(bool *)field(opt, obj) = config_setting_get_bool(s) != 0;
        return 0;
    case CFG_INT: {
        long long v;
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return errf(err, errlen, "%s:%d: %s: must be an integer", sf, line, opt->path);
        v = config_setting_get_int64(s);
        if (v < opt->min || v > opt->max)
            return errf(err, errlen, "%s:%d: %s: must be between %ld and %ld", sf, line, opt->path,
                        opt->min, opt->max);
        *(long *)field(opt, obj) = (long)v;
        return 0;
    }
    case CFG_STRING:
    case CFG_ENUM:
        if (type != CONFIG_TYPE_STRING && opt->type == CFG_ENUM) {
            join_choices(opt, why, sizeof(why));
            return errf(err, errlen, "%s:%d: %s: must be a string (choices: %s)", sf, line,
                        opt->path, why);
        }
        if (type != CONFIG_TYPE_STRING)
            return errf(err, errlen, "%s:%d: %s: must be a string", sf, line, opt->path);
        if (parse_text(opt, obj, config_setting_get_string(s), why, sizeof(why)) < 0)
            return errf(err, errlen, "%s:%d: %s: %s", sf, line, opt->path, why);
        return 0;
    case CFG_RULES:
        if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
            return errf(err, errlen, "%s:%d: %s: must be a list of rule strings", sf, line,
                        opt->path);
        return file_rules(opt, obj, s, file, err, errlen);
    }
    return errf(err, errlen, "%s:%d: %s: unknown setting type", sf, line, opt->path);
}

/* True when path is a known option path, or (prefix) a group leading to one. */
static bool path_known(const struct cfg_option *tab, const char *path, bool prefix)
{
    size_t n = strlen(path);

    for (const struct cfg_option *opt = tab; opt->name != NULL; opt++) {
        if (opt->path == NULL)
            continue;
        if (!prefix && strcmp(opt->path, path) == 0)
            return true;
        if (prefix && strncmp(opt->path, path, n) == 0 && opt->path[n] == '.')
            return true;
    }
    return false;
}

/* Walks the file's tree and fails on the first setting no option names. A known path is not
 * descended into; a group is, when it is a prefix of some option's path. */
static int check_unknown(const struct cfg_option *tab, const config_setting_t *group,
                         const char *prefix, const char *file, char *err, size_t errlen)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char path[512];

        if (name == NULL)
            continue;
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", name);
        if (path_known(tab, path, false))
            continue;
        if (config_setting_is_group(s) && path_known(tab, path, true)) {
            if (check_unknown(tab, s, path, file, err, errlen) < 0)
                return -1;
            continue;
        }
        return errf(err, errlen, "%s:%d: unknown setting '%s'", src_file(s, file),
                    config_setting_source_line(s), path);
    }
    return 0;
}

/* Reads the file into cfg, applies every option found in it, then rejects settings no option
 * knows. src[] records the file and line of each value (pointing into cfg). */
static int load_file(const struct cfg_option *tab, void *obj, struct cfg_src *src, config_t *cfg,
                     const char *file, char *err, size_t errlen)
{
    if (config_read_file(cfg, file) != CONFIG_TRUE) {
        int e = errno;
        if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
            return errf(err, errlen, "%s: cannot read: %s", file, strerror(e));
        return errf(err, errlen, "%s:%d: %s",
                    config_error_file(cfg) != NULL ? config_error_file(cfg) : file,
                    config_error_line(cfg), config_error_text(cfg));
    }
    for (size_t i = 0; tab[i].name != NULL; i++) {
        const config_setting_t *s;
        if (tab[i].path == NULL || (s = config_lookup(cfg, tab[i].path)) == NULL)
            continue;
        if (file_value(&tab[i], obj, s, file, err, errlen) < 0)
            return -1;
        src[i].origin = ORIGIN_FILE;
        src[i].file = src_file(s, file);
        src[i].line = setting_line(s, file);
    }
    return check_unknown(tab, config_root_setting(cfg), "", file, err, errlen);
}

/* Fills obj from the table's defaults, then the file, then the environment, then runs each
 * option's validator on its final value. Fields are initialized without being freed first, so obj
 * must not hold values from an earlier config_load (config_free it first). */
int config_load(const struct cfg_option *tab, void *obj, const char *file, char *err, size_t errlen)
{
    struct cfg_src *src;
    config_t cfg;
    size_t n = 0;
    char why[512];
    int rc = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    while (tab[n].name != NULL)
        n++;
    src = calloc(n + 1, sizeof(*src));
    if (src == NULL)
        return errf(err, errlen, "out of memory");
    config_init(&cfg);

    if (load_defaults(tab, obj, err, errlen) < 0)
        goto out;
    if (file != NULL && load_file(tab, obj, src, &cfg, file, err, errlen) < 0)
        goto out;

    for (size_t i = 0; i < n; i++) {
        const char *v;
        if (tab[i].env == NULL || (v = getenv(tab[i].env)) == NULL)
            continue;
        if (parse_text(&tab[i], obj, v, why, sizeof(why)) < 0) {
            errf(err, errlen, "%s: %s", tab[i].env, why);
            goto out;
        }
        src[i].origin = ORIGIN_ENV;
    }

    for (size_t i = 0; i < n; i++) {
        const struct cfg_option *opt = &tab[i];
        if (opt->validate == NULL)
            continue;
        why[0] = '\0';
        if (opt->validate(opt, field(opt, obj), why, sizeof(why)) == 0)
            continue;
        if (src[i].origin == ORIGIN_ENV)
            errf(err, errlen, "%s: %s", opt->env, why);
        else if (src[i].origin == ORIGIN_FILE)
            errf(err, errlen, "%s:%d: %s: %s", src[i].file != NULL ? src[i].file : file,
                 src[i].line, opt->path, why);
        else
            errf(err, errlen, "%s: %s", opt->name, why);
        goto out;
    }
    rc = 0;
out:
    config_destroy(&cfg);
    free(src);
    return rc;
}

void config_free(const struct cfg_option *tab, void *obj)
{
    if (tab == NULL || obj == NULL)
        return;
    for (const struct cfg_option *opt = tab; opt->name != NULL; opt++) {
        void *f = field(opt, obj);
        if (opt->type == CFG_STRING) {
            free(*(char **)f);
            *(char **)f = NULL;
        } else if (opt->type == CFG_RULES) {
            ruleset_free((struct ruleset *)f);
        }
    }
}

/* The type column of --help: "bool", "int 1..100", "string", "full|established|none", "rules". */
static void type_text(const struct cfg_option *opt, char *buf, size_t len)
{
    if (opt->type == CFG_ENUM)
        join_choices(opt, buf, len);
    else if (opt->type == CFG_INT)
        snprintf(buf, len, "int %ld..%ld", opt->min, opt->max);
    else if ((size_t)opt->type < sizeof(type_names) / sizeof(type_names[0]))
        snprintf(buf, len, "%s", type_names[opt->type]);
    else
        snprintf(buf, len, "?");
}

static const char *or_dash(const char *s)
{
    return s != NULL ? s : "-";
}

static int maxw(int w, const char *s)
{
    int n = (int)strlen(s);
    return n > w ? n : w;
}

/* Prints the table as aligned columns under a header line; the help text ends each line. */
void config_usage(const struct cfg_option *tab, FILE *out)
{
    int wn = 4, we = 3, wp = 4, wt = 4, wd = 7;
    char type[512];

    for (const struct cfg_option *opt = tab; opt->name != NULL; opt++) {
        type_text(opt, type, sizeof(type));
        wn = maxw(wn, opt->name);
        we = maxw(we, or_dash(opt->env));
        wp = maxw(wp, or_dash(opt->path));
        wt = maxw(wt, type);
        wd = maxw(wd, opt->def != NULL && opt->def[0] == '\0' ? "\"\"" : or_dash(opt->def));
    }
    /* a long choice list or default overflows its own line instead of widening every line */
    if (wt > USAGE_COL_MAX)
        wt = USAGE_COL_MAX;
    if (wd > USAGE_COL_MAX)
        wd = USAGE_COL_MAX;
    fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", wn, "NAME", we, "ENV", wp, "PATH", wt,
            "TYPE", wd, "DEFAULT", "DESCRIPTION");
    for (const struct cfg_option *opt = tab; opt->name != NULL; opt++) {
        const char *def = opt->def != NULL && opt->def[0] == '\0' ? "\"\"" : or_dash(opt->def);
        type_text(opt, type, sizeof(type));
        fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", wn, opt->name, we, or_dash(opt->env),
                wp, or_dash(opt->path), wt, type, wd, def, opt->help != NULL ? opt->help : "");
    }
}

/* Prints "name = value" per option; a rule set prints its count, then one rule per line. */
void config_dump(const struct cfg_option *tab, const void *obj, FILE *out)
{
    for (const struct cfg_option *opt = tab; opt->name != NULL; opt++) {
        const void *f = cfield(opt, obj);
        switch (opt->type) {
        case CFG_BOOL:
            fprintf(out, "%s = %s\n", opt->name, *(const bool *)f ? "true" : "false");
            break;
        case CFG_INT:
            fprintf(out, "%s = %ld\n", opt->name, *(const long *)f);
            break;
        case CFG_STRING: {
            const char *s = *(char *const *)f;
            fprintf(out, "%s = %s\n", opt->name, s != NULL ? s : "(unset)");
            break;
        }
        case CFG_ENUM: {
            int i = *(const int *)f, k = 0;
            while (opt->choices != NULL && opt->choices[k] != NULL)
                k++;
            fprintf(out, "%s = %s\n", opt->name, i >= 0 && i < k ? opt->choices[i] : "(invalid)");
            break;
        }
        case CFG_RULES: {
            const struct ruleset *rs = f;
            char text[256];
            fprintf(out, "%s = %zu rule%s\n", opt->name, rs->n, rs->n == 1 ? "" : "s");
            for (size_t i = 0; i < rs->n; i++) {
                rule_format(&rs->rules[i], text, sizeof(text));
                fprintf(out, "    %s\n", text);
            }
            break;
        }
        }
    }
}

int config_valid_pow2(const struct cfg_option *opt, const void *value, char *err, size_t errlen)
{
    long v = *(const long *)value;
    (void)opt;
    if (v & (v - 1))
        return errf(err, errlen, "must be a power of two, not %ld", v);
    return 0;
}

int config_valid_replicas(const struct cfg_option *opt, const void *value, char *err, size_t errlen)
{
    const char *s = *(char *const *)value;
    char *end;
    (void)opt;
    if (s && strcmp(s, "all") == 0)
        return 0;
    long n = s ? strtol(s, &end, 10) : -1;
    if (!s || !*s || *end || n < 0 || n > 64)
        return errf(err, errlen, "must be 'all' or a number 0..64, not '%s'", s ? s : "");
    return 0;
}

int config_parse_cpus(const char *s, cpu_set_t *set, char *err, size_t errlen)
{
    CPU_ZERO(set);
    const char *p = s ? s : "";
    if (!*p)
        return errf(err, errlen, "empty CPU list");
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9')
            return errf(err, errlen, "'%s': not a CPU list like 0 or 2-3,6", s);
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (*end == '-') {
            p = end + 1;
            if (*p < '0' || *p > '9')
                return errf(err, errlen, "'%s': not a CPU list like 0 or 2-3,6", s);
            hi = strtoul(p, &end, 10);
        }
        if (hi >= CPU_SETSIZE)
            return errf(err, errlen, "'%s': CPUs are numbered 0..%d here", s, CPU_SETSIZE - 1);
        if (lo > hi)
            return errf(err, errlen, "'%s': a CPU range goes low-high", s);
        for (unsigned long c = lo; c <= hi; c++)
            CPU_SET(c, set);
        if (!*end)
            return 0;
        if (*end != ',')
            return errf(err, errlen, "'%s': not a CPU list like 0 or 2-3,6", s);
        p = end + 1;
    }
}

int config_valid_cpus(const struct cfg_option *opt, const void *value, char *err, size_t errlen)
{
    const char *s = *(char *const *)value;
    cpu_set_t set;
    (void)opt;
    return !s || !*s ? 0 : config_parse_cpus(s, &set, err, errlen);
}

int config_read_secret(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        return errf(err, errlen, "%s: %s", path, strerror(e));
    }
    if (!fgets(buf, (int)len, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}
