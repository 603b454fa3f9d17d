/*
 * cmd_inspect.c - `elves inspect`: what is inside a checkpoint (format,
 * tensors, and the codec the library would pick for each) or a container
 * (per segment codec, raw and stored bytes, ratio, dedup, totals), as an
 * aligned table or one JSON document.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: elves inspect [options] FILE\n"
    "\n"
    "For a checkpoint: format, tensors (name, dtype, shape, offset, length)\n"
    "and the codec compress would choose.  For a container: codec, raw and\n"
    "stored bytes, ratio and deduplication per segment, and totals.  Small\n"
    "tensors coded together show \"in #N\": their bytes are in the blocks of\n"
    "segment N, whose stored bytes and ratio cover them all.\n"
    "\n"
    "options:\n"
    "  -j, --json        one JSON document on stdout\n"
    "  -m, --mode MODE   codec choice for lossless (default) or elf\n"
    "  -h, --help        this help\n";

typedef struct inspect_args {
    int json;
    elves_mode mode;
    const char *path;
} inspect_args;

static int parse_args(inspect_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"mode", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    a->json = 0;
    a->mode = ELVES_MODE_LOSSLESS;
    optind = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "jm:h", longopts, "inspect", usage)) !=
           -1) {
        if (c == 'j')
            a->json = 1;
        else if (c == 'm') {
            if (cli_parse_mode(&a->mode, "inspect", optarg) != 0)
                return CLI_EXIT_USAGE;
        } else
            return c == CLI_OPT_HELP ? 0 : CLI_EXIT_USAGE;
    }
    if (argc - optind != 1)
        return cli_usage_error("inspect", "want one FILE (see elves inspect "
                                          "--help)");
    a->path = argv[optind];
    return -1;
}

/* ---- shared pieces ------------------------------------------------------ */


/* A tensor's name, or the kind in parentheses for other segments. */
static void seg_label(char *buf, size_t cap, const elves_segment *s)
{
    if (s->name)
        snprintf(buf, cap, "%s", s->name);
    else
        snprintf(buf, cap, "(%s)", elves_seg_kind_name(s->kind));
}

/* The dtype, or the GGUF ggml type number for tensors libelves does not
 * model (quantized blocks). */
static void dtype_label(char *buf, size_t cap, const elves_segment *s)
{
    if (s->dtype == ELVES_DT_OPAQUE && s->gguf_type)
        snprintf(buf, cap, "ggml:%u", (unsigned)s->gguf_type);
    else
        snprintf(buf, cap, "%s", elves_dtype_name(s->dtype));
}

static json_t *shape_json(const elves_segment *s)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < s->ndim && i < ELVES_MAX_DIMS; i++)
        json_array_append_new(a, json_integer((json_int_t)s->shape[i]));
    return a;
}

/* Fields every segment has, in text and JSON alike. */
static json_t *segment_json(const elves_segment *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(elves_seg_kind_name(s->kind)));
    json_object_set_new(o, "name",
                        s->name ? json_string(s->name) : json_null());
    json_object_set_new(o, "dtype", json_string(elves_dtype_name(s->dtype)));
    json_object_set_new(o, "shape", shape_json(s));
    json_object_set_new(o, "offset", json_integer((json_int_t)s->offset));
    json_object_set_new(o, "length", json_integer((json_int_t)s->length));
    if (s->gguf_type)
        json_object_set_new(o, "gguf_type", json_integer(s->gguf_type));
    return o;
}

static double ratio(uint64_t raw, uint64_t stored)
{
    return stored ? (double)raw / (double)stored : 0.0;
}

static int print_json(json_t *doc)
{
    if (!doc)
        return cli_fail("inspect", "out of memory");
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(doc);
    fputc('\n', stdout);
    return rc == 0 ? 0 : cli_fail("inspect", "cannot write JSON");
}

/* ---- checkpoints -------------------------------------------------------- */

/* The codec compress would use: chosen for typed tensors, zstd otherwise. */
static elves_codec planned_codec(const cli_map *m, const elves_segment *s,
                                 elves_mode mode)
{
    elves_codec codec = ELVES_CODEC_ZSTD;
    if (s->kind == ELVES_SEG_TENSOR && s->dtype != ELVES_DT_OPAQUE &&
        s->length > 0 &&
        elves_choose_codec(&codec, m->data + s->offset, (size_t)s->length,
                           s->dtype, mode) != ELVES_OK)
        codec = ELVES_CODEC_ZSTD;
    return codec;
}

static size_t count_tensors(const elves_segments *segs)
{
    size_t n = 0;
    for (size_t i = 0; i < segs->count; i++)
        n += segs->items[i].kind == ELVES_SEG_TENSOR;
    return n;
}

static json_t *checkpoint_json(const inspect_args *a, const cli_map *m,
                               const elves_segments *segs,
                               const elves_error *why)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "file", json_string(a->path));
    json_object_set_new(doc, "type", json_string("checkpoint"));
    json_object_set_new(doc, "format",
                        json_string(cli_format_name(segs->format)));
    json_object_set_new(doc, "size", json_integer((json_int_t)segs->file_size));
    json_object_set_new(doc, "mode", json_string(cli_mode_name(a->mode)));
    if (why->code)
        json_object_set_new(doc, "parse_error", json_string(why->msg));
    if (segs->metadata_json) {
        json_t *md = json_loads(segs->metadata_json, 0, NULL);
        json_object_set_new(doc, "metadata",
                            md ? md : json_string(segs->metadata_json));
    }
    json_object_set_new(doc, "tensors",
                        json_integer((json_int_t)count_tensors(segs)));
    json_t *arr = json_array();
    for (size_t i = 0; i < segs->count; i++) {
        const elves_segment *s = &segs->items[i];
        json_t *o = segment_json(s);
        json_object_set_new(
            o, "codec",
            json_string(elves_codec_name(planned_codec(m, s, a->mode))));
        json_array_append_new(arr, o);
    }
    json_object_set_new(doc, "segments", arr);
    return doc;
}

static void checkpoint_text(const inspect_args *a, const cli_map *m,
                            const elves_segments *segs, const elves_error *why)
{
    printf("file:     %s\n", a->path);
    printf("format:   %s, %llu bytes, %zu tensors, %zu segments\n",
           cli_format_name(segs->format), (unsigned long long)segs->file_size,
           count_tensors(segs), segs->count);
    if (why->code)
        printf("note:     not parsed as a checkpoint: %s\n", why->msg);
    if (segs->metadata_json)
        printf("metadata: %s\n", segs->metadata_json);
    printf("codecs:   as chosen for %s mode\n\n", cli_mode_name(a->mode));
    static const char *const hdr[] = {"#",      "name",   "dtype", "shape",
                                      "offset", "length", "codec"};
    cli_table *t = cli_table_new("rlllrrl", hdr);
    for (size_t i = 0; i < segs->count; i++) {
        const elves_segment *s = &segs->items[i];
        char label[256], shape[160], dtype[32];
        seg_label(label, sizeof label, s);
        cli_shape_str(shape, sizeof shape, s->shape, s->ndim);
        dtype_label(dtype, sizeof dtype, s);
        cli_table_cell(t, "%zu", i);
        cli_table_cell(t, "%s", label);
        cli_table_cell(t, "%s", dtype);
        cli_table_cell(t, "%s", s->kind == ELVES_SEG_TENSOR ? shape : "");
        cli_table_cell(t, "%llu", (unsigned long long)s->offset);
        cli_table_cell(t, "%llu", (unsigned long long)s->length);
        cli_table_cell(t, "%s", elves_codec_name(planned_codec(m, s, a->mode)));
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static int inspect_checkpoint(const inspect_args *a)
{
    cli_map m;
    if (cli_map_open(&m, a->path) != 0)
        return CLI_EXIT_FAIL;
    elves_segments *segs = NULL;
    elves_error why = {0};
    int rc = elves_segment_file(&segs, m.data, m.len, &why);
    if (rc != ELVES_OK) {
        cli_map_close(&m);
        return cli_fail_lib(a->path, rc, &why);
    }
    if (a->json)
        rc = print_json(checkpoint_json(a, &m, segs, &why));
    else
        checkpoint_text(a, &m, segs, &why);
    elves_segments_free(segs);
    cli_map_close(&m);
    return rc;
}

/* ---- containers --------------------------------------------------------- */

/* Sums over the segments of a container. */
typedef struct container_totals {
    uint64_t raw;
    uint64_t stored;
    size_t dedup_segments;
    uint64_t dedup_bytes;
    uint64_t codec_raw[ELVES_CODEC_COUNT];
    uint64_t codec_stored[ELVES_CODEC_COUNT];
    size_t codec_segments[ELVES_CODEC_COUNT];
} container_totals;

static void sum_container(container_totals *t, const elves_container *c)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < c->nsegments; i++) {
        const elves_container_segment *cs = &c->segments[i];
        t->raw += cs->seg.length;
        t->stored += cs->stored_bytes;
        if (cs->dedup_of >= 0) {
            t->dedup_segments++;
            t->dedup_bytes += cs->seg.length;
        }
        if ((unsigned)cs->codec < ELVES_CODEC_COUNT) {
            t->codec_raw[cs->codec] += cs->seg.length;
            t->codec_stored[cs->codec] += cs->stored_bytes;
            t->codec_segments[cs->codec]++;
        }
    }
}

/* Delta coding of one segment: how many of its blocks are delta blocks and
 * their bytes, read from the block headers. */
typedef struct seg_delta {
    size_t delta_blocks;
    uint64_t delta_bytes;
} seg_delta;

static void count_delta(seg_delta *d, const cli_archive *ar, size_t i)
{
    const elves_container_segment *cs = &ar->c->segments[i];
    uint8_t h[ELVES_BLOCK_HEADER_SIZE];

    memset(d, 0, sizeof *d);
    if (!cs->has_base)
        return;
    for (size_t k = 0; k < cs->nblocks; k++) {
        const elves_block_ref *r = &ar->c->blocks[cs->first_block + k];
        if (cli_pread_full(ar->fd, h, sizeof h, r->loc) == 0 &&
            h[1] == ELVES_CODEC_DELTA) {
            d->delta_blocks++;
            d->delta_bytes += r->enc_len;
        }
    }
}

/* Original bytes coded in segment i's blocks: its own, plus those of the
 * members of its unit. */
static uint64_t unit_raw(const elves_container *c, size_t i)
{
    uint64_t n = c->segments[i].seg.length;
    for (size_t k = i + 1;
         k < c->nsegments && c->segments[k].group_of == (int)i; k++)
        n += c->segments[k].seg.length;
    return n;
}

static json_t *container_segment_json(const cli_archive *ar, size_t i)
{
    const elves_container *c = ar->c;
    const elves_container_segment *cs = &c->segments[i];
    json_t *o = segment_json(&cs->seg);
    char fp[33];
    seg_delta d;
    json_object_set_new(o, "codec", json_string(elves_codec_name(cs->codec)));
    json_object_set_new(o, "blocks", json_integer((json_int_t)cs->nblocks));
    json_object_set_new(o, "stored",
                        json_integer((json_int_t)cs->stored_bytes));
    json_object_set_new(o, "ratio",
                        json_real(ratio(unit_raw(c, i), cs->stored_bytes)));
    json_object_set_new(o, "dedup_of",
                        cs->dedup_of >= 0 ? json_integer(cs->dedup_of)
                                          : json_null());
    json_object_set_new(o, "unit_of",
                        cs->group_of >= 0 ? json_integer(cs->group_of)
                                          : json_null());
    count_delta(&d, ar, i);
    elves_fp128_hex(fp, &cs->base);
    json_object_set_new(o, "base", cs->has_base ? json_string(fp) : json_null());
    json_object_set_new(o, "delta_blocks",
                        json_integer((json_int_t)d.delta_blocks));
    return o;
}

static json_t *container_json(const inspect_args *a, const cli_archive *ar)
{
    const elves_container *c = ar->c;
    container_totals t;
    sum_container(&t, c);
    char sha[65];
    elves_hex(sha, c->sha256, 32);
    json_t *doc = json_object();
    json_object_set_new(doc, "file", json_string(a->path));
    json_object_set_new(doc, "type", json_string("container"));
    json_object_set_new(doc, "format", json_string(cli_format_name(c->format)));
    json_object_set_new(doc, "mode", json_string(cli_mode_name(c->mode)));
    json_object_set_new(doc, "size", json_integer((json_int_t)c->file_size));
    json_object_set_new(doc, "sha256", json_string(sha));
    json_object_set_new(doc, "container_size",
                        json_integer((json_int_t)c->container_size));
    json_object_set_new(doc, "ratio",
                        json_real(ratio(c->file_size, c->container_size)));
    json_object_set_new(doc, "block_size", json_integer(c->block_size));
    json_object_set_new(doc, "blocks", json_integer((json_int_t)c->nblocks));
    json_object_set_new(doc, "stored", json_integer((json_int_t)t.stored));
    json_object_set_new(doc, "dedup_segments",
                        json_integer((json_int_t)t.dedup_segments));
    json_object_set_new(doc, "dedup_bytes",
                        json_integer((json_int_t)t.dedup_bytes));
    char base_sha[65];
    elves_hex(base_sha, c->base_sha256, 32);
    json_object_set_new(doc, "delta_segments",
                        json_integer((json_int_t)c->ndelta));
    json_object_set_new(doc, "base_sha256",
                        c->has_base_sha ? json_string(base_sha) : json_null());
    json_t *codecs = json_object();
    for (int k = 0; k < ELVES_CODEC_COUNT; k++) {
        if (!t.codec_segments[k])
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "segments",
                            json_integer((json_int_t)t.codec_segments[k]));
        json_object_set_new(o, "raw", json_integer((json_int_t)t.codec_raw[k]));
        json_object_set_new(o, "stored",
                            json_integer((json_int_t)t.codec_stored[k]));
        json_object_set_new(codecs, elves_codec_name((elves_codec)k), o);
    }
    json_object_set_new(doc, "codecs", codecs);
    json_t *arr = json_array();
    for (size_t i = 0; i < c->nsegments; i++)
        json_array_append_new(arr, container_segment_json(ar, i));
    json_object_set_new(doc, "segments", arr);
    return doc;
}

static void container_segments_text(const cli_archive *ar)
{
    const elves_container *c = ar->c;
    static const char *const hdr[] = {"#",     "name",   "dtype",
                                      "codec", "raw",    "stored",
                                      "ratio", "blocks", "ref"};
    cli_table *t = cli_table_new("rlllrrrrl", hdr);
    for (size_t i = 0; i < c->nsegments; i++) {
        const elves_container_segment *cs = &c->segments[i];
        char label[256], dtype[32];
        seg_label(label, sizeof label, &cs->seg);
        dtype_label(dtype, sizeof dtype, &cs->seg);
        cli_table_cell(t, "%zu", i);
        cli_table_cell(t, "%s", label);
        cli_table_cell(t, "%s", dtype);
        cli_table_cell(t, "%s", elves_codec_name(cs->codec));
        cli_table_cell(t, "%llu", (unsigned long long)cs->seg.length);
        cli_table_cell(t, "%llu", (unsigned long long)cs->stored_bytes);
        if (cs->dedup_of >= 0 || cs->stored_bytes == 0)
            cli_table_cell(t, "-");
        else
            cli_table_cell(t, "%.3f", ratio(unit_raw(c, i), cs->stored_bytes));
        cli_table_cell(t, "%zu", cs->group_of >= 0 ? (size_t)0 : cs->nblocks);
        if (cs->dedup_of >= 0)
            cli_table_cell(t, "= #%d", cs->dedup_of);
        else if (cs->group_of >= 0)
            cli_table_cell(t, "in #%d", cs->group_of);
        else if (cs->has_base) {
            char fp[33];
            seg_delta d;
            count_delta(&d, ar, i);
            elves_fp128_hex(fp, &cs->base);
            cli_table_cell(t, "delta %zu/%zu vs %.12s", d.delta_blocks, cs->nblocks,
                           fp);
        } else
            cli_table_cell(t, "%s", "");
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static void container_codecs_text(const container_totals *tot)
{
    static const char *const hdr[] = {"codec", "segments", "raw", "stored",
                                      "ratio"};
    cli_table *t = cli_table_new("lrrrr", hdr);
    for (int k = 0; k < ELVES_CODEC_COUNT; k++) {
        if (!tot->codec_segments[k])
            continue;
        cli_table_cell(t, "%s", elves_codec_name((elves_codec)k));
        cli_table_cell(t, "%zu", tot->codec_segments[k]);
        cli_table_cell(t, "%llu", (unsigned long long)tot->codec_raw[k]);
        cli_table_cell(t, "%llu", (unsigned long long)tot->codec_stored[k]);
        cli_table_cell(t, "%.3f",
                       ratio(tot->codec_raw[k], tot->codec_stored[k]));
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static void container_text(const inspect_args *a, const cli_archive *ar)
{
    const elves_container *c = ar->c;
    container_totals t;
    sum_container(&t, c);
    char sha[65];
    elves_hex(sha, c->sha256, 32);
    printf("file:      %s (elves container, %llu bytes)\n", a->path,
           (unsigned long long)c->container_size);
    printf("original:  %s, %llu bytes, sha256 %s\n", cli_format_name(c->format),
           (unsigned long long)c->file_size, sha);
    printf("mode:      %s, block size %u, %zu blocks\n\n",
           cli_mode_name(c->mode), c->block_size, c->nblocks);
    if (c->ndelta) {
        char base[65] = "not recorded";
        if (c->has_base_sha)
            elves_hex(base, c->base_sha256, 32);
        printf("base:      %zu tensors delta-coded against the base with "
               "sha256 %s\n\n",
               c->ndelta, base);
    }
    container_segments_text(ar);
    printf("\n");
    container_codecs_text(&t);
    printf("\ntotal:     %llu bytes -> %llu stored in blocks + %llu of "
           "index and framing = %llu (%.3fx)\n",
           (unsigned long long)c->file_size, (unsigned long long)t.stored,
           (unsigned long long)(c->container_size - t.stored),
           (unsigned long long)c->container_size,
           ratio(c->file_size, c->container_size));
    printf("dedup:     %zu segments, %llu bytes stored once\n",
           t.dedup_segments, (unsigned long long)t.dedup_bytes);
    if (c->ndelta) {
        size_t xb = 0, nb = 0;
        uint64_t xbytes = 0, raw = 0;
        for (size_t i = 0; i < c->nsegments; i++) {
            seg_delta d;
            count_delta(&d, ar, i);
            xb += d.delta_blocks;
            xbytes += d.delta_bytes;
            if (c->segments[i].has_base) {
                nb += c->segments[i].nblocks;
                raw += c->segments[i].seg.length;
            }
        }
        printf("delta:     %zu segments (%llu bytes), %zu of their %zu blocks "
               "delta-coded in %llu bytes\n",
               c->ndelta, (unsigned long long)raw, xb, nb,
               (unsigned long long)xbytes);
    }
}

static int inspect_container(const inspect_args *a)
{
    cli_archive ar;
    if (cli_archive_open(&ar, a->path) != 0)
        return CLI_EXIT_FAIL;
    int rc = 0;
    if (a->json)
        rc = print_json(container_json(a, &ar));
    else
        container_text(a, &ar);
    cli_archive_close(&ar);
    return rc;
}

int cmd_inspect(int argc, char **argv)
{
    inspect_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0)
        return rc;
    int is = cli_is_container(a.path);
    if (is < 0)
        return cli_fail_errno(a.path, "open");
    return is ? inspect_container(&a) : inspect_checkpoint(&a);
}
