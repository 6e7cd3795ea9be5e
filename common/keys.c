/* keys.c: Redis key names. */
#include <stdio.h>
#include <string.h>

#include "keys.h"

/* snprintf's result as a key length: -1 when it did not fit. */
static int fit(int n, size_t len)
{
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int keys_conn(char *buf, size_t len, const char *proto, const char *a, unsigned pa, const char *b,
              unsigned pb)
{
    int v6 = strchr(a, ':') != NULL;
    return fit(snprintf(buf, len, "fw:conn:%s:%s%s%s:%u:%s%s%s:%u", proto, v6 ? "[" : "", a,
                        v6 ? "]" : "", pa, v6 ? "[" : "", b, v6 ? "]" : "", pb),
               len);
}

int keys_bucket(char *buf, size_t len, unsigned bucket)
{
    return fit(snprintf(buf, len, "fw:bucket:%u", bucket), len);
}

int keys_stats(char *buf, size_t len, const char *node)
{
    return fit(snprintf(buf, len, KEYS_STATS_PREFIX "%s", node), len);
}

int keys_node(char *buf, size_t len, const char *node)
{
    return fit(snprintf(buf, len, "fw:node:%s", node), len);
}
