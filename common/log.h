/* log.h: the one logger of the daemons. Levels, printf-checked, to stderr, plain text or JSON
 * lines. Modeled on OpenSMTPD's log.h: log_warn() appends strerror(errno), log_warnx() does not;
 * fatal() / fatalx() log and exit(1). The level is checked before anything is formatted. */
#ifndef FW_LOG_H
#define FW_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

extern enum log_level log_min_level; /* messages below this level are skipped */

/* ident: the program name printed with every line; json: one JSON object per line. */
void log_init(const char *ident, enum log_level level, bool json);
void log_set_level(enum log_level level);
/* "debug" | "info" | "warn" | "error" -> level; -1 for anything else. */
int log_level_from_name(const char *name);
const char *log_level_name(enum log_level level);

#define FW_PRINTF(f, a) __attribute__((format(printf, f, a)))

void log_msg(enum log_level level, bool with_errno, const char *fmt, ...) FW_PRINTF(3, 4);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_min_level <= LOG_LVL_DEBUG)                                                        \
            log_msg(LOG_LVL_DEBUG, false, __VA_ARGS__);                                            \
    } while (0)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (log_min_level <= LOG_LVL_INFO)                                                         \
            log_msg(LOG_LVL_INFO, false, __VA_ARGS__);                                             \
    } while (0)
#define log_warnx(...)  log_msg(LOG_LVL_WARN, false, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARN, true, __VA_ARGS__)
#define log_errorx(...) log_msg(LOG_LVL_ERROR, false, __VA_ARGS__)

void fatal(const char *fmt, ...) FW_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) FW_PRINTF(1, 2) __attribute__((noreturn));

#endif
