/*
 * archive.c - container files on disk: recognising them, reading the index
 * from the tail with pread (a second read when the index is bigger than the
 * first guess), fetching blocks for the library's range decoder, and
 * decoding a byte range in bounded slices so memory never grows with the
 * file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Magic (8) + footer (32): nothing shorter can be a container. */
#define CONTAINER_MIN_SIZE 40
/* First guess at the tail holding index + footer. */
#define FIRST_TAIL ((size_t)256 << 10)
/* open_index's status for a failed read (errno set); not an elves_status. */
#define INDEX_IO_FAILED (-100)

int cli_is_container(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char head[8];
    ssize_t n;
    do
        n = pread(fd, head, sizeof head, 0);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    return n == (ssize_t)sizeof head &&
           memcmp(head, CLI_CONTAINER_MAGIC, 8) == 0;
}

/* Reads the last `len` bytes and asks the library to parse the index. */
static int open_index(cli_archive *a, size_t len, size_t *need,
                      elves_error *err)
{
    uint8_t *tail = malloc(len);
    if (!tail)
        return ELVES_E_NOMEM;
    if (cli_pread_full(a->fd, tail, len, a->size - len) != 0) {
        int saved = errno;
        free(tail);
        errno = saved;
        return INDEX_IO_FAILED;
    }
    int rc = elves_container_open(&a->c, tail, len, a->size, need, err);
    free(tail);
    return rc;
}

static int check_magic(cli_archive *a)
{
    char head[8];
    if (a->size < CONTAINER_MIN_SIZE)
        return cli_fail(a->path,
                        "not an elves container (%llu bytes, too "
                        "short)",
                        (unsigned long long)a->size);
    if (cli_pread_full(a->fd, head, sizeof head, 0) != 0)
        return cli_fail_errno(a->path, "read");
    if (memcmp(head, CLI_CONTAINER_MAGIC, 8) != 0)
        return cli_fail(a->path, "not an elves container (bad magic)");
    return 0;
}

static int read_index(cli_archive *a)
{
    elves_error err = {0};
    size_t need = 0;
    size_t len = a->size < FIRST_TAIL ? (size_t)a->size : FIRST_TAIL;
    int rc = open_index(a, len, &need, &err);
    if (rc == ELVES_E_SMALL) {
        if (need <= len || need > a->size)
            return cli_fail(a->path,
                            "corrupt container: index of %zu bytes "
                            "does not fit",
                            need);
        memset(&err, 0, sizeof err);
        rc = open_index(a, need, &need, &err);
    }
    if (rc == INDEX_IO_FAILED)
        return cli_fail_errno(a->path, "read");
    if (rc != ELVES_OK)
        return cli_fail_lib(a->path, rc, &err);
    return 0;
}

int cli_archive_open(cli_archive *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->path = path;
    a->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (a->fd < 0)
        return cli_fail_errno(path, "open");
    struct stat st;
    int rc;
    if (fstat(a->fd, &st) != 0)
        rc = cli_fail_errno(path, "stat");
    else if (!S_ISREG(st.st_mode))
        rc = cli_fail(path, "not a regular file");
    else {
        a->size = (uint64_t)st.st_size;
        rc = check_magic(a);
        if (rc == 0)
            rc = read_index(a);
    }
    if (rc != 0)
        cli_archive_close(a);
    return rc;
}

void cli_archive_close(cli_archive *a)
{
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    elves_container_free(a->c);
    a->c = NULL;
}

int cli_archive_fetch(void *ctx, const elves_block_ref *ref, uint8_t *buf)
{
    const cli_archive *a = ctx;
    if (ref->loc > a->size || ref->enc_len > a->size - ref->loc)
        return -1;
    return cli_pread_full(a->fd, buf, ref->enc_len, ref->loc);
}

/* ---- sliced decoding ---------------------------------------------------- */

static int slicebuf_reserve(cli_slicebuf *b, size_t len)
{
    if (len <= b->cap)
        return 0;
    uint8_t *p = realloc(b->data, len);
    if (!p)
        return -1;
    b->data = p;
    b->cap = len;
    return 0;
}

void cli_slicebuf_free(cli_slicebuf *b)
{
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

/* One past the last block of the slice starting at block i: whole blocks
 * until about CLI_SLICE_BYTES are covered or the range ends. */
static size_t slice_end(const elves_container *c, size_t i, size_t end,
                        uint64_t from)
{
    uint64_t covered = 0;
    size_t j = i;
    do {
        const elves_block_ref *b = &c->blocks[j];
        covered += b->raw_offset + b->raw_len - (j == i ? from : b->raw_offset);
        j++;
    } while (j < end && covered < CLI_SLICE_BYTES);
    return j;
}

int cli_decode_slices(const elves_container *c, uint64_t first, uint64_t last,
                      const cli_blocks *src, unsigned threads,
                      cli_slicebuf *buf, cli_slice_fn sink, void *sink_ctx,
                      elves_error *err)
{
    size_t begin, end;
    int rc =
        elves_blocks_cover(&begin, &end, c->blocks, c->nblocks, first, last);
    if (rc != ELVES_OK)
        return rc;
    uint64_t from = first;
    for (size_t i = begin; i < end && from <= last;) {
        size_t j = slice_end(c, i, end, from);
        const elves_block_ref *lb = &c->blocks[j - 1];
        uint64_t to = lb->raw_offset + lb->raw_len - 1;
        if (to > last)
            to = last;
        size_t len = (size_t)(to - from + 1);
        if (slicebuf_reserve(buf, len) != 0)
            return ELVES_E_NOMEM;
        rc = src->mem
                 ? elves_decode_range_mem(buf->data, c->blocks, c->nblocks,
                                          from, to, src->mem, src->mem_len,
                                          src->base, threads, err)
                 : elves_decode_range(buf->data, c->blocks, c->nblocks, from,
                                      to, src->fetch, src->ctx, src->base,
                                      threads, err);
        if (rc != ELVES_OK)
            return rc;
        if (sink(sink_ctx, from, buf->data, len) != 0)
            return ELVES_E_CALLBACK;
        from = to + 1;
        i = j;
    }
    return ELVES_OK;
}
