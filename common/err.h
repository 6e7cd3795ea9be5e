/* err.h: filling a caller's error buffer, the library convention (a return code plus a reason in
 * err, as hiredis's errstr): modules never log, their callers decide. */
#ifndef FW_ERR_H
#define FW_ERR_H

#include <stddef.h>

/* Writes a reason to err (when there is room for one) and returns -1. */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
