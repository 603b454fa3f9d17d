/*
 * cmd_bench.c - `elves bench`: runs the measurements of bench_run.c on each
 * file and reports them per file and in total, as three aligned tables
 * (ratio, speed, float tensors) with a footer defining every column, or as
 * one JSON document.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const char usage[] =
    "usage: elves bench [options] FILE...\n"
    "\n"
    "Measure ratio and encode/decode speed of elves lossless and elf modes\n"
    "on one thread and on N threads, beside zstd -3 and zstd -19 on the same\n"
    "bytes in the same process, against the order-0 entropy bounds, and the\n"
    "largest ELF error over all F32 values.\n"
    "\n"
    "options:\n"
    "  -j, --json             one JSON document on stdout\n"
    "  -t, --threads N        threads of the N-thread runs (default: all "
    "CPUs)\n"
    "  -b, --block-size BYTES decoded bytes per block (default 1M)\n"
    "      --base BASE        a model family instead: each FILE is a\n"
    "                         fine-tune of BASE; prints, per member, lossless\n"
    "                         alone, delta-coded against BASE, the order-0\n"
    "                         bound of the XOR planes and zstd -19 --long=27\n"
    "                         with BASE in its window, and one-thread speeds\n"
    "  -h, --help             this help\n";

typedef struct bench_args {
    int json;
    bench_opts opts;
    int nfiles;
    char **files;
    const char *base;
} bench_args;

enum { OPT_BASE = 256 };

static int parse_args(bench_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},
        {"block-size", required_argument, NULL, 'b'},
        {"base", required_argument, NULL, OPT_BASE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    a->json = 0;
    a->base = NULL;
    a->opts.threads = cli_nproc();
    a->opts.block_size = 0;
    optind = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "jt:b:h", longopts, "bench", usage)) !=
           -1) {
        int bad = 0;
        if (c == 'j')
            a->json = 1;
        else if (c == 't')
            bad = cli_parse_threads(&a->opts.threads, "bench", optarg);
        else if (c == 'b')
            bad = cli_parse_block_size(&a->opts.block_size, "bench", optarg);
        else if (c == OPT_BASE)
            a->base = optarg;
        else
            return c == CLI_OPT_HELP ? 0 : CLI_EXIT_USAGE;
        if (bad)
            return CLI_EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage_error("bench", "want at least one FILE (see elves "
                                        "bench --help)");
    a->nfiles = argc - optind;
    a->files = argv + optind;
    return -1;
}

/* ---- derived numbers ---------------------------------------------------- */

static double ratio(double raw, double stored)
{
    return stored > 0 ? raw / stored : 0.0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static uint32_t block_size_of(const bench_args *a)
{
    return a->opts.block_size ? a->opts.block_size : ELVES_DEFAULT_BLOCK_SIZE;
}

/* ---- text ---------------------------------------------------------------- */

/* A ratio cell, or "-" when there was nothing to compress. */
static void ratio_cell(cli_table *t, double raw, double stored)
{
    if (raw > 0 && stored > 0)
        cli_table_cell(t, "%.3f", raw / stored);
    else
        cli_table_cell(t, "-");
}

static void percent_cell(cli_table *t, double num, double den)
{
    if (num > 0 && den > 0)
        cli_table_cell(t, "%.1f%%", 100.0 * num / den);
    else
        cli_table_cell(t, "-");
}

static void mbps_cell(cli_table *t, uint64_t bytes, double secs)
{
    if (bytes > 0 && secs > 0)
        cli_table_cell(t, "%.1f", cli_mbps(bytes, secs));
    else
        cli_table_cell(t, "-");
}

/* How many times faster `ours` is than `theirs` on the same bytes. */
static void speedup_cell(cli_table *t, double theirs, double ours)
{
    if (theirs > 0 && ours > 0)
        cli_table_cell(t, "%.2fx", theirs / ours);
    else
        cli_table_cell(t, "-");
}

static void ratio_row(cli_table *t, const char *name, const bench_file *f)
{
    double ll = ratio((double)f->bytes, (double)f->ll.stored);
    double z19 = ratio((double)f->z19.in, (double)f->z19.out);
    cli_table_cell(t, "%s", name);
    cli_table_cell(t, "%.2f", (double)f->bytes / 1e6);
    ratio_cell(t, (double)f->z3.in, (double)f->z3.out);
    if (f->z19.in < f->bytes)
        cli_table_cell(t, "%.3f*", z19);
    else
        ratio_cell(t, (double)f->z19.in, (double)f->z19.out);
    ratio_cell(t, (double)f->bytes, (double)f->ll.stored);
    ratio_cell(t, (double)f->bytes, f->bound);
    percent_cell(t, f->bound, (double)f->ll.stored);
    percent_cell(t, ll, z19);
    ratio_cell(t, (double)f->bytes, (double)f->elf.stored);
}

static void speed_row(cli_table *t, const char *name, const bench_file *f)
{
    cli_table_cell(t, "%s", name);
    mbps_cell(t, f->z3.in, f->z3.enc);
    mbps_cell(t, f->z3.in, f->z3.dec);
    mbps_cell(t, f->z19.in, f->z19.enc);
    mbps_cell(t, f->z19.in, f->z19.dec);
    const bench_elves *modes[2] = {&f->ll, &f->elf};
    for (int m = 0; m < 2; m++) {
        for (int k = 0; k < 2; k++)
            mbps_cell(t, f->bytes, modes[m]->enc[k]);
        if (m == 0)
            mbps_cell(t, f->bytes, f->ll_given_enc);
        if (m == 0)
            mbps_cell(t, f->bytes, f->ll_codec_enc);
        for (int k = 0; k < 2; k++)
            mbps_cell(t, f->bytes, modes[m]->dec[k]);
    }
    /* Single-thread lossless against zstd -3, per byte of the same input:
     * the full container figure (the official one), then codec only. */
    speedup_cell(t, f->z3.enc, f->ll.enc[0]);
    speedup_cell(t, f->z3.enc, f->ll_given_enc);
    speedup_cell(t, f->z3.dec, f->ll.dec[0]);
    speedup_cell(t, f->z3.enc, f->ll_codec_enc);
}

static void float_row(cli_table *t, const char *name, const bench_file *f)
{
    cli_table_cell(t, "%s", name);
    cli_table_cell(t, "%.2f", (double)f->float_raw / 1e6);
    ratio_cell(t, (double)f->float_raw, (double)f->float_stored);
    ratio_cell(t, (double)f->float_raw, f->float_bound);
    percent_cell(t, f->float_bound, (double)f->float_stored);
    cli_table_cell(t, "%.2f", (double)f->f32_raw / 1e6);
    ratio_cell(t, (double)f->f32_raw, (double)f->f32_stored);
    ratio_cell(t, (double)f->f32_raw, f->f32_plane_bound);
    percent_cell(t, f->f32_plane_bound, (double)f->f32_stored);
    ratio_cell(t, (double)f->f32_raw, f->f32_huffman_floor);
    percent_cell(t, f->f32_huffman_floor, (double)f->f32_stored);
    if (f->f32_values)
        cli_table_cell(t, "%.3g", f->max_abs_err);
    else
        cli_table_cell(t, "-");
    cli_table_cell(t, "%llu", (unsigned long long)f->f32_over_bound);
}

typedef void (*row_fn)(cli_table *t, const char *name, const bench_file *f);

static void print_table(const char *title, const char *align,
                        const char *const *hdr, row_fn row,
                        const bench_file *files, int n, const bench_file *total)
{
    printf("%s\n", title);
    cli_table *t = cli_table_new(align, hdr);
    for (int i = 0; i < n; i++)
        row(t, base_name(files[i].path), &files[i]);
    cli_table_rule(t);
    row(t, "TOTAL", total);
    cli_table_print(t, stdout);
    cli_table_free(t);
    printf("\n");
}

static const char footer[] =
    "Definitions\n"
    "  ratio      original bytes / compressed bytes (elves: the whole "
    "container, index included;\n"
    "             zstd: one frame).  TOTAL rows sum bytes and times over "
    "the files.\n"
    "  zstd-19*   files over 64 MiB: level 19 measured on the first 64 MiB "
    "only (ratio and speed).\n"
    "  bound      order-0 entropy bound: the lossless container with the "
    "stored bytes of each\n"
    "             unique float tensor (F16/BF16/F32/F64) replaced by "
    "n x H(sign+exponent symbol)/8\n"
    "             + mantissa bits raw (elves_entropy_bound); headers, "
    "integer tensors, duplicates\n"
    "             and the index at their real compressed size.  "
    "ll/bound = bound bytes / lossless bytes.\n"
    "             Tensors coded together in a unit are bounded one by one "
    "(the stricter figure).\n"
    "  ll/z19     lossless ratio / zstd-19 ratio.\n"
    "  MB/s       10^6 bytes of the original file per second, CLOCK_MONOTONIC, "
    "one thread unless NT.\n"
    "             Every side (zstd and elves, encode and decode) is timed the "
    "same way: output\n"
    "             buffers preallocated and pre-touched (memset) before timing, "
    "one untimed warm-up\n"
    "             run, then the best of N timed runs, N >= 3 (>= 2 for files "
    "over 64 MiB) and more\n"
    "             until the timed runs add up to 0.3 s, at most 20.\n"
    "  ll/el enc  elves_container_compress of the whole file into memory: "
    "parse and segmentation,\n"
    "             codec choice per tensor or unit of small tensors, block "
    "encoding with block\n"
    "             checksums (xxHash), per-tensor"
    " fingerprints and dedup, SHA-256 of the\n"
    "             file, index and container writing.\n"
    "  ll enc*    the same container (checked byte for byte) with the file's "
    "SHA-256 given by\n"
    "             the caller (elves_encode_opts.sha256, hashed outside the "
    "timing), as by a\n"
    "             caller that hashed the file while receiving it: all of ll "
    "enc but SHA-256.\n"
    "  ll codec   NOT the official figure: elves_encode_segment on one thread "
    "over the unique\n"
    "             units of the lossless container (codec choice, block "
    "encoding, block checksums;\n"
    "             no parse, fingerprints, dedup, SHA-256 or index), MB/s of "
    "the whole file.\n"
    "  dec        elves_decode_range_mem over the whole file in 64 MiB slices: "
    "blocks decoded\n"
    "             where they lie in the container in memory, as zstd decodes "
    "its frame (block\n"
    "             checksums checked).\n"
    "  z3/z19     one-shot ZSTD_compress / ZSTD_decompress only (one thread, "
    "its own context).\n"
    "  ll/z3      lossless 1T container speed / zstd-3 speed: the official "
    "comparison.\n"
    "  ll*/z3     lossless 1T container speed with the SHA-256 given / zstd-3 "
    "encode speed.\n"
    "  codec/z3   lossless 1T codec-only encode speed / zstd-3 encode speed "
    "(for reference).\n"
    "  float      unique float tensors: lossless ratio, order-0 bound ratio, "
    "% = bound / stored.\n"
    "  F32 elf    unique F32 tensors in elf mode: ratio, and the order-0 "
    "entropy of the three byte\n"
    "             planes of the ELF words (elves_elf_entropy_bound, outliers "
    "at 8 bytes).\n"
    "  huf floor  the same with each plane of each tensor in its optimal "
    "Huffman code (no table,\n"
    "             no length limit) or raw if smaller: the best any per-plane "
    "Huffman coder can do.\n"
    "  max |err|  largest |decoded - original| over every F32 value of the "
    "elf container;\n"
    "             >2^-24 counts values outside the ELF bound (must be 0).  "
    "Round trips are checked\n"
    "             outside the timings: lossless bit-exact, elf bit-exact "
    "outside F32 tensors.\n";

static void print_text(const bench_args *a, const bench_file *files,
                       const bench_file *total)
{
    char nt[16];
    snprintf(nt, sizeof nt, "%uT", a->opts.threads);
    printf("elves bench: %d file(s), %.2f MB, 1 and %u threads, block size "
           "%u\n\n",
           a->nfiles, (double)total->bytes / 1e6, a->opts.threads,
           block_size_of(a));
    static const char *const ratio_hdr[] = {"file",     "MB",       "zstd-3",
                                            "zstd-19",  "lossless", "bound",
                                            "ll/bound", "ll/z19",   "elf"};
    print_table("Ratio", "lrrrrrrrr", ratio_hdr, ratio_row, files, a->nfiles,
                total);
    char h[8][48];
    const char *what[4] = {"ll enc", "ll dec", "elf enc", "elf dec"};
    for (int i = 0; i < 4; i++) {
        snprintf(h[2 * i], sizeof h[0], "%s 1T", what[i]);
        snprintf(h[2 * i + 1], sizeof h[0], "%s %s", what[i], nt);
    }
    const char *speed_hdr[] = {
        "file",        "z3 enc",      "z3 dec",    "z19 enc",   "z19 dec",
        h[0],          h[1],          "ll enc* 1T", "ll codec 1T", h[2],
        h[3],          h[4],          h[5],        h[6],        h[7],
        "ll/z3 enc",   "ll*/z3 enc",  "ll/z3 dec", "codec/z3 enc"};
    print_table("Speed (MB/s)", "lrrrrrrrrrrrrrrrrrr", speed_hdr, speed_row,
                files, a->nfiles, total);
    static const char *const float_hdr[] = {
        "file",      "float MB",  "float ll",    "float bound", "ll/bound",
        "F32 MB",    "F32 elf",   "plane bound", "elf/bound",   "huf floor",
        "elf/floor", "max |err|", ">2^-24"};
    print_table("Float tensors (lossless) and F32 tensors (elf)",
                "lrrrrrrrrrrrr", float_hdr, float_row, files, a->nfiles, total);
    fputs(footer, stdout);
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *num(double v)
{
    return json_real(v);
}

static json_t *zstd_json(const bench_zstd *z, uint64_t bytes)
{
    return json_pack("{s:I, s:I, s:o, s:o, s:o, s:b}", "bytes_in",
                     (json_int_t)z->in, "bytes_out", (json_int_t)z->out,
                     "ratio", num(ratio((double)z->in, (double)z->out)),
                     "enc_mbps", num(cli_mbps(z->in, z->enc)), "dec_mbps",
                     num(cli_mbps(z->in, z->dec)), "prefix_only",
                     z->in < bytes);
}

static json_t *elves_json(const bench_elves *e, uint64_t bytes)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "bytes_out",
                     (json_int_t)e->stored, "ratio",
                     num(ratio((double)bytes, (double)e->stored)),
                     "enc_mbps_1t", num(cli_mbps(bytes, e->enc[0])),
                     "enc_mbps_nt", num(cli_mbps(bytes, e->enc[1])),
                     "dec_mbps_1t", num(cli_mbps(bytes, e->dec[0])),
                     "dec_mbps_nt", num(cli_mbps(bytes, e->dec[1])));
}

static json_t *file_json(const char *name, const bench_file *f)
{
    json_t *o = json_pack(
        "{s:s, s:I, s:o, s:o, s:o, s:o}", "file", name, "bytes",
        (json_int_t)f->bytes, "zstd3", zstd_json(&f->z3, f->bytes), "zstd19",
        zstd_json(&f->z19, f->bytes), "lossless", elves_json(&f->ll, f->bytes),
        "elf", elves_json(&f->elf, f->bytes));
    json_object_set_new(json_object_get(o, "lossless"),
                        "codec_only_enc_mbps_1t",
                        num(cli_mbps(f->bytes, f->ll_codec_enc)));
    json_object_set_new(json_object_get(o, "lossless"),
                        "sha_given_enc_mbps_1t",
                        num(cli_mbps(f->bytes, f->ll_given_enc)));
    json_object_set_new(json_object_get(o, "lossless"), "bound",
                        json_pack("{s:o, s:o}", "bytes", num(f->bound), "ratio",
                                  num(ratio((double)f->bytes, f->bound))));
    json_object_set_new(
        o, "float_tensors",
        json_pack(
            "{s:I, s:I, s:o, s:o, s:o}", "bytes", (json_int_t)f->float_raw,
            "stored", (json_int_t)f->float_stored, "bound", num(f->float_bound),
            "ratio", num(ratio((double)f->float_raw, (double)f->float_stored)),
            "bound_ratio", num(ratio((double)f->float_raw, f->float_bound))));
    json_object_set_new(
        o, "f32_elf",
        json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:o}", "bytes",
                  (json_int_t)f->f32_raw, "stored", (json_int_t)f->f32_stored,
                  "plane_bound", num(f->f32_plane_bound), "huffman_floor",
                  num(f->f32_huffman_floor), "ratio",
                  num(ratio((double)f->f32_raw, (double)f->f32_stored)),
                  "plane_bound_ratio",
                  num(ratio((double)f->f32_raw, f->f32_plane_bound)), "values",
                  (json_int_t)f->f32_values, "over_bound",
                  (json_int_t)f->f32_over_bound, "max_abs_err",
                  num(f->max_abs_err)));
    return o;
}

/* Writes doc (consumed) to stdout, indented. */
static int write_doc(json_t *doc)
{
    if (!doc)
        return cli_fail("bench", "cannot build the JSON document");
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2));
    json_decref(doc);
    fputc('\n', stdout);
    return rc == 0 ? 0 : cli_fail("bench", "cannot write JSON");
}

static int print_json(const bench_args *a, const bench_file *files,
                      const bench_file *total)
{
    json_t *arr = json_array();
    for (int i = 0; i < a->nfiles; i++)
        json_array_append_new(arr, file_json(files[i].path, &files[i]));
    json_t *doc =
        json_pack("{s:s, s:i, s:i, s:o, s:o, s:s}", "elves_version",
                  ELVES_VERSION_STRING, "threads", (int)a->opts.threads,
                  "block_size", (int)block_size_of(a), "files", arr, "total",
                  file_json("TOTAL", total), "definitions", footer);
    return write_doc(doc);
}

/* ---- model families (--base) --------------------------------------------- */

static void delta_ratio_row(cli_table *t, const char *name,
                            const bench_delta *d, int is_base)
{
    cli_table_cell(t, "%s", name);
    cli_table_cell(t, "%.2f", (double)d->bytes / 1e6);
    ratio_cell(t, (double)d->bytes, (double)d->z19_long);
    ratio_cell(t, (double)d->bytes, (double)d->alone);
    if (is_base)
        cli_table_cell(t, "(base)");
    else
        ratio_cell(t, (double)d->bytes, (double)d->delta);
    cli_table_cell(t, "%zu", d->ndelta);
    cli_table_cell(t, "%.2f", (double)d->xor_raw / 1e6);
    ratio_cell(t, (double)d->xor_raw, (double)d->xor_alone);
    ratio_cell(t, (double)d->xor_raw, (double)d->xor_stored);
    ratio_cell(t, (double)d->xor_raw, d->xor_bound);
    percent_cell(t, d->xor_bound, (double)d->xor_stored);
}

static void delta_speed_row(cli_table *t, const char *name,
                            const bench_delta *d)
{
    cli_table_cell(t, "%s", name);
    mbps_cell(t, d->z3.in, d->z3.enc);
    mbps_cell(t, d->z3.in, d->z3.dec);
    mbps_cell(t, d->bytes, d->enc_alone);
    mbps_cell(t, d->bytes, d->dec_alone);
    mbps_cell(t, d->bytes, d->enc_delta);
    mbps_cell(t, d->bytes, d->dec_delta);
    speedup_cell(t, d->z3.enc, d->enc_delta);
    speedup_cell(t, d->z3.dec, d->dec_delta);
}

static json_t *delta_json(const bench_delta *d)
{
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:o, s:o, "
        "s:o, s:o}",
        "file", d->path, "bytes", (json_int_t)d->bytes, "alone",
        (json_int_t)d->alone, "delta", (json_int_t)d->delta, "delta_tensors",
        (json_int_t)d->ndelta, "delta_tensor_bytes", (json_int_t)d->xor_raw,
        "delta_tensor_stored", (json_int_t)d->xor_stored,
        "delta_tensor_alone", (json_int_t)d->xor_alone, "xor_plane_bound",
        num(d->xor_bound), "zstd19_long_with_base", (json_int_t)d->z19_long,
        "enc_mbps_alone", num(cli_mbps(d->bytes, d->enc_alone)),
        "dec_mbps_alone", num(cli_mbps(d->bytes, d->dec_alone)),
        "enc_mbps_delta", num(cli_mbps(d->bytes, d->enc_delta)),
        "dec_mbps_delta", num(cli_mbps(d->bytes, d->dec_delta)), "zstd3",
        zstd_json(&d->z3, d->bytes));
}

/* One JSON document: the base (coded alone), each member, the family. */
static int family_json(const bench_args *a, const bench_delta *base,
                       const bench_delta *m, const bench_delta *total)
{
    json_t *arr = json_array();
    for (int i = 0; i < a->nfiles; i++)
        json_array_append_new(arr, delta_json(&m[i]));
    json_t *doc = json_pack("{s:s, s:I, s:o, s:o, s:o}", "elves_version",
                            ELVES_VERSION_STRING, "block_size",
                            (json_int_t)block_size_of(a), "base",
                            delta_json(base), "members", arr, "family",
                            delta_json(total));
    return write_doc(doc);
}

static void print_family(const bench_args *a, const bench_delta *base,
                         const bench_delta *m, const bench_delta *total)
{
    static const char *const rh[] = {
        "file",   "MB",   "zstd-19L", "alone",   "delta", "tensors",
        "xor MB", "alone", "delta",   "bound",   "of bound"};
    static const char *const sh[] = {"file",      "zstd-3 enc", "dec",
                                     "alone enc", "dec",        "delta enc",
                                     "dec",       "enc vs z3",  "dec vs z3"};
    cli_table *t;

    printf("model family: %d members against %s, lossless, block size %u, "
           "ratios (raw/stored)\n",
           a->nfiles, a->base, block_size_of(a));
    t = cli_table_new("lrrrrrrrrrr", rh);
    delta_ratio_row(t, base_name(base->path), base, 1);
    for (int i = 0; i < a->nfiles; i++)
        delta_ratio_row(t, base_name(m[i].path), &m[i], 0);
    cli_table_rule(t);
    delta_ratio_row(t, "FAMILY", total, 0);
    cli_table_print(t, stdout);
    cli_table_free(t);
    printf("\nspeed, one thread (MB/s of the original file)\n");
    t = cli_table_new("lrrrrrrrr", sh);
    delta_speed_row(t, base_name(base->path), base);
    for (int i = 0; i < a->nfiles; i++)
        delta_speed_row(t, base_name(m[i].path), &m[i]);
    cli_table_print(t, stdout);
    cli_table_free(t);
    printf("\n  zstd-19L  zstd -19 --long=27 of base + member, minus the base "
           "alone (the\n            base row: alone); FAMILY: the sum, i.e. "
           "the whole family in one window\n"
           "  alone     elves lossless, the member coded alone\n"
           "  delta     elves lossless coded against the base (FAMILY: base "
           "alone + members delta)\n"
           "  tensors   tensors coded against a base tensor (same name, dtype "
           "and size)\n"
           "  xor MB    their bytes; alone / delta: their ratio coded alone "
           "and against the base\n"
           "  bound     order-0 entropy of the byte planes of member XOR "
           "base, as a ratio\n"
           "  of bound  bound / delta-coded size (above 100%%: better than "
           "the bound)\n");
}

static int bench_family(const bench_args *a)
{
    cli_base base;
    bench_delta b, total = {.path = "FAMILY"};
    bench_delta *m = calloc((size_t)a->nfiles, sizeof *m);
    int rc = 0;

    if (!m)
        return cli_fail("bench", "out of memory");
    if (cli_base_open(&base, a->base, 1) != 0) {
        free(m);
        return CLI_EXIT_FAIL;
    }
    rc = bench_run_delta(&b, a->base, NULL, &a->opts);
    if (rc == 0)
        bench_delta_add(&total, &b);
    for (int i = 0; i < a->nfiles && rc == 0; i++) {
        rc = bench_run_delta(&m[i], a->files[i], &base, &a->opts);
        if (rc == 0)
            bench_delta_add(&total, &m[i]);
    }
    if (rc == 0 && a->json)
        rc = family_json(a, &b, m, &total);
    else if (rc == 0)
        print_family(a, &b, m, &total);
    cli_base_close(&base);
    free(m);
    return rc;
}

/* ---- entry ----------------------------------------------------------------
 */

int cmd_bench(int argc, char **argv)
{
    bench_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0)
        return rc;
    if (a.base)
        return bench_family(&a);
    bench_file *files = calloc((size_t)a.nfiles, sizeof *files);
    bench_file total = {.path = "TOTAL"};
    if (!files)
        return cli_fail("bench", "out of memory");
    for (int i = 0; i < a.nfiles && rc < 0; i++) {
        if (bench_run_file(&files[i], a.files[i], &a.opts) != 0)
            rc = CLI_EXIT_FAIL;
        else
            bench_add(&total, &files[i]);
    }
    if (rc < 0)
        rc = a.json ? print_json(&a, files, &total)
                    : (print_text(&a, files, &total), 0);
    free(files);
    return rc;
}
