/*
 * fuzz_commit.c - libFuzzer target for server/hf/hf_commit.h: the NDJSON
 * body of a Hugging Face commit, cut into lines and parsed line by line.
 *
 * The first input byte picks the size of the pieces the rest is fed in
 * (1..256 bytes, as a network would split it); every line goes through
 * hf_line_parse.  Aborts if a line handed over holds a '\n', if the pieces
 * give other lines than the whole body fed at once, if a parse that
 * succeeded lacks what its kind needs (a path for every operation, base64
 * content no longer than 3/4 of its text, a 64-hex oid), or if a failed
 * parse leaves no 400 error.  Seeds are in tests/fuzz/seeds/commit/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_commit.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_commit:%d: check failed: %s\n", __LINE__,    \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

typedef struct lines {
    uint64_t hash; /* of every line seen, in order */
    size_t n;
} lines;

static int on_line(void *ctx, const char *line, size_t len)
{
    lines *ls = ctx;
    CHECK(memchr(line, '\n', len) == NULL);
    for (size_t i = 0; i < len; i++)
        ls->hash = (ls->hash ^ (unsigned char)line[i]) * 0x100000001b3ull;
    ls->hash = (ls->hash ^ 0x1ff) * 0x100000001b3ull; /* end of line */
    ls->n++;

    hf_line l;
    es_err e = {0};
    int rc = hf_line_parse(line, len, &l, &e);
    if (rc < 0) {
        CHECK(e.status == 400 && e.msg[0]);
    } else {
        switch (l.kind) {
        case HF_LINE_BLANK:
            CHECK(len == 0 || (len == 1 && line[0] == '\r'));
            break;
        case HF_LINE_HEADER:
            break;
        case HF_LINE_FILE:
            CHECK(l.path != NULL);
            CHECK(l.content_len <= len / 4 * 3);
            break;
        case HF_LINE_LFS:
            CHECK(l.path != NULL);
            CHECK(hf_is_sha256_hex(l.oid));
            break;
        case HF_LINE_DELETE_FILE:
        case HF_LINE_DELETE_FOLDER:
            CHECK(l.path != NULL);
            break;
        }
    }
    hf_line_free(&l);
    return 0;
}

static lines feed(const uint8_t *data, size_t size, size_t piece)
{
    lines ls = {0xcbf29ce484222325ull, 0};
    hf_ndjson nj = {0};
    es_err e = {0};
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < size; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        rc = hf_ndjson_feed(&nj, (const char *)data + at, n, on_line, &ls, &e);
    }
    CHECK(rc == 0); /* inputs are far below the line limit */
    hf_ndjson_finish(&nj, on_line, &ls);
    hf_ndjson_free(&nj);
    return ls;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] + 1;
    lines split = feed(data + 1, size - 1, piece);
    lines whole = feed(data + 1, size - 1, size);
    CHECK(split.n == whole.n && split.hash == whole.hash);
    return 0;
}
