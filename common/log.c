/* log.c: the daemons' logger: levels, plain or JSON lines on stderr, one write() per line. */
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One line never exceeds PIPE_BUF, so a write() of it to a pipe is atomic and lines of processes
 * sharing one stderr never interleave. Longer messages are cut. */
#define LOG_LINE_MAX PIPE_BUF

enum log_level log_min_level = LOG_LVL_INFO;

static struct {
    char ident[32]; /* program name printed on every line */
    bool json;      /* JSON lines instead of plain text */
} logger = {"fw", false};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *ident, enum log_level level, bool json)
{
    if (ident != NULL)
        snprintf(logger.ident, sizeof(logger.ident), "%s", ident);
    logger.json = json;
    log_set_level(level);
}

void log_set_level(enum log_level level)
{
    if (level < LOG_LVL_DEBUG)
        level = LOG_LVL_DEBUG;
    if (level > LOG_LVL_ERROR)
        level = LOG_LVL_ERROR;
    log_min_level = level;
}

int log_level_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = LOG_LVL_DEBUG; i <= LOG_LVL_ERROR; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    if (level < LOG_LVL_DEBUG || level > LOG_LVL_ERROR)
        return "unknown";
    return level_names[level];
}

/* A fixed buffer that is filled up to a limit and silently cuts what does not fit. */
struct lbuf {
    char *p;
    size_t len;   /* bytes used */
    size_t limit; /* bytes that may be used (the rest of the buffer is reserved for the tail) */
};

static void lb_putn(struct lbuf *b, const char *s, size_t n)
{
    if (b->len >= b->limit)
        return;
    if (n > b->limit - b->len)
        n = b->limit - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void lb_puts(struct lbuf *b, const char *s)
{
    lb_putn(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when s does not start one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Appends s as the inside of a JSON string: quotes, backslashes and control characters escaped,
 * invalid UTF-8 replaced by U+FFFD. An escape that does not fit whole is left out. */
static void lb_put_json(struct lbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    char esc[8];

    for (size_t i = 0; i < n;) {
        const char *out = esc;
        size_t outlen = 2, adv = 1;

        esc[0] = '\\';
        switch (u[i]) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (u[i] < 0x20 || u[i] == 0x7f) {
                snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
                outlen = 6;
            } else if ((adv = utf8_len(u + i, n - i)) == 0) {
                out = "\\ufffd";
                outlen = 6;
                adv = 1;
            } else {
                out = s + i;
                outlen = adv;
            }
        }
        if (outlen > b->limit - b->len)
            break;
        lb_putn(b, out, outlen);
        i += adv;
    }
}

/* Appends s with control characters turned into spaces, so a plain record stays one line. */
static void lb_put_plain(struct lbuf *b, const char *s)
{
    for (; *s != '\0' && b->len < b->limit; s++) {
        char c = *s;
        if ((unsigned char)c < 0x20 && c != '\t')
            c = ' ';
        b->p[b->len++] = c;
    }
}

/* Writes all of buf to stderr with as few write() calls as the kernel allows (one, normally). */
static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Formats one record and writes it as a single line. errno is saved first (for with_errno) and
 * restored at the end, so logging never changes the caller's errno. */
static void log_vmsg(enum log_level level, bool with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    char msg[LOG_LINE_MAX], ts[40], num[32], line[LOG_LINE_MAX];
    struct timespec now;
    struct tm tm;
    struct lbuf b = {line, 0, sizeof(line)};

    if (level < log_min_level)
        goto out;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (with_errno) {
        size_t used = strlen(msg);
        snprintf(msg + used, sizeof(msg) - used, ": %s", strerror(saved));
    }

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", now.tv_nsec / 1000000);
    snprintf(num, sizeof(num), "%ld", (long)getpid());

    if (logger.json) {
        b.limit = sizeof(line) - 3; /* room for "}\n */
        lb_puts(&b, "{\"ts\":\"");
        lb_puts(&b, ts);
        lb_puts(&b, "\",\"prog\":\"");
        lb_put_json(&b, logger.ident);
        lb_puts(&b, "\",\"pid\":");
        lb_puts(&b, num);
        lb_puts(&b, ",\"level\":\"");
        lb_puts(&b, log_level_name(level));
        lb_puts(&b, "\",\"msg\":\"");
        lb_put_json(&b, msg);
        b.limit = sizeof(line);
        lb_puts(&b, "\"}\n");
    } else {
        b.limit = sizeof(line) - 1; /* room for \n */
        lb_puts(&b, ts);
        lb_puts(&b, " ");
        lb_put_plain(&b, logger.ident);
        lb_puts(&b, "[");
        lb_puts(&b, num);
        lb_puts(&b, "]: ");
        lb_puts(&b, log_level_name(level));
        lb_puts(&b, ": ");
        lb_put_plain(&b, msg);
        b.limit = sizeof(line);
        lb_puts(&b, "\n");
    }
    write_all(line, b.len);
out:
    errno = saved;
}

void log_msg(enum log_level level, bool with_errno, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, with_errno, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_ERROR, true, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_ERROR, false, fmt, ap);
    va_end(ap);
    exit(1);
}
