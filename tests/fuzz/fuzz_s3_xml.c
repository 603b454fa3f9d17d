/*
 * fuzz_s3_xml.c - libFuzzer target for the XML reading of S3's answers
 * (s3/s3_xml.h) on hostile input: the whole input is one answer, in a
 * buffer of exactly its size (no NUL after it, so ASan sees any read past
 * its end).  It is read as a ListObjectsV2 page, a ListMultipartUploads
 * page and an error (<Code>, <Message>).
 *
 * Aborts if a reported key or upload id is not NUL-terminated within its
 * buffer, if decoded text is longer than the input it came from, or if a
 * refused page is not a 500 with a message.  Seeds: tests/fuzz/seeds/s3_xml/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_xml.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_s3_xml:%d: check failed: %s\n", __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

static size_t input_len;

static int on_object(void *ctx, const s3_object *o)
{
    (void)ctx;
    size_t n = strnlen(o->key, 1024);
    CHECK(n < 1024 && n <= input_len);
    CHECK(o->mtime >= 0);
    return 0;
}

static int on_upload(void *ctx, const s3_upload *u)
{
    (void)ctx;
    CHECK(strnlen(u->key, 1024) < 1024 && strnlen(u->upload_id, 512) < 512);
    return 0;
}

static void refused_well(int rc, const es_err *err)
{
    if (rc != 0)
        CHECK(err->status == 500 && err->msg[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    input_len = size;
    es_err err = {0, ""};
    char token[1024], km[1024], im[1024];
    refused_well(s3_xml_list_page(text, size, on_object, NULL, token,
                                  sizeof token, &err),
                 &err);
    refused_well(s3_xml_uploads_page(text, size, on_upload, NULL, km, im,
                                     sizeof km, &err),
                 &err);
    char code[64], msg[512];
    if (s3_xml_text(text, text + size, "Code", code, sizeof code) == 0)
        CHECK(strlen(code) < sizeof code && strlen(code) <= size);
    if (s3_xml_text(text, text + size, "Message", msg, sizeof msg) == 0)
        CHECK(strlen(msg) < sizeof msg);
    char out[256];
    if (s3_xml_decode(text, size, out, sizeof out) == 0)
        CHECK(strlen(out) <= size);
    free(text);
    return 0;
}
