/*
 * test_safetensors.c - the safetensors parser: well-formed files of every
 * dtype and shape corner (zero-size, rank-0, sub-byte, padded headers,
 * metadata), the 13 real checkpoints in ELVES_SHARED_DATA, and malformed
 * headers, each of which must fail with ELVES_E_FORMAT and say why.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elves.h"
#include "test_files.h"

/* ---- building files in memory ------------------------------------------ */

/* A safetensors file: length prefix, the header with single quotes turned
 * into double quotes (so tests read like JSON), `pad` trailing spaces, then
 * buf_len bytes of data. */
static uint8_t *st_file(size_t *len, const char *json, size_t pad,
                        size_t buf_len)
{
    size_t n = strlen(json) + pad;
    uint8_t *f = malloc(8 + n + buf_len + 1);
    assert_non_null(f);
    uint64_t n64 = n;
    memcpy(f, &n64, 8);
    for (size_t i = 0; json[i]; i++)
        f[8 + i] = json[i] == '\'' ? '"' : (uint8_t)json[i];
    memset(f + 8 + strlen(json), ' ', pad);
    for (size_t i = 0; i < buf_len; i++)
        f[8 + n + i] = (uint8_t)(i * 7 + 1);
    *len = 8 + n + buf_len;
    return f;
}

static elves_segments *parse_ok(const uint8_t *f, size_t len)
{
    elves_segments *s = NULL;
    elves_error err = {0};
    int rc = elves_parse_safetensors(&s, f, len, &err);
    if (rc != ELVES_OK)
        fail_msg("parse failed: %s", err.msg);
    assert_non_null(s);
    assert_int_equal(elves_segments_check(s, len, &err), ELVES_OK);
    assert_int_equal(s->format, ELVES_FMT_SAFETENSORS);
    assert_int_equal(s->items[0].kind, ELVES_SEG_HEADER);
    return s;
}

static void expect_format(const uint8_t *f, size_t len, const char *needle)
{
    elves_segments *s = (elves_segments *)1;
    elves_error err = {0};
    int rc = elves_parse_safetensors(&s, f, len, &err);
    if (rc != ELVES_E_FORMAT)
        fail_msg("expected ELVES_E_FORMAT, got %d (%s)", rc, err.msg);
    assert_null(s);
    assert_int_equal(err.code, ELVES_E_FORMAT);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

/* ---- well-formed files --------------------------------------------------- */

/* Every dtype, each with shape [2, 2]: sub-byte ones fill whole bytes. */
static void test_every_dtype(void **state)
{
    char json[4096] = "{";
    uint64_t at = 0;
    for (int dt = 1; dt < ELVES_DT_COUNT; dt++) {
        uint64_t bytes = 4 * elves_dtype_bits((elves_dtype)dt) / 8;
        char one[160];
        snprintf(one, sizeof one,
                 "%s't%02d':{'dtype':'%s','shape':[2,2],'data_offsets':[%llu,"
                 "%llu]}",
                 dt > 1 ? "," : "", dt, elves_dtype_name((elves_dtype)dt),
                 (unsigned long long)at, (unsigned long long)(at + bytes));
        strcat(json, one);
        at += bytes;
    }
    strcat(json, "}");
    size_t len;
    uint8_t *f = st_file(&len, json, 0, at);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, ELVES_DT_COUNT);
    for (int dt = 1; dt < ELVES_DT_COUNT; dt++) {
        const elves_segment *g = &s->items[dt];
        char name[8];
        snprintf(name, sizeof name, "t%02d", dt);
        assert_string_equal(g->name, name);
        assert_int_equal(g->kind, ELVES_SEG_TENSOR);
        assert_int_equal(g->dtype, dt);
        assert_int_equal(g->ndim, 2);
        assert_int_equal(g->shape[0], 2);
        assert_int_equal(g->length, 4 * elves_dtype_bits(g->dtype) / 8);
    }
    assert_null(s->metadata_json);
    elves_segments_free(s);
    free(f);
}

/* Output follows offsets, not the order of the JSON object. */
static void test_offset_order_and_absolute_offsets(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len,
                         "{'b':{'dtype':'F32','shape':[3],'data_offsets':[2,"
                         "14]},'a':{'dtype':'U8','shape':[2],'data_offsets':"
                         "[0,2]}}",
                         0, 14);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 3);
    uint64_t base = len - 14;
    assert_int_equal(s->items[0].length, base);
    assert_string_equal(s->items[1].name, "a");
    assert_int_equal(s->items[1].offset, base);
    assert_string_equal(s->items[2].name, "b");
    assert_int_equal(s->items[2].offset, base + 2);
    assert_int_equal(s->items[2].length, 12);
    assert_int_equal(s->items[2].shape[0], 3);
    elves_segments_free(s);
    free(f);
}

static void test_zero_size_rank0_bool(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len,
                         "{'empty':{'dtype':'F32','shape':[0,5],"
                         "'data_offsets':[0,0]},'scalar':{'dtype':'F64',"
                         "'shape':[],'data_offsets':[0,8]},'mask':{'dtype':"
                         "'BOOL','shape':[3],'data_offsets':[8,11]},"
                         "'also_empty':{'dtype':'I64','shape':[0],"
                         "'data_offsets':[11,11]}}",
                         0, 11);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 5);
    assert_string_equal(s->items[1].name, "empty");
    assert_int_equal(s->items[1].length, 0);
    assert_int_equal(s->items[1].ndim, 2);
    assert_string_equal(s->items[2].name, "scalar");
    assert_int_equal(s->items[2].ndim, 0);
    assert_int_equal(s->items[2].length, 8);
    assert_string_equal(s->items[3].name, "mask");
    assert_int_equal(s->items[3].dtype, ELVES_DT_BOOL);
    assert_string_equal(s->items[4].name, "also_empty");
    assert_int_equal(s->items[4].offset, len);
    elves_segments_free(s);
    free(f);
}

/* A zero dim means no elements, however large the others are. */
static void test_zero_dim_beats_overflow(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len,
                         "{'z':{'dtype':'F32','shape':[4294967296,"
                         "4294967296,0],'data_offsets':[0,0]}}",
                         0, 0);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->items[1].length, 0);
    elves_segments_free(s);
    free(f);
}

static void test_f4_f6_whole_bytes(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len,
                         "{'q':{'dtype':'F4','shape':[6],'data_offsets':[0,3]"
                         "},'r':{'dtype':'F6_E3M2','shape':[4,2],"
                         "'data_offsets':[3,9]}}",
                         0, 9);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->items[1].length, 3);
    assert_int_equal(s->items[2].length, 6);
    elves_segments_free(s);
    free(f);
}

static void test_metadata_kept_compact(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len,
                         "{'__metadata__': {'format': 'pt', 'note': "
                         "'\\u00e9t\\u00e9'},\n 'w':{'dtype':'BF16','shape':"
                         "[2],'data_offsets':[0,4]}}",
                         0, 4);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 2);
    assert_non_null(s->metadata_json);
    assert_string_equal(s->metadata_json,
                        "{\"format\":\"pt\",\"note\":\"\xc3\xa9t\xc3\xa9\"}");
    elves_segments_free(s);
    free(f);
}

/* The parser reads plain headers without jansson and hands anything else
 * to jansson: both must give the same segments and metadata. */
static void expect_metadata(const char *json, const char *want)
{
    size_t len;
    uint8_t *f = st_file(&len, json, 0, 4);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->items[1].dtype, ELVES_DT_BF16);
    assert_int_equal(s->items[1].ndim, 1);
    assert_int_equal(s->items[1].shape[0], 2);
    assert_string_equal(s->items[1].name, "w");
    assert_string_equal(s->metadata_json, want);
    elves_segments_free(s);
    free(f);
}

#define W "'w':{'dtype':'BF16','shape':[2],'data_offsets':[0,4]}"

static void test_metadata_fast_and_jansson_agree(void **state)
{
    /* plain, with blanks and escaped quotes (the faceapi files' JSON) */
    expect_metadata("{'__metadata__' : { 'a' : 'x' ,\n\t'b':''} ," W "}",
                    "{\"a\":\"x\",\"b\":\"\"}");
    expect_metadata("{" W ",'__metadata__':{'q':'{\\'k\\':1}\\\\'}}",
                    "{\"q\":\"{\\\"k\\\":1}\\\\\"}");
    /* escapes jansson rewrites, and non-ASCII: the jansson path */
    expect_metadata("{'__metadata__':{'u':'a\\/b\\u0041'}," W "}",
                    "{\"u\":\"a/bA\"}");
    expect_metadata("{'__metadata__':{'\\u0061':'\xc3\xa9'}," W "}",
                    "{\"a\":\"\xc3\xa9\"}");
    expect_metadata("{'__metadata__':{}," W "}", "{}");
}

static void test_entry_variants_parse(void **state)
{
    size_t len;
    const char *variants[] = {
        "{'w':{'data_offsets':[0,4],'shape':[ 2 ],'dtype':'BF16'}}",
        "{'w':{'dtype':'BF16','shape':[2],'data_offsets':[0,4],'x':[1.5]}}",
        "{'\\u0077':{'dtype':'BF16','shape':[2],'data_offsets':[0,4]}}",
        "{ 'w' : {\t'dtype' : 'BF16' ,\r\n'shape' : [2] , "
        "'data_offsets' : [ 0 , 4 ] } }",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        uint8_t *f = st_file(&len, variants[i], 3, 4);
        elves_segments *s = parse_ok(f, len);
        assert_int_equal(s->count, 2);
        assert_string_equal(s->items[1].name, "w");
        assert_int_equal(s->items[1].length, 4);
        assert_int_equal(s->items[1].shape[0], 2);
        elves_segments_free(s);
        free(f);
    }
}

/* Writers pad the header with spaces to a multiple of 8. */
static void test_padded_header(void **state)
{
    size_t len;
    uint8_t *f = st_file(
        &len, "{'w':{'dtype':'F16','shape':[2],'data_offsets':[0,4]}}", 7, 4);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->items[0].length, len - 4);
    assert_int_equal(s->items[1].offset, len - 4);
    elves_segments_free(s);
    free(f);
}

static void test_no_tensors(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len, "{'__metadata__':{}}", 0, 0);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 1);
    assert_string_equal(s->metadata_json, "{}");
    elves_segments_free(s);
    free(f);
}

/* ---- the real checkpoints ------------------------------------------------ */

/* The README's table: tensor count and bytes per dtype. */
static const struct {
    const char *file;
    size_t tensors;
    elves_dtype dt[2];
    uint64_t bytes[2];
} shared[] = {
    {"faceapi-age-gender", 51, {ELVES_DT_U8, ELVES_DT_F32}, {419072, 10636}},
    {"faceapi-face-expression",
     49,
     {ELVES_DT_U8, ELVES_DT_F32},
     {321760, 7708}},
    {"faceapi-face-landmark-68-tiny", 28, {ELVES_DT_U8}, {77224}},
    {"faceapi-face-landmark-68", 49, {ELVES_DT_U8}, {356840}},
    {"faceapi-tiny-face-detector", 19, {ELVES_DT_U8}, {193321}},
    {"human-antispoof", 11, {ELVES_DT_F16, ELVES_DT_I32}, {853090, 8}},
    {"human-blazeface", 112, {ELVES_DT_F32, ELVES_DT_I32}, {538816, 112}},
    {"human-emotion", 23, {ELVES_DT_F32, ELVES_DT_I32}, {820508, 8}},
    {"human-facemesh", 120, {ELVES_DT_F16, ELVES_DT_I32}, {1477838, 120}},
    {"human-handlandmark-lite",
     103,
     {ELVES_DT_F16, ELVES_DT_I32},
     {2023424, 8}},
    {"human-liveness", 23, {ELVES_DT_F32, ELVES_DT_I32}, {592968, 8}},
    {"human-movenet-lightning",
     180,
     {ELVES_DT_F16, ELVES_DT_I32},
     {4649792, 424}},
    {"ppocr-mobile-v2-cls", 250, {ELVES_DT_F32, ELVES_DT_I32}, {534656, 4}},
};

static void test_shared_checkpoints(void **state)
{
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.safetensors", ELVES_SHARED_DATA,
                 shared[i].file);
        size_t len = 0;
        uint8_t *f = test_read_file(path, &len);
        assert_non_null(f);
        elves_segments *s = parse_ok(f, len);
        assert_int_equal(s->count - 1, shared[i].tensors);
        assert_non_null(s->metadata_json);
        uint64_t by_dtype[ELVES_DT_COUNT] = {0};
        for (size_t k = 1; k < s->count; k++) {
            assert_int_equal(s->items[k].kind, ELVES_SEG_TENSOR);
            assert_non_null(s->items[k].name);
            by_dtype[s->items[k].dtype] += s->items[k].length;
        }
        uint64_t listed = 0;
        for (int k = 0; k < 2 && shared[i].bytes[k]; k++) {
            assert_int_equal(by_dtype[shared[i].dt[k]], shared[i].bytes[k]);
            listed += shared[i].bytes[k];
        }
        assert_int_equal(listed, len - s->items[0].length);
        elves_segments_free(s);
        free(f);
    }
}

/* ---- malformed: the length prefix ---------------------------------------- */

static void test_shorter_than_prefix(void **state)
{
    static const uint8_t five[5] = {1, 0, 0, 0, 0};
    expect_format(five, sizeof five, "shorter than the 8-byte");
    expect_format(five, 0, "shorter than the 8-byte");
}

static void test_header_length_zero(void **state)
{
    uint8_t f[16] = {0};
    memcpy(f + 8, "{}      ", 8);
    expect_format(f, sizeof f, "header length is 0");
}

static void test_header_length_over_limit(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len, "{}", 0, 0);
    uint64_t n = ELVES_ST_MAX_HEADER + 1;
    memcpy(f, &n, 8);
    expect_format(f, len, "exceeds the limit");
    free(f);
}

static void test_header_length_past_eof(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len, "{}", 0, 0);
    uint64_t n = 3;
    memcpy(f, &n, 8);
    expect_format(f, len, "runs past the end of the file");
    n = UINT64_MAX;
    memcpy(f, &n, 8);
    expect_format(f, len, "exceeds the limit");
    free(f);
}

/* ---- malformed: the header, one cmocka test per case --------------------- */

typedef struct bad_case {
    const char *json;
    size_t buf_len;
    const char *needle;
} bad_case;

#define T(name, dtype, shape, offs)                                            \
    "'" name "':{'dtype':'" dtype "','shape':" shape ",'data_offsets':" offs "}"

static const bad_case bad_cases[] = {
    {" {}", 0, "must begin with '{'"},
    {"[1,2]", 0, "must begin with '{'"},
    {"{'a':", 0, "not valid JSON"},
    {"{'\xff\xfe':1}", 0, "not valid JSON"},
    {"{} x", 0, "not valid JSON"},
    {"{'a\\u0000b':1}", 0, "not valid JSON"},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,"
     "99999999999999999999]}}",
     0, "not valid JSON"},
    {"{'a':1}", 0, "tensor 'a': entry is not an object"},
    {"{'a':{'shape':[1],'data_offsets':[0,4]}}", 4,
     "tensor 'a': missing dtype"},
    {"{'a':{'dtype':4,'shape':[1],'data_offsets':[0,4]}}", 4,
     "dtype is not a string"},
    {"{" T("a", "F12", "[1]", "[0,4]") "}", 4, "unknown dtype 'F12'"},
    {"{" T("a", "OPAQUE", "[1]", "[0,1]") "}", 1, "unknown dtype 'OPAQUE'"},
    {"{'a':{'dtype':'F32','data_offsets':[0,4]}}", 4, "missing shape"},
    {"{" T("a", "F32", "4", "[0,16]") "}", 16, "shape is not an array"},
    {"{" T("a", "F32", "[1,-1]", "[0,4]") "}", 4,
     "shape[1] is not a non-negative integer"},
    {"{" T("a", "F32", "[2.0]", "[0,8]") "}", 8, "shape[0] is not"},
    {"{" T("a", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1,
     "shape has 9 dims"},
    {"{'a':{'dtype':'F32','shape':[1]}}", 4, "missing data_offsets"},
    {"{" T("a", "F32", "[1]", "[0,4,8]") "}", 4, "not [begin, end]"},
    {"{" T("a", "F32", "[1]", "['0','4']") "}", 4, "not [begin, end]"},
    {"{" T("a", "F32", "[1]", "[0,-4]") "}", 4, "not [begin, end]"},
    {"{" T("a", "F32", "[1]", "[8,4]") "}", 8, "[8, 4] end before begin"},
    {"{" T("a.weight", "F32", "[3]", "[0,10]") "}", 10,
     "tensor 'a.weight': data_offsets [0, 10] length 10 != 3 elements x 4 "
     "bytes"},
    {"{" T("q", "F4", "[3]", "[0,2]") "}", 2,
     "3 elements x 4 bits is not a whole number of bytes"},
    {"{" T("q", "F6_E2M3", "[2]", "[0,2]") "}", 2,
     "not a whole number of bytes"},
    {"{" T("q", "F4", "[4]", "[0,3]") "}", 3, "!= 4 elements x 4 bits"},
    {"{" T("big", "U8", "[4294967296,4294967296]", "[0,1]") "}", 1,
     "tensor 'big': element count overflows"},
    {"{" T("big", "F32", "[4611686018427387904]", "[0,1]") "}", 1,
     "byte size of 4611686018427387904 elements overflows"},
    {"{" T("a", "F32", "[1]", "[0,4]") "," T("b", "F32", "[1]", "[8,12]") "}",
     12, "tensor 'b': data_offsets begin 8 leaves a gap after byte 4"},
    {"{" T("a", "F32", "[1]", "[4,8]") "}", 8, "leaves a gap after byte 0"},
    {"{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[1]", "[4,8]") "}", 8,
     "overlaps tensor 'a' ending at 8"},
    {"{" T("a", "F32", "[2]", "[0,8]") "}", 4,
     "past the end of the data buffer"},
    {"{" T("a", "F32", "[1]", "[0,4]") "}", 8, "trailing bytes"},
    {"{" T("a", "F32", "[1]", "[0,4]") "," T("a", "F32", "[1]", "[4,8]") "}", 8,
     "duplicate key"},
    {"{" T("a", "F32", "[1]", "[0,4]") "," T("\\u0061", "F32", "[1]",
                                             "[4,8]") "}",
     8, "duplicate key"},
    {"{'a':{'dtype':'F32','dtype':'U8','shape':[1],'data_offsets':[0,4]}}", 4,
     "duplicate key"},
    {"{'__metadata__':{'k':'a','k':'b'}}", 0, "duplicate key"},
    {"{'__metadata__':{},'__metadata__':{}}", 0, "duplicate key"},
    {"{" T("a", "F32", "[01]", "[0,4]") "}", 4, "not valid JSON"},
    {"{" T("a", "F32", "[1]", "[0,4]") "}}", 4, "not valid JSON"},
    {"{" T("a", "F32", "[1]", "[0,4]") ",}", 4, "not valid JSON"},
    {"{" T("a", "F32", "[1]", "[0,4.0]") "}", 4, "not [begin, end]"},
    {"{" T("a", "F32", "[1]", "[0,4]") "," T("b", "F32", "[1]", "[4,8]") "," T(
         "a", "F32", "[0]", "[8,8]") "}",
     8, "duplicate key"},
    {"{'__metadata__':[]}", 0, "__metadata__ is not an object"},
    {"{'__metadata__':{'k':1}}", 0,
     "__metadata__ value for 'k' is not a "
     "string"},
};

static void run_bad_case(void **state)
{
    const bad_case *c = *state;
    size_t len;
    uint8_t *f = st_file(&len, c->json, 0, c->buf_len);
    expect_format(f, len, c->needle);
    free(f);
}

/* A header padded with NULs instead of spaces is not JSON. */
static void test_nul_padding(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len, "{}", 6, 0);
    memset(f + 10, 0, 6);
    expect_format(f, len, "not valid JSON");
    free(f);
}

static void test_null_arguments(void **state)
{
    elves_segments *s;
    elves_error err;
    assert_int_equal(elves_parse_safetensors(&s, NULL, 8, &err),
                     ELVES_E_INVALID);
    assert_int_equal(
        elves_parse_safetensors(NULL, (const uint8_t *)"", 0, NULL),
        ELVES_E_INVALID);
    elves_segments_free(NULL);
}

int main(void)
{
    enum { NBAD = sizeof bad_cases / sizeof bad_cases[0] };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_every_dtype),
        cmocka_unit_test(test_offset_order_and_absolute_offsets),
        cmocka_unit_test(test_zero_size_rank0_bool),
        cmocka_unit_test(test_zero_dim_beats_overflow),
        cmocka_unit_test(test_f4_f6_whole_bytes),
        cmocka_unit_test(test_metadata_kept_compact),
        cmocka_unit_test(test_metadata_fast_and_jansson_agree),
        cmocka_unit_test(test_entry_variants_parse),
        cmocka_unit_test(test_padded_header),
        cmocka_unit_test(test_no_tensors),
        cmocka_unit_test(test_shared_checkpoints),
        cmocka_unit_test(test_shorter_than_prefix),
        cmocka_unit_test(test_header_length_zero),
        cmocka_unit_test(test_header_length_over_limit),
        cmocka_unit_test(test_header_length_past_eof),
        cmocka_unit_test(test_nul_padding),
        cmocka_unit_test(test_null_arguments),
    };
    enum { NFIXED = sizeof fixed / sizeof fixed[0] };
    struct CMUnitTest tests[NFIXED + NBAD];
    memcpy(tests, fixed, sizeof fixed);
    /* each malformed header is its own test, named after its message */
    static char names[NBAD][112];
    size_t n = NFIXED;
    for (size_t i = 0; i < NBAD; i++) {
        struct CMUnitTest t =
            cmocka_unit_test_prestate(run_bad_case, (void *)&bad_cases[i]);
        snprintf(names[i], sizeof names[i], "bad_%02zu: %.90s", i,
                 bad_cases[i].needle);
        t.name = names[i];
        tests[n++] = t;
    }
    return _cmocka_run_group_tests("safetensors", tests, n, NULL, NULL);
}
