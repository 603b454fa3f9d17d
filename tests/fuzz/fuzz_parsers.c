/*
 * fuzz_parsers.c - libFuzzer target for the checkpoint parsers: feeds any
 * bytes to elves_segment_file and to the safetensors and GGUF parsers
 * directly, and aborts if one of them fails in a way the header does not
 * allow or returns segments that do not tile the input exactly.  Seeds are
 * in tests/fuzz/seeds/parsers/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "elves.h"

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

    s = NULL;
    err = (elves_error){0};
    rc = elves_parse_gguf(&s, data, size, &err);
    n = check_parser(rc, s, &err, size, "elves_parse_gguf");
    if (format == ELVES_FMT_GGUF && n != count)
        die("elves_parse_gguf", "disagrees with elves_segment_file");
    return 0;
}
