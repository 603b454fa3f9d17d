/*
 * fuzz_card.c - libFuzzer target for server/base/card.h: the input is a
 * README.md; its front matter is parsed into JSON.  Aborts when a result
 * is not a JSON object, when base_model gives a string that is empty, not
 * NUL-terminated inside its buffer or longer than asked, or when the
 * JSON does not serialise.  ASan watches the reads of hostile YAML (and
 * aliases, refused, cannot blow up the output).  Seeds are in
 * tests/fuzz/seeds/card/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *front = card_front_matter((const char *)data, size);
    char base[64];
    if (!front)
        return 0;
    if (!json_is_object(front))
        abort();
    memset(base, 'x', sizeof base);
    if (card_base_model(front, base, sizeof base) &&
        (base[0] == 0 || memchr(base, 0, sizeof base) == NULL))
        abort();
    char *text = json_dumps(front, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        abort();
    free(text);
    json_decref(front);
    return 0;
}
