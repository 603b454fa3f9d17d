/*
 * test_card.c - model-card front matter (server/base/card.h): the Hub's
 * README.md header parsed to JSON, base_model as a string or a list, no
 * front matter or a broken one is NULL, aliases are refused, CRLF and a
 * byte order mark are accepted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "card.h"

static json_t *front(const char *text)
{
    return card_front_matter(text, strlen(text));
}

static void test_hub_card(void **state)
{
    (void)state;
    const char *md = "---\n"
                     "license: apache-2.0\n"
                     "base_model:\n"
                     "- meta-llama/Llama-2-7b-hf\n"
                     "- other/model\n"
                     "tags:\n"
                     "  - text-generation\n"
                     "  - \"7b\"\n"
                     "pipeline_tag: text-generation\n"
                     "inference: false\n"
                     "params: 7\n"
                     "---\n"
                     "# A model\n\n---\nnot front matter\n";
    json_t *f = front(md);
    char base[256];
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "license")),
                        "apache-2.0");
    assert_int_equal(json_array_size(json_object_get(f, "tags")), 2);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(f, "tags"), 1)), "7b");
    assert_true(json_is_false(json_object_get(f, "inference")));
    assert_int_equal(json_integer_value(json_object_get(f, "params")), 7);
    assert_int_equal(card_base_model(f, base, sizeof base), 1);
    assert_string_equal(base, "meta-llama/Llama-2-7b-hf");
    assert_int_equal(card_base_model(f, base, 8), 0); /* does not fit */
    json_decref(f);

    f = front("\xEF\xBB\xBF---\r\nbase_model: org/base@v1\r\n---\r\nbody");
    assert_non_null(f);
    assert_int_equal(card_base_model(f, base, sizeof base), 1);
    assert_string_equal(base, "org/base@v1");
    json_decref(f);

    f = front("---\nlicense: mit\n...\n");
    assert_non_null(f);
    assert_int_equal(card_base_model(f, base, sizeof base), 0);
    json_decref(f);
}

static void test_no_or_bad_front_matter(void **state)
{
    (void)state;
    assert_null(front("# just a title\n"));
    assert_null(front("---\nunterminated: yes\n"));
    assert_null(front("---\n- a list, not a mapping\n---\n"));
    assert_null(front("---\nkey: [unclosed\n---\n"));
    assert_null(front("---\na: &x [1, 2]\nb: *x\n---\n"));
    assert_null(front("--- \nno: newline after the dashes\n---\n"));
    assert_null(card_front_matter(NULL, 0));
    /* base_model of the wrong type */
    json_t *f = front("---\nbase_model: {a: b}\n---\n");
    char base[64];
    assert_non_null(f);
    assert_int_equal(card_base_model(f, base, sizeof base), 0);
    json_decref(f);
    /* deep nesting (valid YAML) is refused, not a deep recursion */
    char deep[400] = "---\na: ";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "\n---\n");
    assert_null(front(deep));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub_card),
        cmocka_unit_test(test_no_or_bad_front_matter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
