/*
 * util.c - the program's error messages, option parsing and clock: the
 * small helpers every command shares so messages and option syntax are the
 * same everywhere.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- errors ------------------------------------------------------------- */

/* Writes "elves: what: reason" as exactly one line. */
static void vreport(const char *what, const char *fmt, va_list ap)
{
    char reason[512];
    vsnprintf(reason, sizeof reason, fmt, ap);
    for (char *p = reason; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fflush(stdout);
    if (what && *what)
        fprintf(stderr, "elves: %s: %s\n", what, reason);
    else
        fprintf(stderr, "elves: %s\n", reason);
}

int cli_fail(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(what, fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(what, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_fail_errno(const char *what, const char *action)
{
    return cli_fail(what, "%s: %s", action, strerror(errno));
}

int cli_fail_lib(const char *what, int code, const elves_error *err)
{
    if (err && err->code != 0 && err->msg[0])
        return cli_fail(what, "%s: %s", elves_strerror(code), err->msg);
    return cli_fail(what, "%s", elves_strerror(code));
}

/* ---- options ------------------------------------------------------------ */

int cli_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *cmd,
               const char *usage)
{
    char spec[64];
    snprintf(spec, sizeof spec, ":%s", shortopts);
    opterr = 0;
    int c = getopt_long(argc, argv, spec, longopts, NULL);
    if (c == 'h') {
        fputs(usage, stdout);
        return CLI_OPT_HELP;
    }
    if (c == '?' || c == ':') {
        char opt[64];
        if (c == '?' && optopt)
            snprintf(opt, sizeof opt, "-%c", optopt);
        else
            snprintf(opt, sizeof opt, "%s", argv[optind - 1]);
        if (c == '?')
            cli_usage_error(cmd, "unknown option '%s' (see elves %s --help)",
                            opt, cmd);
        else
            cli_usage_error(cmd, "option '%s' needs a value", opt);
        return CLI_OPT_ERROR;
    }
    return c;
}

int cli_parse_size(uint64_t *out, const char *s)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift) {
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
    }
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

unsigned cli_nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : (unsigned)n;
}

int cli_parse_threads(unsigned *out, const char *cmd, const char *s)
{
    uint64_t v;
    if (cli_parse_size(&v, s) != 0 || v > 1024) {
        cli_usage_error(cmd, "bad --threads '%s': want 0 (all CPUs) to 1024",
                        s);
        return -1;
    }
    *out = v == 0 ? cli_nproc() : (unsigned)v;
    return 0;
}

int cli_parse_block_size(uint32_t *out, const char *cmd, const char *s)
{
    uint64_t v;
    if (cli_parse_size(&v, s) != 0 || v < 64 || v > ELVES_MAX_BLOCK_SIZE ||
        v % 64 != 0) {
        cli_usage_error(cmd,
                        "bad --block-size '%s': want a multiple of 64 from "
                        "64 to %u bytes",
                        s, (unsigned)ELVES_MAX_BLOCK_SIZE);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_mode(elves_mode *out, const char *cmd, const char *s)
{
    if (strcmp(s, "lossless") == 0) {
        *out = ELVES_MODE_LOSSLESS;
        return 0;
    }
    if (strcmp(s, "elf") == 0) {
        *out = ELVES_MODE_ELF;
        return 0;
    }
    cli_usage_error(cmd, "bad --mode '%s': want lossless or elf", s);
    return -1;
}

const char *cli_mode_name(elves_mode m)
{
    return m == ELVES_MODE_ELF ? "elf" : "lossless";
}

const char *cli_format_name(elves_format f)
{
    switch (f) {
    case ELVES_FMT_SAFETENSORS:
        return "safetensors";
    case ELVES_FMT_GGUF:
        return "gguf";
    default:
        return "opaque";
    }
}

/* ---- time --------------------------------------------------------------- */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double cli_mbps(uint64_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / 1e6 / seconds : 0.0;
}
