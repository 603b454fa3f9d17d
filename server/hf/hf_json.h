/*
 * hf_json.h - the JSON the Hugging Face clients read, built from a commit's
 * file list: tree and paths-info entries, model/dataset info, and the git
 * object ids the Hub reports (blob SHA-1 of a file or of its LFS pointer).
 *
 * Pure functions of their inputs (no store, no HTTP), unit tested in
 * tests/unit/server/test_hf_json.c.
 */
#ifndef ELVESD_HF_JSON_H
#define ELVESD_HF_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store_hf.h"

/* git's blob id of data: SHA-1 of "blob <len>\0" + data, 40 hex + NUL. */
void hf_git_blob_sha1(const void *data, size_t len, char out[41]);

/* The Git LFS pointer text of an object; returns its length. */
size_t hf_lfs_pointer(const char *sha256, uint64_t size, char *out,
                      size_t cap);

/* "2024-05-01T12:00:00.000Z" (the clients reject "+00:00"). */
void hf_iso_date(int64_t t, char out[32]);

/* A file's oid: its blob id if committed inline, else its pointer's. */
void hf_file_oid(const hf_file *f, char out[41]);

/* Tree or paths-info entry of one file: type, path, size, oid, and lfs
 * {oid, size, pointerSize} for LFS files. */
json_t *hf_file_entry(const hf_file *f);

/* Every entry of the tree at dir ("" = root): files and directories just
 * below it, or all of them below it if recursive, sorted by path.  NULL if
 * dir is not a directory of the commit (no file under it). */
json_t *hf_tree(const hf_file_list *files, const char *dir, int recursive);

/* The entries for the given paths (files or directories); unknown paths
 * are left out, as the Hub does. */
json_t *hf_paths_info(const hf_file_list *files, const char *const *paths,
                      size_t n);

/* What GET /api/models and /api/datasets list of a repo at rev: _id, id,
 * author, sha, lastModified (rev's date), createdAt (the repo's), private,
 * gated (false, "auto" or "manual"), disabled, downloads, likes, tags,
 * and modelId for models. */
json_t *hf_repo_summary(const hf_repo *r, const hf_rev *rev);

/* GET /api/models/{repo}[/revision/{rev}]: the summary and siblings. */
json_t *hf_repo_info(const hf_repo *r, const hf_rev *rev,
                     const hf_file_list *files);

/* One commit of GET .../commits/{rev}: id, title (the message's first
 * line), message (what follows the blank line after it), authors (none
 * are recorded: []), date. */
json_t *hf_commit_entry(const hf_commit *c);

#endif /* ELVESD_HF_JSON_H */
