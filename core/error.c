/*
 * error.c - status names and the error-message helper.
 */
#include <stdio.h>

#include "internal.h"

const char *elves_strerror(int code)
{
    switch (code) {
    case ELVES_OK: return "ok";
    case ELVES_E_NOMEM: return "out of memory";
    case ELVES_E_INVALID: return "invalid argument";
    case ELVES_E_FORMAT: return "malformed input";
    case ELVES_E_CORRUPT: return "corrupt data";
    case ELVES_E_RANGE: return "out of range";
    case ELVES_E_UNSUPPORTED: return "unsupported";
    case ELVES_E_BOUND: return "error bound exceeded";
    case ELVES_E_CALLBACK: return "callback failed";
    case ELVES_E_SMALL: return "buffer too small";
    case ELVES_E_BASE: return "base tensor not available";
    default: return "unknown error";
    }
}

int es_fail(elves_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
