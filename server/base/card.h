/*
 * card.h - a model card's YAML front matter (the Hugging Face convention:
 * README.md starting with a "---" line, metadata up to the next "---"),
 * parsed with libyaml into JSON: mappings become objects, sequences
 * arrays, scalars strings, except plain true/false/null and numbers.
 */
#ifndef ELVESD_CARD_H
#define ELVESD_CARD_H

#include <jansson.h>
#include <stddef.h>

/* Largest front matter parsed; a larger one counts as none. */
#define CARD_FRONT_MAX ((size_t)64 << 10)

/* The front matter of text[0..len) as a JSON object (the caller's), or
 * NULL when there is none, it is not a mapping, or it is not valid YAML
 * (hostile input is refused, never a crash). */
json_t *card_front_matter(const char *text, size_t len);

/* base_model of a front matter: a string, or a list's first string.  1
 * and out, 0 if none. */
int card_base_model(const json_t *front, char *out, size_t cap);

#endif /* ELVESD_CARD_H */
