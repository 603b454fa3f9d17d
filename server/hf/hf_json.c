/*
 * hf_json.c - tree, paths-info and repo-info JSON for the Hugging Face
 * clients, and the git ids in them (see hf_json.h).
 *
 * Directories are not stored: they are the path prefixes of the files.  A
 * directory's oid is a SHA-1 over the paths and content hashes below it,
 * so it changes exactly when something below it does, as git's tree ids
 * do (the value itself is not git's; no client recomputes it).
 */
#include "hf_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

static void sha1_hex(EVP_MD_CTX *ctx, char out[41])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    elves_hex(out, md, 20);
}

void hf_git_blob_sha1(const void *data, size_t len, char out[41])
{
    char head[40];
    int n = snprintf(head, sizeof head, "blob %zu", len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, head, (size_t)n + 1); /* with its NUL */
    EVP_DigestUpdate(ctx, data, len);
    sha1_hex(ctx, out);
    EVP_MD_CTX_free(ctx);
}

size_t hf_lfs_pointer(const char *sha256, uint64_t size, char *out,
                      size_t cap)
{
    int n = snprintf(out, cap,
                     "version https://git-lfs.github.com/spec/v1\n"
                     "oid sha256:%s\nsize %" PRIu64 "\n",
                     sha256, size);
    return n < 0 ? 0 : (size_t)n;
}

void hf_iso_date(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

void hf_file_oid(const hf_file *f, char out[41])
{
    char ptr[256];
    if (f->git_sha1[0]) {
        memcpy(out, f->git_sha1, 41);
        return;
    }
    size_t n = hf_lfs_pointer(f->sha256, f->size, ptr, sizeof ptr);
    hf_git_blob_sha1(ptr, n, out);
}

json_t *hf_file_entry(const hf_file *f)
{
    char oid[41], ptr[256];
    hf_file_oid(f, oid);
    json_t *e = json_pack("{s:s, s:s, s:I, s:s}", "type", "file", "path",
                          f->path, "size", (json_int_t)f->size, "oid", oid);
    if (e && !f->git_sha1[0])
        json_object_set_new(
            e, "lfs",
            json_pack("{s:s, s:I, s:I}", "oid", f->sha256, "size",
                      (json_int_t)f->size, "pointerSize",
                      (json_int_t)hf_lfs_pointer(f->sha256, f->size, ptr,
                                                 sizeof ptr)));
    return e;
}

/* ---- directories ------------------------------------------------------------ */

static int under(const char *path, const char *dir, size_t dlen)
{
    return dlen == 0 || (strncmp(path, dir, dlen) == 0 && path[dlen] == '/');
}

static json_t *dir_entry(const hf_file_list *files, const char *dir,
                         size_t dlen)
{
    char oid[41], path[1100];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    for (size_t i = 0; i < files->n; i++) {
        const hf_file *f = &files->items[i];
        if (!under(f->path, dir, dlen))
            continue;
        EVP_DigestUpdate(ctx, f->path, strlen(f->path) + 1);
        EVP_DigestUpdate(ctx, f->sha256, 64);
    }
    sha1_hex(ctx, oid);
    EVP_MD_CTX_free(ctx);
    snprintf(path, sizeof path, "%.*s", (int)dlen, dir);
    return json_pack("{s:s, s:s, s:s}", "type", "directory", "path", path,
                     "oid", oid);
}

/* Adds the directory path[0..dlen) once (seen: set of added dirs). */
static void add_dir(json_t *out, json_t *seen, const hf_file_list *files,
                    const char *path, size_t dlen)
{
    char key[1100];
    snprintf(key, sizeof key, "%.*s", (int)dlen, path);
    if (json_object_get(seen, key))
        return;
    json_object_set_new(seen, key, json_true());
    json_array_append_new(out, dir_entry(files, path, dlen));
}

static int by_path(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "path")),
                  json_string_value(json_object_get(y, "path")));
}

static json_t *sorted(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **items = malloc((n ? n : 1) * sizeof *items);
    json_t *out = json_array();
    if (!items || !out) {
        free(items);
        json_decref(out);
        json_decref(arr);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(arr, i);
    qsort(items, n, sizeof *items, by_path);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, items[i]);
    free(items);
    json_decref(arr);
    return out;
}

/* One file seen from dir: itself and/or the directories on the way. */
static void tree_add(json_t *out, json_t *seen, const hf_file_list *files,
                     const hf_file *f, size_t dlen, int recursive)
{
    const char *rest = f->path + (dlen ? dlen + 1 : 0);
    for (const char *slash = strchr(rest, '/'); slash;
         slash = strchr(slash + 1, '/')) {
        add_dir(out, seen, files, f->path, (size_t)(slash - f->path));
        if (!recursive)
            return;
    }
    json_array_append_new(out, hf_file_entry(f));
}

json_t *hf_tree(const hf_file_list *files, const char *dir, int recursive)
{
    size_t dlen = strlen(dir);
    json_t *out = json_array(), *seen = json_object();
    int found = dlen == 0;
    for (size_t i = 0; i < files->n; i++) {
        const hf_file *f = &files->items[i];
        if (!under(f->path, dir, dlen))
            continue;
        found = 1;
        tree_add(out, seen, files, f, dlen, recursive);
    }
    json_decref(seen);
    if (!found) {
        json_decref(out);
        return NULL;
    }
    return sorted(out);
}

json_t *hf_paths_info(const hf_file_list *files, const char *const *paths,
                      size_t n)
{
    json_t *out = json_array();
    for (size_t p = 0; p < n; p++) {
        size_t len = strlen(paths[p]);
        int is_dir = 0;
        for (size_t i = 0; i < files->n; i++) {
            if (strcmp(files->items[i].path, paths[p]) == 0) {
                json_array_append_new(out, hf_file_entry(&files->items[i]));
                is_dir = 0;
                break;
            }
            if (len && under(files->items[i].path, paths[p], len))
                is_dir = 1;
        }
        if (is_dir)
            json_array_append_new(out, dir_entry(files, paths[p], len));
    }
    return out;
}

/* ---- repo info ------------------------------------------------------------- */

static json_t *sibling(const hf_file *f)
{
    char oid[41], ptr[256];
    hf_file_oid(f, oid);
    json_t *s = json_pack("{s:s, s:I, s:s}", "rfilename", f->path, "size",
                          (json_int_t)f->size, "blobId", oid);
    if (s && !f->git_sha1[0])
        json_object_set_new(
            s, "lfs",
            json_pack("{s:s, s:I, s:I}", "sha256", f->sha256, "size",
                      (json_int_t)f->size, "pointerSize",
                      (json_int_t)hf_lfs_pointer(f->sha256, f->size, ptr,
                                                 sizeof ptr)));
    return s;
}

json_t *hf_repo_summary(const hf_repo *r, const hf_rev *rev)
{
    char modified[32], created[32], author[HF_NAME_MAX], oid[41];
    hf_iso_date(rev->created, modified);
    hf_iso_date(r->created ? r->created : rev->created, created);
    snprintf(author, sizeof author, "%.*s",
             (int)strcspn(r->name, "/"), r->name);
    hf_git_blob_sha1(r->name, strlen(r->name), oid); /* a stable _id */
    json_t *gated = strcmp(r->gated, "auto") == 0 ||
                            strcmp(r->gated, "manual") == 0
                        ? json_string(r->gated)
                        : json_false();
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:b, s:i, s:i, s:[]}",
        "_id", oid + 16, "id", r->name, "author", author, "sha", rev->commit,
        "lastModified", modified, "createdAt", created, "private",
        r->is_private, "gated", gated, "disabled", 0, "downloads", 0,
        "likes", 0, "tags");
    if (out && strcmp(r->type, "dataset") != 0)
        json_object_set_new(out, "modelId", json_string(r->name));
    return out;
}

json_t *hf_repo_info(const hf_repo *r, const hf_rev *rev,
                     const hf_file_list *files)
{
    json_t *out = hf_repo_summary(r, rev);
    json_t *sib = json_array();
    for (size_t i = 0; i < files->n; i++)
        json_array_append_new(sib, sibling(&files->items[i]));
    if (!out || json_object_set_new(out, "siblings", sib) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- history ---------------------------------------------------------------- */

json_t *hf_commit_entry(const hf_commit *c)
{
    char date[32];
    const char *msg = c->message ? c->message : "";
    size_t title_len = strcspn(msg, "\n");
    const char *body = msg + title_len;
    while (*body == '\n')
        body++;
    hf_iso_date(c->created, date);
    return json_pack("{s:s, s:s%, s:s, s:[], s:s}", "id", c->id, "title",
                     msg, title_len, "message", body, "authors", "date",
                     date);
}
