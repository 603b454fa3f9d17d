/*
 * err.c - filling an es_err.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int es_errf(es_err *err, int status, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char msg[sizeof err->msg];
    vsnprintf(msg, sizeof msg, fmt, ap); /* fmt args may point into err */
    va_end(ap);
    err->status = status;
    memcpy(err->msg, msg, sizeof msg);
    return -1;
}
