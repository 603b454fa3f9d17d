/*
 * cmd_compress.c - `elves compress`: maps the input, runs the library's
 * one-pass container writer into OUT.tmp, and renames it over OUT once it
 * is complete and on disk.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: elves compress [options] IN OUT\n"
    "\n"
    "Compress IN (safetensors, GGUF or any file) into the container OUT.\n"
    "OUT is written as OUT.tmp and renamed when complete.\n"
    "\n"
    "options:\n"
    "  -m, --mode MODE        lossless (default, bit-exact) or elf (F32\n"
    "                         tensors lossy, |error| <= 2^-24)\n"
    "  -t, --threads N        encoder threads (default: all CPUs; 0 = all)\n"
    "  -b, --block-size BYTES decoded bytes per block (default 1M; K/M "
    "suffixes)\n"
    "      --base BASE        delta-code IN against the checkpoint it was\n"
    "                         fine-tuned from (safetensors, GGUF or a\n"
    "                         container of one): each tensor of BASE with\n"
    "                         the same name, dtype and size is XORed with\n"
    "                         IN's, block by block where that is smaller.\n"
    "                         Decoding then needs the same BASE.\n"
    "  -q, --quiet            no summary line\n"
    "  -h, --help             this help\n";

typedef struct compress_args {
    elves_encode_opts opts;
    int quiet;
    const char *in;
    const char *out;
    const char *base; /* --base, or NULL */
} compress_args;

enum { OPT_BASE = 256 };

/* Returns -1 to continue, else the exit status. */
static int parse_args(compress_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {"block-size", required_argument, NULL, 'b'},
        {"quiet", no_argument, NULL, 'q'},
        {"base", required_argument, NULL, OPT_BASE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    elves_encode_opts init = ELVES_ENCODE_OPTS_INIT;
    a->opts = init;
    a->opts.threads = cli_nproc();
    a->quiet = 0;
    a->base = NULL;
    optind = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "m:t:b:qh", longopts, "compress",
                           usage)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm':
            bad = cli_parse_mode(&a->opts.mode, "compress", optarg);
            break;
        case 't':
            bad = cli_parse_threads(&a->opts.threads, "compress", optarg);
            break;
        case 'b':
            bad = cli_parse_block_size(&a->opts.block_size, "compress", optarg);
            break;
        case 'q':
            a->quiet = 1;
            break;
        case OPT_BASE:
            a->base = optarg;
            break;
        case CLI_OPT_HELP:
            return 0;
        default:
            return CLI_EXIT_USAGE;
        }
        if (bad)
            return CLI_EXIT_USAGE;
    }
    if (argc - optind != 2)
        return cli_usage_error("compress", "want IN and OUT (see elves "
                                           "compress --help)");
    a->in = argv[optind];
    a->out = argv[optind + 1];
    return -1;
}

/*
 * The write callback.  Besides writing, it follows the block headers in the
 * stream (magic, then blocks back to back) to know how many input bytes are
 * done, for the progress bar.  Following stops at the first byte that is not
 * a block magic: the index has begun.
 */
typedef struct writer {
    cli_outfile *out;
    cli_progress progress;
    uint64_t raw_done;
    uint64_t skip; /* bytes left of the magic or of a block payload */
    uint8_t hdr[ELVES_BLOCK_HEADER_SIZE];
    size_t hdr_used;
    int tracking;
    int failed; /* the error was printed */
} writer;

static void track_header(writer *w)
{
    if (w->hdr[0] != ELVES_BLOCK_MAGIC) {
        w->tracking = 0;
        return;
    }
    uint32_t raw_len, enc_len;
    memcpy(&raw_len, w->hdr + 4, 4); /* little-endian, as the host */
    memcpy(&enc_len, w->hdr + 8, 4);
    w->raw_done += raw_len;
    w->skip = enc_len;
    w->hdr_used = 0;
    cli_progress_set(&w->progress, w->raw_done);
}

static void track(writer *w, const uint8_t *data, size_t len)
{
    while (w->tracking && len > 0) {
        if (w->skip > 0) {
            size_t n = w->skip < len ? (size_t)w->skip : len;
            w->skip -= n;
            data += n;
            len -= n;
            continue;
        }
        size_t n = ELVES_BLOCK_HEADER_SIZE - w->hdr_used;
        if (n > len)
            n = len;
        memcpy(w->hdr + w->hdr_used, data, n);
        w->hdr_used += n;
        data += n;
        len -= n;
        if (w->hdr_used == ELVES_BLOCK_HEADER_SIZE)
            track_header(w);
    }
}

static int write_cb(void *ctx, const uint8_t *data, size_t len)
{
    writer *w = ctx;
    if (cli_out_write(w->out, data, len) != 0) {
        w->failed = 1;
        return -1;
    }
    if (w->progress.on)
        track(w, data, len);
    return 0;
}

static void print_summary(const compress_args *a, const elves_container *info,
                          uint64_t in_size, uint64_t out_size, double secs)
{
    size_t dedup = 0;
    char delta[64] = "";
    for (size_t i = 0; i < info->nsegments; i++)
        dedup += info->segments[i].dedup_of >= 0;
    if (a->base)
        snprintf(delta, sizeof delta, ", %zu delta-coded", info->ndelta);
    fprintf(stderr,
            "%s -> %s: %llu -> %llu bytes (%.3fx), %s, %s, %zu segments "
            "(%zu deduplicated%s), %.3f s, %.1f MB/s\n",
            a->in, a->out, (unsigned long long)in_size,
            (unsigned long long)out_size,
            out_size ? (double)in_size / (double)out_size : 0.0,
            cli_format_name(info->format), cli_mode_name(info->mode),
            info->nsegments, dedup, delta, secs, cli_mbps(in_size, secs));
}

static int compress_file(const compress_args *a, const cli_map *in)
{
    cli_outfile out;
    if (cli_out_open(&out, a->out) != 0)
        return CLI_EXIT_FAIL;
    writer w = {.out = &out, .skip = 8, .tracking = 1};
    cli_progress_start(&w.progress, "compress", in->len);
    elves_container *info = NULL;
    elves_error err = {0};
    double t0 = cli_now();
    int rc = elves_container_compress(&info, in->data, in->len, &a->opts,
                                      write_cb, &w, &err);
    cli_progress_end(&w.progress);
    if (rc != ELVES_OK) {
        cli_out_abort(&out);
        elves_container_free(info);
        return w.failed ? CLI_EXIT_FAIL : cli_fail_lib(a->in, rc, &err);
    }
    uint64_t out_size = out.written;
    if (cli_out_commit(&out) != 0) {
        cli_out_abort(&out);
        elves_container_free(info);
        return CLI_EXIT_FAIL;
    }
    double secs = cli_now() - t0;
    if (!a->quiet && info)
        print_summary(a, info, in->len, out_size, secs);
    elves_container_free(info);
    return 0;
}

int cmd_compress(int argc, char **argv)
{
    compress_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0)
        return rc;
    cli_map in;
    cli_base base;
    if (a.base && cli_base_open(&base, a.base, a.opts.threads) != 0)
        return CLI_EXIT_FAIL;
    if (a.base)
        a.opts.base = &base.src;
    if (cli_map_open(&in, a.in) != 0) {
        if (a.base)
            cli_base_close(&base);
        return CLI_EXIT_FAIL;
    }
    rc = compress_file(&a, &in);
    cli_map_close(&in);
    if (a.base)
        cli_base_close(&base);
    return rc;
}
