/*
 * io.c - file I/O of the program: whole inputs mapped read-only, exact
 * pread/write loops, and output files that appear under their name only
 * once complete (written to PATH.tmp, fsync'd, renamed, directory fsync'd),
 * so an interrupted run never leaves a truncated file that looks finished.
 * Devices, pipes and symlinks (/dev/null, a FIFO, /dev/stdout) are
 * written in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ---- input -------------------------------------------------------------- */

int cli_map_open(cli_map *m, const char *path)
{
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_fail_errno(path, "open");
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = cli_fail_errno(path, "stat");
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cli_fail(path, "not a regular file");
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int rc = cli_fail_errno(path, "mmap");
            close(fd);
            return rc;
        }
        madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
        m->data = p;
        m->len = (size_t)st.st_size;
    }
    close(fd); /* the mapping stays valid */
    return 0;
}

void cli_map_close(cli_map *m)
{
    if (m->data)
        munmap((void *)m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

int cli_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO; /* the file is shorter than its index says */
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int cli_write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------- */

/* Small writes (block headers) are gathered; big ones go straight out. */
#define OUT_BUF_SIZE ((size_t)1 << 20)

/* The name errors about the data written should carry. */
static const char *out_name(const cli_outfile *o)
{
    return o->tmp ? o->tmp : o->path;
}

int cli_out_open(cli_outfile *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    struct stat st;
    /* Only a plain file, or a new one, is replaced by rename; a symlink
     * (/dev/stdout), device or pipe is written through in place. */
    int in_place = lstat(path, &st) == 0 && !S_ISREG(st.st_mode);
    size_t n = strlen(path);
    o->path = strdup(path);
    o->tmp = in_place ? NULL : malloc(n + 5);
    o->buf = malloc(OUT_BUF_SIZE);
    if (o->tmp) {
        memcpy(o->tmp, path, n);
        memcpy(o->tmp + n, ".tmp", 5);
    }
    int rc = 0;
    if (!o->path || (!in_place && !o->tmp) || !o->buf)
        rc = cli_fail(path, "out of memory");
    else if (in_place)
        rc = (o->fd = open(path, O_WRONLY | O_CLOEXEC)) < 0
                 ? cli_fail_errno(path, "open")
                 : 0;
    else if ((o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                           0644)) < 0)
        rc = cli_fail_errno(o->tmp, "create");
    if (rc != 0) {
        free(o->tmp);
        o->tmp = NULL; /* nothing of ours to remove */
        cli_out_abort(o);
    }
    return rc;
}

static int out_flush(cli_outfile *o)
{
    if (o->used && cli_write_full(o->fd, o->buf, o->used) != 0)
        return cli_fail_errno(out_name(o), "write");
    o->used = 0;
    return 0;
}

int cli_out_write(cli_outfile *o, const void *data, size_t len)
{
    if (o->used + len > OUT_BUF_SIZE && out_flush(o) != 0)
        return CLI_EXIT_FAIL;
    if (len >= OUT_BUF_SIZE) {
        if (cli_write_full(o->fd, data, len) != 0)
            return cli_fail_errno(out_name(o), "write");
    } else {
        memcpy(o->buf + o->used, data, len);
        o->used += len;
    }
    o->written += len;
    return 0;
}

/* Makes the rename itself durable. */
static void fsync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int cli_out_commit(cli_outfile *o)
{
    if (out_flush(o) != 0)
        return CLI_EXIT_FAIL;
    /* In place (a device or pipe): nothing to make durable or rename. */
    if (o->tmp && fsync(o->fd) != 0)
        return cli_fail_errno(o->tmp, "fsync");
    int fd = o->fd;
    o->fd = -1;
    if (close(fd) != 0)
        return cli_fail_errno(out_name(o), "close");
    if (o->tmp) {
        if (rename(o->tmp, o->path) != 0)
            return cli_fail_errno(o->path, "rename");
        fsync_parent_dir(o->path);
        free(o->tmp);
        o->tmp = NULL;
    }
    cli_out_abort(o); /* frees the rest */
    return 0;
}

void cli_out_abort(cli_outfile *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    free(o->buf);
    o->tmp = o->path = NULL;
    o->buf = NULL;
}
