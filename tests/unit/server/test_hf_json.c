/*
 * test_hf_json.c - the JSON and git ids the Hugging Face routes hand out
 * (server/hf/hf_json.c): blob SHA-1s as git computes them, LFS pointers,
 * dates the clients accept, tree listings with synthesized directories,
 * paths-info and repo info.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hf_json.h"

static hf_file mk(const char *path, uint64_t size, const char *git)
{
    hf_file f;
    memset(&f, 0, sizeof f);
    f.path = (char *)path;
    f.size = size;
    memset(f.sha256, 'a', 64);
    snprintf(f.git_sha1, sizeof f.git_sha1, "%s", git);
    return f;
}

static void test_git_blob_sha1(void **state)
{
    char out[41];
    /* printf 'hello\n' | git hash-object --stdin */
    hf_git_blob_sha1("hello\n", 6, out);
    assert_string_equal(out, "ce013625030ba8dba906f756967f9e9ca394464a");
    hf_git_blob_sha1("", 0, out); /* git's empty blob */
    assert_string_equal(out, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

static void test_lfs_pointer(void **state)
{
    char ptr[256], sha[65];
    memset(sha, 'b', 64);
    sha[64] = '\0';
    size_t n = hf_lfs_pointer(sha, 1234, ptr, sizeof ptr);
    assert_int_equal(n, strlen(ptr));
    assert_non_null(strstr(ptr, "version https://git-lfs.github.com/spec/v1\n"
                                "oid sha256:bbbb"));
    assert_non_null(strstr(ptr, "\nsize 1234\n"));
}

static void test_iso_date(void **state)
{
    char d[32];
    hf_iso_date(0, d);
    assert_string_equal(d, "1970-01-01T00:00:00.000Z");
}

static const char *path_at(json_t *arr, size_t i)
{
    return json_string_value(json_object_get(json_array_get(arr, i), "path"));
}

static void test_tree(void **state)
{
    hf_file items[] = {mk("a.txt", 1, "ce013625030ba8dba906f756967f9e9ca394464a"),
                       mk("d/e/f.bin", 2, ""), mk("d/g.bin", 3, ""),
                       mk("d.json", 4, "")};
    hf_file_list l = {.items = items, .n = 4};

    json_t *root = hf_tree(&l, "", 0);
    assert_int_equal(json_array_size(root), 3); /* a.txt, d, d.json */
    assert_string_equal(path_at(root, 1), "d");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(root, 1), "type")),
                        "directory");
    assert_non_null(json_object_get(json_array_get(root, 1), "oid"));
    /* inline file: git oid, no lfs; LFS file: lfs block */
    assert_null(json_object_get(json_array_get(root, 0), "lfs"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(root, 0), "oid")),
                        "ce013625030ba8dba906f756967f9e9ca394464a");
    assert_non_null(json_object_get(json_array_get(root, 2), "lfs"));
    json_decref(root);

    json_t *rec = hf_tree(&l, "d", 1);
    assert_int_equal(json_array_size(rec), 3); /* d/e, d/e/f.bin, d/g.bin */
    assert_string_equal(path_at(rec, 0), "d/e");
    assert_string_equal(path_at(rec, 1), "d/e/f.bin");
    json_decref(rec);

    assert_null(hf_tree(&l, "nope", 1));
    assert_null(hf_tree(&l, "a.txt", 0)); /* a file, not a directory */
}

static void test_paths_info(void **state)
{
    hf_file items[] = {mk("a.txt", 1, ""), mk("d/g.bin", 3, "")};
    hf_file_list l = {.items = items, .n = 2};
    const char *paths[] = {"a.txt", "d", "missing"};
    json_t *out = hf_paths_info(&l, paths, 3);
    assert_int_equal(json_array_size(out), 2);
    assert_string_equal(path_at(out, 1), "d");
    json_decref(out);
}

static void test_repo_info(void **state)
{
    hf_file items[] = {mk("w.safetensors", 10, "")};
    hf_file_list l = {.items = items, .n = 1};
    hf_repo r = {.id = 1, .name = "acme/m", .type = "model"};
    hf_rev rev = {.commit = "0123456789012345678901234567890123456789",
                  .created = 86400};
    json_t *info = hf_repo_info(&r, &rev, &l);
    assert_string_equal(json_string_value(json_object_get(info, "id")),
                        "acme/m");
    assert_string_equal(json_string_value(json_object_get(info, "sha")),
                        rev.commit);
    assert_string_equal(
        json_string_value(json_object_get(info, "lastModified")),
        "1970-01-02T00:00:00.000Z");
    json_t *sib = json_array_get(json_object_get(info, "siblings"), 0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(sib, "lfs"), "size")),
                     10);
    assert_non_null(json_object_get(json_object_get(sib, "lfs"), "sha256"));
    assert_true(json_is_false(json_object_get(info, "gated")));
    assert_non_null(json_object_get(info, "modelId"));
    json_decref(info);

    /* a gated dataset: gated is the Hub's string, no modelId, createdAt
     * the repository's own date */
    hf_repo d = {.id = 2, .name = "acme/d", .type = "dataset",
                 .gated = "manual", .created = 3600};
    info = hf_repo_summary(&d, &rev);
    assert_string_equal(json_string_value(json_object_get(info, "gated")),
                        "manual");
    assert_null(json_object_get(info, "modelId"));
    assert_null(json_object_get(info, "siblings"));
    assert_string_equal(json_string_value(json_object_get(info, "createdAt")),
                        "1970-01-01T01:00:00.000Z");
    json_decref(info);
}

static void test_commit_entry(void **state)
{
    hf_commit c = {.id = "0123456789012345678901234567890123456789",
                   .created = 86400,
                   .message = "Add weights\n\nfrom the run of May"};
    json_t *e = hf_commit_entry(&c);
    assert_string_equal(json_string_value(json_object_get(e, "title")),
                        "Add weights");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "from the run of May");
    assert_string_equal(json_string_value(json_object_get(e, "date")),
                        "1970-01-02T00:00:00.000Z");
    assert_true(json_is_array(json_object_get(e, "authors")));
    json_decref(e);
    c.message = "one line";
    e = hf_commit_entry(&c);
    assert_string_equal(json_string_value(json_object_get(e, "title")),
                        "one line");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "");
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_git_blob_sha1), cmocka_unit_test(test_lfs_pointer),
        cmocka_unit_test(test_iso_date),      cmocka_unit_test(test_tree),
        cmocka_unit_test(test_paths_info),    cmocka_unit_test(test_repo_info),
        cmocka_unit_test(test_commit_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
