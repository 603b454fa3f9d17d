/*
 * cmd_cat.c - `elves cat --range A-B`: writes a byte range of the original
 * file to stdout, decoding only the blocks that cover it.  Ranges follow
 * HTTP: "A-B" inclusive, "A-" to the end, "-N" the last N bytes; an end
 * past the file is clamped, a start past it is an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: elves cat --range RANGE [options] IN\n"
    "\n"
    "Write bytes of the original file stored in the container IN to stdout,\n"
    "decoding only the blocks that cover them.\n"
    "\n"
    "RANGE (byte offsets, inclusive, as in HTTP Range):\n"
    "  A-B    bytes A to B (B past the end is clamped)\n"
    "  A-     from A to the end\n"
    "  -N     the last N bytes\n"
    "\n"
    "options:\n"
    "  -r, --range RANGE   the bytes to write (required)\n"
    "  -t, --threads N     decoder threads (default: all CPUs; 0 = all)\n"
    "      --base BASE     the base a delta-coded container was compressed\n"
    "                      against (elves compress --base)\n"
    "  -h, --help          this help\n";

typedef struct cat_args {
    const char *range;
    unsigned threads;
    const char *in;
    const char *base;
} cat_args;

enum { OPT_BASE = 256 };

static int parse_args(cat_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"range", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"base", required_argument, NULL, OPT_BASE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    a->range = NULL;
    a->base = NULL;
    a->threads = cli_nproc();
    optind = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "r:t:h", longopts, "cat", usage)) !=
           -1) {
        if (c == 'r')
            a->range = optarg;
        else if (c == OPT_BASE)
            a->base = optarg;
        else if (c == 't') {
            if (cli_parse_threads(&a->threads, "cat", optarg) != 0)
                return CLI_EXIT_USAGE;
        } else
            return c == CLI_OPT_HELP ? 0 : CLI_EXIT_USAGE;
    }
    if (!a->range)
        return cli_usage_error("cat", "--range is required (see elves cat "
                                      "--help)");
    if (argc - optind != 1)
        return cli_usage_error("cat", "want one container IN (see elves cat "
                                      "--help)");
    a->in = argv[optind];
    return -1;
}

/* Decimal digits only, no sign or blanks; [s, end). */
static int parse_offset(uint64_t *out, const char *s, const char *end)
{
    if (s == end || end - s > 20)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Resolves RANGE against a file of `size` bytes into [*first, *last]. */
static int resolve_range(uint64_t *first, uint64_t *last, const char *range,
                         uint64_t size)
{
    const char *dash = strchr(range, '-');
    const char *end = range + strlen(range);
    if (!dash)
        return cli_usage_error("cat", "bad range '%s': want A-B, A- or -N",
                               range);
    uint64_t a, b;
    if (dash == range) { /* -N: the last N bytes */
        if (parse_offset(&b, dash + 1, end) != 0 || b == 0)
            return cli_usage_error("cat", "bad range '%s': want -N with N > 0",
                                   range);
        if (size == 0)
            return cli_fail("cat", "bad range '%s': the file is empty", range);
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 0;
    }
    if (parse_offset(&a, range, dash) != 0)
        return cli_usage_error("cat", "bad range '%s': want A-B, A- or -N",
                               range);
    if (dash + 1 == end)
        b = UINT64_MAX; /* A-: to the end */
    else if (parse_offset(&b, dash + 1, end) != 0)
        return cli_usage_error("cat", "bad range '%s': want A-B, A- or -N",
                               range);
    if (b < a)
        return cli_fail("cat",
                        "bad range '%s': end %llu is before start "
                        "%llu",
                        range, (unsigned long long)b, (unsigned long long)a);
    if (a >= size)
        return cli_fail("cat",
                        "bad range '%s': starts past the end of the "
                        "file (%llu bytes)",
                        range, (unsigned long long)size);
    *first = a;
    *last = b >= size ? size - 1 : b;
    return 0;
}

typedef struct stdout_sink {
    int failed; /* the error was printed */
} stdout_sink;

static int to_stdout(void *ctx, uint64_t raw_offset, const uint8_t *data,
                     size_t len)
{
    stdout_sink *s = ctx;
    if (cli_write_full(STDOUT_FILENO, data, len) != 0) {
        s->failed = 1;
        return cli_fail_errno("cat", "write to stdout");
    }
    return 0;
}

int cmd_cat(int argc, char **argv)
{
    cat_args ca;
    int rc = parse_args(&ca, argc, argv);
    if (rc >= 0)
        return rc;
    cli_archive a;
    cli_base base, *b = ca.base ? &base : NULL;
    if (cli_archive_open(&a, ca.in) != 0)
        return CLI_EXIT_FAIL;
    if (b && cli_base_open(b, ca.base, ca.threads) != 0) {
        cli_archive_close(&a);
        return CLI_EXIT_FAIL;
    }
    uint64_t first = 0, last = 0;
    rc = cli_base_check(&a, b);
    if (rc == 0)
        rc = resolve_range(&first, &last, ca.range, a.c->file_size);
    if (rc == 0) {
        cli_slicebuf buf = {0};
        stdout_sink s = {0};
        elves_error err = {0};
        cli_blocks src = {cli_archive_fetch, &a, NULL, 0, b ? &b->src : NULL};
        int lrc = cli_decode_slices(a.c, first, last, &src, ca.threads, &buf,
                                    to_stdout, &s, &err);
        cli_slicebuf_free(&buf);
        if (lrc == ELVES_E_CALLBACK && s.failed)
            rc = CLI_EXIT_FAIL;
        else if (lrc != ELVES_OK)
            rc = cli_fail_lib(ca.in, lrc, &err);
    }
    if (b)
        cli_base_close(b);
    cli_archive_close(&a);
    return rc;
}
