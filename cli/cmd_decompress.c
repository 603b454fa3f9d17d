/*
 * cmd_decompress.c - `elves decompress`: rebuilds the original file from a
 * container in bounded slices, hashes it on the way out, and only renames
 * OUT.tmp into place when the SHA-256 matches the one in the index, so a
 * damaged container never yields a wrong file.
 */
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: elves decompress [options] IN OUT\n"
    "\n"
    "Restore the original file from the container IN into OUT, checking\n"
    "every block's checksum and the whole file's SHA-256.\n"
    "\n"
    "options:\n"
    "  -t, --threads N   decoder threads (default: all CPUs; 0 = all)\n"
    "      --base BASE   the base a delta-coded container was compressed\n"
    "                    against (elves compress --base)\n"
    "  -q, --quiet       no summary line\n"
    "  -h, --help        this help\n";

typedef struct decompress_args {
    unsigned threads;
    int quiet;
    const char *in;
    const char *out;
    const char *base;
    cli_base *b; /* opened --base, or NULL */
} decompress_args;

enum { OPT_BASE = 256 };

static int parse_args(decompress_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"threads", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"base", required_argument, NULL, OPT_BASE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    a->threads = cli_nproc();
    a->quiet = 0;
    a->base = NULL;
    a->b = NULL;
    optind = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "t:qh", longopts, "decompress",
                           usage)) != -1) {
        if (c == 't') {
            if (cli_parse_threads(&a->threads, "decompress", optarg) != 0)
                return CLI_EXIT_USAGE;
        } else if (c == 'q') {
            a->quiet = 1;
        } else if (c == OPT_BASE) {
            a->base = optarg;
        } else {
            return c == CLI_OPT_HELP ? 0 : CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("decompress", "want IN and OUT (see elves "
                                             "decompress --help)");
    a->in = argv[optind];
    a->out = argv[optind + 1];
    return -1;
}

typedef struct sink_state {
    cli_outfile *out;
    elves_sha256_ctx *sha;
    cli_progress progress;
    int failed; /* the error was printed */
} sink_state;

static int sink(void *ctx, uint64_t raw_offset, const uint8_t *data, size_t len)
{
    sink_state *s = ctx;
    if (elves_sha256_update(s->sha, data, len) != ELVES_OK) {
        s->failed = 1;
        return cli_fail("sha256", "update failed");
    }
    if (cli_out_write(s->out, data, len) != 0) {
        s->failed = 1;
        return CLI_EXIT_FAIL;
    }
    cli_progress_set(&s->progress, raw_offset + len);
    return 0;
}

/* Compares the hash of what was written with the index's. */
static int check_sha(const cli_archive *a, elves_sha256_ctx *sha)
{
    uint8_t got[32];
    if (elves_sha256_final(sha, got) != ELVES_OK)
        return cli_fail(a->path, "sha256 failed");
    if (memcmp(got, a->c->sha256, 32) == 0)
        return 0;
    char want_hex[65], got_hex[65];
    elves_hex(want_hex, a->c->sha256, 32);
    elves_hex(got_hex, got, 32);
    return cli_fail(a->path,
                    "corrupt container: sha256 of the output is %s, "
                    "the index says %s",
                    got_hex, want_hex);
}

/* Decodes everything into out; 0 when the output is complete and right. */
static int decode_all(const decompress_args *da, cli_archive *a,
                      cli_outfile *out)
{
    sink_state s = {.out = out};
    if (elves_sha256_new(&s.sha) != ELVES_OK)
        return cli_fail(da->in, "out of memory");
    const elves_container *c = a->c;
    int rc = ELVES_OK;
    elves_error err = {0};
    cli_slicebuf buf = {0};
    cli_blocks src = {cli_archive_fetch, a, NULL, 0,
                      da->b ? &da->b->src : NULL};
    cli_progress_start(&s.progress, "decompress", c->file_size);
    if (c->file_size > 0)
        rc = cli_decode_slices(c, 0, c->file_size - 1, &src, da->threads, &buf,
                               sink, &s, &err);
    cli_progress_end(&s.progress);
    cli_slicebuf_free(&buf);
    int status = 0;
    if (rc == ELVES_E_CALLBACK && s.failed)
        status = CLI_EXIT_FAIL;
    else if (rc != ELVES_OK)
        status = cli_fail_lib(da->in, rc, &err);
    else
        status = check_sha(a, s.sha);
    elves_sha256_free(s.sha);
    return status;
}

int cmd_decompress(int argc, char **argv)
{
    decompress_args da;
    int rc = parse_args(&da, argc, argv);
    if (rc >= 0)
        return rc;
    cli_archive a;
    cli_base base;
    if (cli_archive_open(&a, da.in) != 0)
        return CLI_EXIT_FAIL;
    if (da.base && cli_base_open(&base, da.base, da.threads) != 0) {
        cli_archive_close(&a);
        return CLI_EXIT_FAIL;
    }
    da.b = da.base ? &base : NULL;
    if (cli_base_check(&a, da.b) != 0) {
        if (da.b)
            cli_base_close(da.b);
        cli_archive_close(&a);
        return CLI_EXIT_FAIL;
    }
    cli_outfile out;
    double t0 = cli_now();
    rc = cli_out_open(&out, da.out);
    if (rc == 0)
        rc = decode_all(&da, &a, &out);
    if (rc == 0)
        rc = cli_out_commit(&out);
    if (rc != 0)
        cli_out_abort(&out);
    double secs = cli_now() - t0;
    if (rc == 0 && !da.quiet)
        fprintf(stderr,
                "%s -> %s: %llu bytes, sha256 verified, %.3f s, "
                "%.1f MB/s\n",
                da.in, da.out, (unsigned long long)a.c->file_size, secs,
                cli_mbps(a.c->file_size, secs));
    if (da.b)
        cli_base_close(da.b);
    cli_archive_close(&a);
    return rc;
}
