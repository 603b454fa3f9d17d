/*
 * util.c - the clock and random identifiers (util.h).
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
