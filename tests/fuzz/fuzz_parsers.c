/*
 * fuzz_parsers.c - libFuzzer target for the checkpoint parsers: feeds any
 * bytes to elves_segment_file and to the safetensors and GGUF parsers
 * directly, and aborts if one of them fails in a way the header does not
 * allow or returns segments that do not tile the input exactly, or if the
 * safetensors fast path (plain headers without a JSON tree) and jansson
 * disagree in any way.  Seeds are in tests/fuzz/seeds/parsers/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "elves.h"
#include "internal.h"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_parsers: %s: %s\n", what, msg);
    abort();
}

/* A parser either succeeds with a list that tiles the input, or fails with a
 * message and no list. */
static size_t check_parser(int rc, elves_segments *s, const elves_error *err,
                           size_t size, const char *who)
{
    if (rc == ELVES_E_NOMEM)
        return 0;
    if (rc != ELVES_OK) {
        if (s || err->code != rc || err->msg[0] == '\0')
            die(who, "failure without a message, or with a list");
        return 0;
    }
    elves_error bad;
    if (!s || elves_segments_check(s, size, &bad) != ELVES_OK)
        die(who, s ? bad.msg : "success without a list");
    size_t count = s->count;
    elves_segments_free(s);
    return count;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The fast path must give exactly what jansson gives: the same code and
 * message, or the same segments and metadata. */
static void check_fast_path(const uint8_t *data, size_t size)
{
    elves_segments *a = NULL, *b = NULL;
    elves_error ea = {0}, eb = {0};
    int ra = es_parse_safetensors(&a, data, size, 1, &ea);
    int rb = es_parse_safetensors(&b, data, size, 0, &eb);
    if (ra == ELVES_E_NOMEM || rb == ELVES_E_NOMEM)
        goto out;
    if (ra != rb || (ra != ELVES_OK && strcmp(ea.msg, eb.msg) != 0))
        die("safetensors fast path", "result differs from jansson's");
    if (ra != ELVES_OK)
        goto out;
    if (a->count != b->count || !same_str(a->metadata_json, b->metadata_json))
        die("safetensors fast path", "segments or metadata differ");
    for (size_t i = 0; i < a->count; i++) {
        const elves_segment *x = &a->items[i], *y = &b->items[i];
        if (x->kind != y->kind || x->dtype != y->dtype || x->ndim != y->ndim ||
            x->offset != y->offset || x->length != y->length ||
            memcmp(x->shape, y->shape, sizeof x->shape) != 0 ||
            !same_str(x->name, y->name))
            die("safetensors fast path", "a segment differs");
    }
out:
    elves_segments_free(a);
    elves_segments_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elves_segments *s = NULL;
    elves_error err = {0};

    int rc = elves_segment_file(&s, data, size, &err);
    if (rc != ELVES_OK && rc != ELVES_E_NOMEM)
        die("elves_segment_file", "failed on input that is only bytes");
    elves_format format = s ? s->format : ELVES_FMT_OPAQUE;
    size_t count = s ? s->count : 0;
    if (rc == ELVES_OK) {
        elves_error bad;
        if (elves_segments_check(s, size, &bad) != ELVES_OK)
            die("elves_segment_file", bad.msg);
        if (format == ELVES_FMT_OPAQUE && count != 1)
            die("elves_segment_file", "OPAQUE format with several segments");
    }
    elves_segments_free(s);

    s = NULL;
    err = (elves_error){0};
    rc = elves_parse_safetensors(&s, data, size, &err);
    size_t n = check_parser(rc, s, &err, size, "elves_parse_safetensors");
    if (format == ELVES_FMT_SAFETENSORS && n != count)
        die("elves_parse_safetensors", "disagrees with elves_segment_file");
    check_fast_path(data, size);

    s = NULL;
    err = (elves_error){0};
    rc = elves_parse_gguf(&s, data, size, &err);
    n = check_parser(rc, s, &err, size, "elves_parse_gguf");
    if (format == ELVES_FMT_GGUF && n != count)
        die("elves_parse_gguf", "disagrees with elves_segment_file");
    return 0;
}
