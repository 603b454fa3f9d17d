/*
 * base.c - the base checkpoint named by --base: mapped (or, when it is a
 * container itself, decoded into memory first), hashed, and indexed as a
 * source of base tensors for delta coding; and the check a decoder makes
 * that the base given is the one a container was coded against.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int collect(void *ctx, uint64_t raw_offset, const uint8_t *data,
                   size_t len)
{
    memcpy((uint8_t *)ctx + raw_offset, data, len);
    return 0;
}

/* A container given as the base: decoded whole, since its tensors are
 * read at random while the member is coded. */
static int decode_base(cli_base *b, unsigned threads)
{
    cli_archive a;
    cli_slicebuf buf = {0};
    elves_error err = {0};
    int rc;

    if (cli_archive_open(&a, b->path) != 0)
        return CLI_EXIT_FAIL;
    if (a.c->ndelta) {
        cli_archive_close(&a);
        return cli_fail(b->path,
                        "this base is itself delta-coded against another "
                        "base: give the root base (chains are one level "
                        "deep)");
    }
    b->decoded = malloc(a.c->file_size ? a.c->file_size : 1);
    if (!b->decoded) {
        cli_archive_close(&a);
        return cli_fail(b->path, "out of memory for the decoded base");
    }
    cli_blocks src = {cli_archive_fetch, &a, NULL, 0, NULL};
    rc = a.c->file_size ? cli_decode_slices(a.c, 0, a.c->file_size - 1, &src,
                                            threads, &buf, collect, b->decoded,
                                            &err)
                        : ELVES_OK;
    cli_slicebuf_free(&buf);
    b->len = a.c->file_size;
    cli_archive_close(&a);
    if (rc != ELVES_OK)
        return cli_fail_lib(b->path, rc, &err);
    b->data = b->decoded;
    return 0;
}

int cli_base_open(cli_base *b, const char *path, unsigned threads)
{
    elves_error err = {0};
    int rc, is_c;

    memset(b, 0, sizeof *b);
    b->path = path;
    is_c = cli_is_container(path);
    if (is_c < 0)
        return cli_fail_errno(path, "open");
    if (is_c) {
        rc = decode_base(b, threads);
    } else {
        rc = cli_map_open(&b->map, path);
        b->data = b->map.data;
        b->len = b->map.len;
    }
    if (rc != 0) {
        cli_base_close(b);
        return CLI_EXIT_FAIL;
    }
    rc = elves_sha256(b->sha256, b->data ? b->data : (const uint8_t *)"",
                      b->len);
    if (rc == ELVES_OK)
        rc = elves_base_file_open(&b->bf, b->data, b->len, &err);
    if (rc != ELVES_OK) {
        cli_base_close(b);
        return cli_fail_lib(path, rc, &err);
    }
    elves_base_file_src(&b->src, b->bf);
    b->src.file_sha256 = b->sha256;
    return 0;
}

void cli_base_close(cli_base *b)
{
    elves_base_file_free(b->bf);
    if (b->map.data)
        cli_map_close(&b->map);
    free(b->decoded);
    memset(b, 0, sizeof *b);
}

int cli_base_check(const cli_archive *a, const cli_base *b)
{
    char want[65], got[65];

    if (!a->c->ndelta)
        return 0;
    if (a->c->has_base_sha)
        elves_hex(want, a->c->base_sha256, 32);
    if (!b)
        return cli_fail(a->path,
                        "%zu tensors are delta-coded against a base%s%s: give "
                        "it with --base",
                        a->c->ndelta, a->c->has_base_sha ? " with sha256 " : "",
                        a->c->has_base_sha ? want : "");
    if (a->c->has_base_sha && memcmp(a->c->base_sha256, b->sha256, 32) != 0) {
        elves_hex(got, b->sha256, 32);
        return cli_fail(a->path,
                        "wrong base: %s has sha256 %s, the container was "
                        "coded against %s",
                        b->path, got, want);
    }
    return 0;
}
