/*
 * cli.h - shared declarations of the `elves` command-line program: the
 * command entry points, error reporting, option parsing, file I/O (mapped
 * input, atomically replaced output, containers read with pread), sliced
 * range decoding, the progress bar and text tables.
 *
 * The library (core/elves.h) does no I/O; everything that touches a file
 * descriptor lives here.
 */
#ifndef ELVES_CLI_H
#define ELVES_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "elves.h"

/* Exit codes: 0 success, 1 failure, 2 bad command line. */
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* ---- commands: argv[0] is the command name ------------------------------ */

int cmd_compress(int argc, char **argv);
int cmd_decompress(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* ---- errors: one line on stderr, "elves: <what>: <reason>" -------------- */

/* Prints the message and returns CLI_EXIT_FAIL. */
int cli_fail(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "<what>: <action>: strerror(errno)"; returns CLI_EXIT_FAIL. */
int cli_fail_errno(const char *what, const char *action);
/* A library failure: the message from err if any, else the status name. */
int cli_fail_lib(const char *what, int code, const elves_error *err);
/* Like cli_fail but for a bad command line; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- options ------------------------------------------------------------ */

/* Returned by cli_getopt besides option characters and -1. */
#define CLI_OPT_HELP (-2)  /* --help seen; usage was printed */
#define CLI_OPT_ERROR (-3) /* a bad option; the message was printed */

/*
 * getopt_long with the program's own messages.  `shortopts` must not start
 * with ':' (it is added); -h/--help is handled here: the command's usage is
 * printed to stdout and CLI_OPT_HELP returned.  Call with optind = 0 first.
 */
int cli_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *cmd,
               const char *usage);

/* A decimal count with an optional K/M/G (powers of 1024) suffix. */
int cli_parse_size(uint64_t *out, const char *s);
/* --threads: 1..1024, or 0 for one per online CPU. Prints on error. */
int cli_parse_threads(unsigned *out, const char *cmd, const char *s);
/* --block-size: 1..ELVES_MAX_BLOCK_SIZE bytes. Prints on error. */
int cli_parse_block_size(uint32_t *out, const char *cmd, const char *s);
/* --mode lossless|elf. Prints on error. */
int cli_parse_mode(elves_mode *out, const char *cmd, const char *s);
/* Online CPUs, at least 1. */
unsigned cli_nproc(void);
const char *cli_mode_name(elves_mode m);
const char *cli_format_name(elves_format f);

/* ---- time and numbers --------------------------------------------------- */

/* CLOCK_MONOTONIC in seconds. */
double cli_now(void);
/* Decimal megabytes per second; 0 when no time was measured. */
double cli_mbps(uint64_t bytes, double seconds);

/* ---- input files -------------------------------------------------------- */

/* A whole file mapped read-only (an empty file maps to len 0, data NULL). */
typedef struct cli_map {
    const uint8_t *data;
    size_t len;
} cli_map;

/* Maps path; prints the error and returns non-zero on failure. */
int cli_map_open(cli_map *m, const char *path);
void cli_map_close(cli_map *m);

/* Reads exactly len bytes at off; returns 0, or -1 with errno (EIO for a
 * short file). */
int cli_pread_full(int fd, void *buf, size_t len, uint64_t off);
/* Writes all of buf to fd, retrying on EINTR; 0 or -1 with errno. */
int cli_write_full(int fd, const void *buf, size_t len);

/* ---- output files: written to PATH.tmp, fsync'd, renamed over PATH ----- *
 * An existing PATH that is not a regular file (/dev/null, a FIFO, a
 * symlink such as /dev/stdout) is written in place: renaming over it would
 * replace the device, pipe or link with a plain file.  Then tmp is NULL. */

typedef struct cli_outfile {
    int fd;
    char *path;
    char *tmp; /* NULL when writing PATH in place */
    uint8_t *buf;
    size_t used;
    uint64_t written;
} cli_outfile;

/* Each prints its own error message and returns non-zero on failure. */
int cli_out_open(cli_outfile *o, const char *path);
int cli_out_write(cli_outfile *o, const void *data, size_t len);
/* Flushes, fsyncs, renames PATH.tmp to PATH and fsyncs the directory. */
int cli_out_commit(cli_outfile *o);
/* Removes PATH.tmp after a failure; safe to call after commit. */
void cli_out_abort(cli_outfile *o);

/* ---- progress bar on stderr (files over 100 MB, stderr a terminal) ----- */

typedef struct cli_progress {
    int on;
    const char *label;
    uint64_t total;
    uint64_t done;
    double start;
    double last_draw;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, uint64_t total);
void cli_progress_set(cli_progress *p, uint64_t done);
/* Erases the bar. */
void cli_progress_end(cli_progress *p);

/* ---- containers on disk ------------------------------------------------- */

#define CLI_CONTAINER_MAGIC "ELVESC01"

/* An open container file: its descriptor, size and validated index. */
typedef struct cli_archive {
    int fd;
    const char *path;
    uint64_t size;
    elves_container *c;
} cli_archive;

/* 1 if the file starts with the container magic, 0 if not, -1 on I/O
 * error (errno set). */
int cli_is_container(const char *path);
/* Opens and validates; prints the error and returns non-zero on failure. */
int cli_archive_open(cli_archive *a, const char *path);
void cli_archive_close(cli_archive *a);
/* elves_fetch_fn reading blocks with pread; ctx is the cli_archive. */
int cli_archive_fetch(void *ctx, const elves_block_ref *ref, uint8_t *buf);

/* Receives decoded bytes [raw_offset, raw_offset+len) of the original. */
typedef int (*cli_slice_fn)(void *ctx, uint64_t raw_offset, const uint8_t *data,
                            size_t len);

/* Reusable output buffer of the slice decoder. */
typedef struct cli_slicebuf {
    uint8_t *data;
    size_t cap;
} cli_slicebuf;

/* How many decoded bytes one slice aims at: memory stays bounded. */
#define CLI_SLICE_BYTES ((uint64_t)64 << 20)

/* Where the slice decoder finds a container's blocks: where they lie in
 * memory when mem is set (elves_decode_range_mem, no copy), else through
 * fetch(ctx, ...). */
typedef struct cli_blocks {
    elves_fetch_fn fetch;
    void *ctx;
    const uint8_t *mem;
    uint64_t mem_len;
    const elves_base_src *base; /* XOR blocks' base tensors, or NULL */
} cli_blocks;

/*
 * Decodes bytes [first, last] of the file described by c, in slices of whole
 * blocks of about CLI_SLICE_BYTES, handing each to `sink` in order.  A
 * non-zero return from sink stops with ELVES_E_CALLBACK.
 */
int cli_decode_slices(const elves_container *c, uint64_t first, uint64_t last,
                      const cli_blocks *src, unsigned threads,
                      cli_slicebuf *buf, cli_slice_fn sink, void *sink_ctx,
                      elves_error *err);
void cli_slicebuf_free(cli_slicebuf *buf);

/* ---- the base of delta coding (--base) ---------------------------------- */

/* A base checkpoint: mapped, or decoded into memory when it is a container
 * (which must not be delta-coded itself), with its SHA-256 and a source of
 * its tensors (src.file_sha256 points at sha256). */
typedef struct cli_base {
    const char *path;
    cli_map map;
    uint8_t *decoded;
    const uint8_t *data;
    size_t len;
    uint8_t sha256[32];
    elves_base_file *bf;
    elves_base_src src;
    uint64_t z19_long; /* elves bench: zstd -19 --long=27 of the base, or 0 */
} cli_base;

/* Each prints its own error and returns non-zero on failure. */
int cli_base_open(cli_base *b, const char *path, unsigned threads);
void cli_base_close(cli_base *b);
/* A decoder's check: a container with delta-coded tensors needs a base (b
 * NULL: none given), and the one whose SHA-256 it recorded. */
int cli_base_check(const cli_archive *a, const cli_base *b);

/* ---- text tables -------------------------------------------------------- */

typedef struct cli_table cli_table;

/* align: one char per column, 'l' or 'r'. */
cli_table *cli_table_new(const char *align, const char *const *headers);
/* Appends one printf-formatted cell; rows wrap after the last column. */
void cli_table_cell(cli_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A horizontal rule before the next row. */
void cli_table_rule(cli_table *t);
void cli_table_print(const cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* "[3, 3, 32]" into buf. */
void cli_shape_str(char *buf, size_t cap, const uint64_t *shape, uint32_t ndim);

#endif /* ELVES_CLI_H */
