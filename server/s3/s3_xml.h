/*
 * s3_xml.h - reading S3's XML answers (s3_xml.c), for s3.c and the fuzzer.
 * Every function reads [p, end) or text[0..len) only; text need not be
 * NUL-terminated.
 */
#ifndef ELVESD_S3_XML_H
#define ELVESD_S3_XML_H

#include <stddef.h>

#include "err.h"
#include "s3.h"

/* Decodes the entities of in[0..n) into out (cap bytes, NUL-terminated);
 * -1 if it does not fit or an entity is unknown. */
int s3_xml_decode(const char *in, size_t n, char *out, size_t cap);

/* Finds the element <tag> in [p, end): *in and *in_len get its content.
 * Returns the position after its end tag, or NULL if there is none. */
const char *s3_xml_find(const char *p, const char *end, const char *tag,
                        const char **in, size_t *in_len);

/* The decoded text of the first <tag> in [p, end) into out; -1 if absent
 * or too long. */
int s3_xml_text(const char *p, const char *end, const char *tag, char *out,
                size_t cap);

/* Reports the <Contents> of one ListObjectsV2 page; token (tcap bytes)
 * gets the next page's continuation token ("" when this was the last).
 * 500 for a page that is not one. */
int s3_xml_list_page(const char *text, size_t len,
                     int (*fn)(void *, const s3_object *), void *ctx,
                     char *token, size_t tcap, es_err *err);

/* Reports the <Upload>s of one ListMultipartUploads page; key_marker and
 * id_marker (cap bytes each) get the next page's markers (key_marker ""
 * when this was the last).  500 for a page that is not one. */
int s3_xml_uploads_page(const char *text, size_t len,
                        int (*fn)(void *, const s3_upload *), void *ctx,
                        char *key_marker, char *id_marker, size_t cap,
                        es_err *err);

#endif /* ELVESD_S3_XML_H */
