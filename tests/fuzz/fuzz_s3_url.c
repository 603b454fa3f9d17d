/*
 * fuzz_s3_url.c - libFuzzer target for the s3:// URL parser (s3.h:
 * s3_url_parse) on hostile input: the whole input is the URL (its own
 * malloc'd, NUL-terminated copy, so ASan sees a read past its end).
 *
 * Aborts if an accepted URL leaves a field unset, a bucket that breaks
 * S3's naming rules, a prefix with a leading or trailing '/', an endpoint
 * without http(s)://, or an object URL that does not contain the bucket;
 * if a refused one is not a 400 with a message, or leaves memory set.
 * Seeds are in tests/fuzz/seeds/s3_url/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_s3_url:%d: check failed: %s\n", __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    s3_config c;
    es_err err = {0, ""};
    if (s3_url_parse(&c, url, &err) == 0) {
        CHECK(c.bucket && c.prefix && c.endpoint && c.region);
        size_t bl = strlen(c.bucket);
        CHECK(bl >= 3 && bl <= 63);
        CHECK(strspn(c.bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") == bl);
        size_t pl = strlen(c.prefix);
        CHECK(pl == 0 || (c.prefix[0] != '/' && c.prefix[pl - 1] != '/'));
        CHECK(strncmp(c.endpoint, "http://", 7) == 0 ||
              strncmp(c.endpoint, "https://", 8) == 0);
        CHECK(c.path_style == 0 || c.path_style == 1);
        char out[8192];
        CHECK(s3_object_url(&c, c.prefix, out, sizeof out) > 0);
        CHECK(strstr(out, c.bucket) != NULL);
        s3_config_free(&c);
    } else {
        CHECK(err.status == 400 && err.msg[0] != '\0');
        CHECK(c.bucket == NULL && c.endpoint == NULL && c.prefix == NULL);
    }
    free(url);
    return 0;
}
