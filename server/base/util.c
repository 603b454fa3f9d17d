/*
 * util.c - the clock, random identifiers and hex digits (util.h).
 */
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "elves.h"

int64_t es_now(void)
{
    return (int64_t)time(NULL);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int es_unhex(uint8_t *out, const char *hex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[2 * n] == '\0' ? 0 : -1;
}

int es_random_hex(char *out, size_t nbytes, es_err *err)
{
    uint8_t buf[64];
    if (nbytes > sizeof buf)
        return es_errf(err, 500, "random: too many bytes");
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(buf + got, nbytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return es_errf(err, 500, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    elves_hex(out, buf, nbytes);
    return 0;
}
