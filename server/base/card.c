/*
 * card.c - model-card front matter: the YAML between the first two "---"
 * lines of a README.md, through libyaml's document loader into JSON.
 * Aliases are refused (a billion-laughs document would otherwise expand),
 * and so is nesting deeper than CARD_DEPTH.
 */
#include "card.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CARD_DEPTH 32

/* Where the front matter lies: after the opening "---" line, up to the
 * closing "---" or "..." line.  0 if there is none. */
static int front_span(const char *text, size_t len, size_t *start,
                      size_t *end)
{
    size_t i;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && len >= 6 &&
        (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) {
        text += 3; /* a UTF-8 byte order mark */
        len -= 3;
        *start = 3;
    } else {
        *start = 0;
    }
    if (len < 4 || memcmp(text, "---", 3) != 0 ||
        (text[3] != '\n' && text[3] != '\r'))
        return 0;
    i = text[3] == '\r' && len > 4 && text[4] == '\n' ? 5 : 4;
    *start += i;
    for (size_t line = i; line < len && line < CARD_FRONT_MAX;) {
        const char *nl = memchr(text + line, '\n', len - line);
        size_t e = nl ? (size_t)(nl - text) : len;
        size_t n = e - line;
        if (n && text[e - 1] == '\r')
            n--;
        if (n == 3 && (memcmp(text + line, "---", 3) == 0 ||
                       memcmp(text + line, "...", 3) == 0)) {
            *end = *start - i + line;
            return 1;
        }
        line = e + 1;
    }
    return 0;
}

static json_t *scalar_json(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (!strcmp(v, "true") || !strcmp(v, "True"))
            return json_true();
        if (!strcmp(v, "false") || !strcmp(v, "False"))
            return json_false();
        if (!strcmp(v, "null") || !strcmp(v, "~") || len == 0)
            return json_null();
        char *endp;
        long long i = strtoll(v, &endp, 10);
        if (*v && *endp == '\0' && len < 19)
            return json_integer(i);
        double d = strtod(v, &endp);
        if (*v && *endp == '\0' && strspn(v, "0123456789.eE+-") == len)
            return json_real(d);
    }
    return json_stringn(v, len);
}

static json_t *node_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    json_t *out = NULL;
    if (!n || depth > CARD_DEPTH)
        return NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar_json(n);
    case YAML_SEQUENCE_NODE:
        out = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             out && it < n->data.sequence.items.top; it++) {
            json_t *v =
                node_json(doc, yaml_document_get_node(doc, *it), depth + 1);
            if (!v || json_array_append_new(out, v) < 0) {
                json_decref(out);
                out = NULL;
            }
        }
        return out;
    case YAML_MAPPING_NODE:
        out = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             out && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            json_t *v = node_json(doc, yaml_document_get_node(doc, p->value),
                                  depth + 1);
            if (!k || k->type != YAML_SCALAR_NODE || !v ||
                json_object_setn_new(out, (const char *)k->data.scalar.value,
                                     k->data.scalar.length, v) < 0) {
                json_decref(v);
                json_decref(out);
                out = NULL;
            }
        }
        return out;
    default:
        return NULL;
    }
}

/* Refuses aliases before loading: the document loader would share the
 * aliased node, and converting it to JSON would copy it every time. */
static int has_alias(const char *y, size_t n)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int alias = 0, done = 0;
    if (!yaml_parser_initialize(&p))
        return 1;
    yaml_parser_set_input_string(&p, (const unsigned char *)y, n);
    while (!done && !alias) {
        if (!yaml_parser_parse(&p, &ev)) {
            alias = 1; /* invalid: refused as well */
            break;
        }
        alias = ev.type == YAML_ALIAS_EVENT;
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return alias;
}

json_t *card_front_matter(const char *text, size_t len)
{
    size_t start, end;
    yaml_parser_t p;
    yaml_document_t doc;
    json_t *out = NULL;

    if (!text || !front_span(text, len, &start, &end) ||
        end - start > CARD_FRONT_MAX || has_alias(text + start, end - start))
        return NULL;
    if (!yaml_parser_initialize(&p))
        return NULL;
    yaml_parser_set_input_string(&p, (const unsigned char *)text + start,
                                 end - start);
    if (yaml_parser_load(&p, &doc)) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root && root->type == YAML_MAPPING_NODE)
            out = node_json(&doc, root, 0);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    return out;
}

int card_base_model(const json_t *front, char *out, size_t cap)
{
    const json_t *b = json_object_get(front, "base_model");
    if (json_is_array(b))
        b = json_array_get(b, 0);
    if (!json_is_string(b) || json_string_length(b) == 0 ||
        json_string_length(b) >= cap)
        return 0;
    memcpy(out, json_string_value(b), json_string_length(b) + 1);
    return 1;
}
