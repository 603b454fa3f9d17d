/*
 * elves.h - the one public header of libelves, the ELVES core.
 *
 * libelves turns model checkpoints into sequences of small, independent,
 * self-checking blocks and back.  It parses safetensors and GGUF into
 * segments (header, tensors, padding), picks a codec per tensor (lossless
 * float coding, ELF exponent-less floats, dictionary coding, zstd), and
 * encodes each tensor as blocks of a fixed decoded size, so that any byte
 * range of the original file can be rebuilt by decoding only the blocks that
 * cover it.
 *
 * Rules the whole library keeps:
 *   - No I/O: every function works on memory buffers or calls back into the
 *     caller.  No sockets, no files, no SQLite.
 *   - No global mutable state: every function is thread-safe.
 *   - No threads unless asked: functions that take `threads` start at most
 *     threads-1 helper threads for the duration of the call, and none when
 *     threads <= 1.
 *   - Errors are values: functions return 0 (ELVES_OK) on success and a
 *     negative elves_status on failure.  Functions that take an
 *     `elves_error *err` (which may be NULL) also write a one-line message
 *     naming the problem there.
 *   - Out-parameters come first and are named `out`.
 */
#ifndef ELVES_H
#define ELVES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ELVES_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum elves_status {
    ELVES_OK = 0,
    ELVES_E_NOMEM = -1,       /* allocation failed */
    ELVES_E_INVALID = -2,     /* bad argument from the caller */
    ELVES_E_FORMAT = -3,      /* malformed input checkpoint (parsers) */
    ELVES_E_CORRUPT = -4,     /* encoded data is damaged: bad header, bad
                                 sizes, checksum mismatch */
    ELVES_E_RANGE = -5,       /* offset or range outside the data */
    ELVES_E_UNSUPPORTED = -6, /* valid but not supported (version, codec) */
    ELVES_E_BOUND = -7,       /* a lossy codec exceeded its error bound */
    ELVES_E_CALLBACK = -8,    /* a caller's callback returned non-zero */
    ELVES_E_SMALL = -9,       /* output buffer too small */
    ELVES_E_BASE = -10        /* a delta block's base tensor is not
                                 available from the base source given */
} elves_status;

#define ELVES_ERROR_MSG_MAX 256

/* Filled by functions that fail; pass NULL when the message is not wanted. */
typedef struct elves_error {
    int code;                      /* an elves_status */
    char msg[ELVES_ERROR_MSG_MAX]; /* one line, no trailing newline */
} elves_error;

/* A static name for a status code ("corrupt data", ...). Never NULL. */
const char *elves_strerror(int code);

/* ------------------------------------------------------------------------ */
/* Data types                                                               */
/* ------------------------------------------------------------------------ */

/* Element types: every safetensors dtype, plus OPAQUE for byte ranges whose
 * structure libelves does not model (GGUF quantized blocks, headers, gaps). */
typedef enum elves_dtype {
    ELVES_DT_OPAQUE = 0,
    ELVES_DT_BOOL,
    ELVES_DT_U8,
    ELVES_DT_I8,
    ELVES_DT_U16,
    ELVES_DT_I16,
    ELVES_DT_U32,
    ELVES_DT_I32,
    ELVES_DT_U64,
    ELVES_DT_I64,
    ELVES_DT_F16,
    ELVES_DT_BF16,
    ELVES_DT_F32,
    ELVES_DT_F64,
    ELVES_DT_C64,
    ELVES_DT_F8_E5M2,
    ELVES_DT_F8_E4M3,
    ELVES_DT_F8_E8M0,
    ELVES_DT_F8_E4M3FNUZ,
    ELVES_DT_F8_E5M2FNUZ,
    ELVES_DT_F4,
    ELVES_DT_F6_E2M3,
    ELVES_DT_F6_E3M2,
    ELVES_DT_COUNT
} elves_dtype;

/* The safetensors spelling ("BF16", "F8_E4M3", ...); "OPAQUE" for OPAQUE. */
const char *elves_dtype_name(elves_dtype dt);
/* Parses a safetensors dtype name; returns ELVES_DT_OPAQUE if unknown. */
elves_dtype elves_dtype_from_name(const char *name);
/* Bits per element (1..128); 8 for OPAQUE (bytes). */
unsigned elves_dtype_bits(elves_dtype dt);

/* ------------------------------------------------------------------------ */
/* Checkpoint parsing and segmentation                                      */
/* ------------------------------------------------------------------------ */

#define ELVES_MAX_DIMS 8
/* Largest safetensors header accepted (the format's own limit). */
#define ELVES_ST_MAX_HEADER ((uint64_t)100000000)

typedef enum elves_format {
    ELVES_FMT_OPAQUE = 0, /* unknown format: one OPAQUE segment */
    ELVES_FMT_SAFETENSORS,
    ELVES_FMT_GGUF
} elves_format;

typedef enum elves_seg_kind {
    ELVES_SEG_HEADER =
        0,             /* format header bytes (length prefix, JSON, GGUF kv) */
    ELVES_SEG_TENSOR,  /* one tensor's data */
    ELVES_SEG_PADDING, /* alignment padding or unreferenced gap */
    ELVES_SEG_OPAQUE   /* a whole file of unknown format */
} elves_seg_kind;

typedef struct elves_segment {
    elves_seg_kind kind;
    elves_dtype dtype; /* OPAQUE unless kind == TENSOR with a known type */
    uint32_t ndim;
    uint64_t shape[ELVES_MAX_DIMS];
    uint64_t offset;    /* byte offset in the original file */
    uint64_t length;    /* byte length in the original file (may be 0) */
    char *name;         /* tensor name (UTF-8, NUL-terminated) or NULL */
    uint32_t gguf_type; /* GGUF ggml_type for GGUF tensors, else 0 */
} elves_segment;

/* "header", "tensor", "padding", "opaque". Never NULL. */
const char *elves_seg_kind_name(elves_seg_kind kind);

/* An ordered list of segments that covers every byte of a file exactly once:
 * segments[0].offset == 0, each next offset == previous offset + length, and
 * the last one ends at the file size. */
typedef struct elves_segments {
    elves_format format;
    uint64_t file_size;
    size_t count;
    elves_segment *items;
    char *metadata_json; /* safetensors "__metadata__" object as compact JSON,
                            or NULL; owned by the list */
} elves_segments;

/*
 * Parses a safetensors file held in memory (data, len = whole file).
 * Validation is strict: 8-byte header length vs file size, header at most
 * ELVES_ST_MAX_HEADER, JSON object starting with '{', known dtypes, shapes
 * with at most ELVES_MAX_DIMS dims, offsets contiguous from 0, in bounds and
 * non-overlapping, length == elements x dtype size (with overflow checks),
 * no duplicate names, buffer end == file end.  Tensors are returned in
 * offset order, preceded by one HEADER segment.
 * Returns ELVES_E_FORMAT with a message naming the problem on bad input.
 */
int elves_parse_safetensors(elves_segments **out, const uint8_t *data,
                            size_t len, elves_error *err);

/* Parses a GGUF (v2 or v3) file held in memory.  Tensor infos become TENSOR
 * segments (F32/F16/BF16/F64/I8..I64 mapped to dtypes; quantized and unknown
 * ggml types are OPAQUE byte ranges whose size is derived from the next
 * tensor's offset or the end of file), alignment padding becomes PADDING. */
int elves_parse_gguf(elves_segments **out, const uint8_t *data, size_t len,
                     elves_error *err);

/* Detects the format and parses.  Never fails on unknown or malformed input
 * for lack of structure: a file that is not a valid safetensors or GGUF
 * becomes a single OPAQUE segment (format ELVES_FMT_OPAQUE).  Fails only on
 * NOMEM/INVALID.  When `why` is not NULL and the file looked like a
 * safetensors/GGUF file but failed validation, the parser's message is
 * written there (why->code != 0).  An empty file gives format OPAQUE and
 * one OPAQUE segment of length 0, so count >= 1 always. */
int elves_segment_file(elves_segments **out, const uint8_t *data, size_t len,
                       elves_error *why);

void elves_segments_free(elves_segments *segs);

/* Checks that segs covers a file of file_size bytes as promised above
 * (first offset 0, each segment where the previous one ended, the last
 * ending at file_size), that kinds, dtypes and ndim are in range, and that
 * every TENSOR segment with a dtype is exactly elements x dtype size long.
 * Returns ELVES_OK, or ELVES_E_INVALID with a message naming the first bad
 * segment.  Tests and fuzzers hold every parser to it. */
int elves_segments_check(const elves_segments *segs, uint64_t file_size,
                         elves_error *err);

/* A coding unit: segments [first, first + count) encoded together as one
 * byte range.  Runs of consecutive small tensors of one dtype (at most
 * 8 KiB each, up to 256 KiB per run) are grouped: one block header, one
 * codec choice and one set of entropy tables instead of one per tiny
 * tensor.  A tensor that occurs twice in the file is never grouped, so its
 * copy can be stored as a reference.  `seg` is what to encode: the segment
 * itself when count == 1 (its name borrowed from the list), else a run with
 * no name, kind TENSOR with the members' dtype and shape [elements] (kind
 * OPAQUE for sub-byte dtypes). */
typedef struct elves_unit {
    size_t first;
    size_t count;
    elves_segment seg;
} elves_unit;

/* Plans the units of a segmented file (data = the whole file); they cover
 * every segment once, in order.  Free *out with elves_units_free. */
int elves_plan_units(elves_unit **out, size_t *count_out,
                     const elves_segments *segs, const uint8_t *data,
                     elves_error *err);
void elves_units_free(elves_unit *units);

/* ------------------------------------------------------------------------ */
/* Fingerprints                                                             */
/* ------------------------------------------------------------------------ */

typedef struct elves_fp128 {
    uint8_t b[16];
} elves_fp128;

/* 128-bit content hash (XXH3-128) of a tensor: covers dtype, shape and bytes,
 * so two tensors with the same bytes but another shape differ. */
void elves_tensor_fingerprint(elves_fp128 *out, elves_dtype dt,
                              const uint64_t *shape, uint32_t ndim,
                              const uint8_t *data, size_t len);

/* Lowercase hex of a fingerprint: 32 chars + NUL. */
void elves_fp128_hex(char out[33], const elves_fp128 *fp);

/* SHA-256 (OpenSSL libcrypto), one shot and streaming. */
int elves_sha256(uint8_t out[32], const uint8_t *data, size_t len);
typedef struct elves_sha256_ctx elves_sha256_ctx;
int elves_sha256_new(elves_sha256_ctx **out);
int elves_sha256_update(elves_sha256_ctx *ctx, const void *data, size_t len);
int elves_sha256_final(elves_sha256_ctx *ctx, uint8_t out[32]);
void elves_sha256_free(elves_sha256_ctx *ctx);
/* Lowercase hex: 64 chars + NUL. */
void elves_hex(char *out, const uint8_t *bytes, size_t n);

/* ------------------------------------------------------------------------ */
/* Codecs and blocks                                                        */
/* ------------------------------------------------------------------------ */

typedef enum elves_codec {
    ELVES_CODEC_RAW = 0,   /* stored as is */
    ELVES_CODEC_ZSTD = 1,  /* zstd of the bytes */
    ELVES_CODEC_FLOAT = 2, /* lossless float: sign/exponent symbols and
                              mantissa bytes in separate, entropy-coded
                              streams (F16, BF16, F32, F64) */
    ELVES_CODEC_ELF = 3,   /* ELF exponent-less F32 (lossy, |err| <= 2^-24) */
    ELVES_CODEC_DICT = 4,  /* value table + narrow indices, entropy-coded */
    ELVES_CODEC_DELTA = 5, /* against the same bytes of a base tensor: their
                              difference in planes, entropy-coded with
                              context (see "Delta coding" below) */
    ELVES_CODEC_COUNT
} elves_codec;

/* "raw", "zstd", "float", "elf", "dict", "delta". */
const char *elves_codec_name(elves_codec c);

typedef enum elves_mode {
    ELVES_MODE_LOSSLESS = 0, /* bit-exact, the default */
    ELVES_MODE_ELF = 1       /* F32 tensors may use ELF; everything else as
                                lossless */
} elves_mode;

/* Decoded bytes per block unless the caller chooses otherwise.  Chosen by
 * measurement (see README "Block size"). */
#define ELVES_DEFAULT_BLOCK_SIZE ((uint32_t)1 << 20)
#define ELVES_MAX_BLOCK_SIZE ((uint32_t)1 << 26)

/* Every block starts with this header, stored little-endian in
 * ELVES_BLOCK_HEADER_SIZE bytes:
 *   u8  magic 0xE5
 *   u8  codec        (elves_codec)
 *   u8  dtype        (elves_dtype the block was coded as)
 *   u8  flags        (bit 0: lossy)
 *   u32 raw_len      decoded bytes
 *   u32 enc_len      payload bytes that follow the header
 *   u64 checksum     XXH3-64 of the decoded bytes
 * A block is self-contained: it decodes with no other block and no table. */
#define ELVES_BLOCK_HEADER_SIZE 20
#define ELVES_BLOCK_MAGIC 0xE5u
#define ELVES_BLOCK_FLAG_LOSSY 0x01u

typedef struct elves_block_info {
    elves_codec codec;
    elves_dtype dtype;
    uint8_t flags;
    uint32_t raw_len;
    uint32_t enc_len;  /* payload only */
    uint64_t checksum; /* XXH3-64 of the decoded bytes */
} elves_block_info;

/* Reads and checks a block header (magic, codec, dtype, sizes within
 * ELVES_MAX_BLOCK_SIZE, header + enc_len <= len). */
int elves_block_info_read(elves_block_info *out, const uint8_t *block,
                          size_t len);

/* Worst-case encoded size of a block of raw_len bytes, header included. */
size_t elves_block_bound(size_t raw_len);

/*
 * Encodes one block of raw_len <= ELVES_MAX_BLOCK_SIZE bytes with the given
 * codec.  If the codec does not apply to the dtype (e.g. FLOAT on I32, ELF
 * on BF16) or does not fit the data (DICT with too many distinct values),
 * or the result would not be smaller than RAW, the block is written with a
 * fallback codec (the header tells which).  dst must hold
 * elves_block_bound(raw_len) bytes.  *out receives the block's total size.
 * ELF blocks are checked against the bound as they are written.
 */
int elves_block_encode(size_t *out, uint8_t *dst, size_t dst_cap,
                       const uint8_t *src, size_t raw_len, elves_dtype dt,
                       elves_codec codec, elves_error *err);

/*
 * Decodes one block into dst (dst_cap >= raw_len from its header) and checks
 * the checksum.  Never reads outside block[0..len) nor writes outside
 * dst[0..dst_cap): hostile input gives ELVES_E_CORRUPT, never a crash.
 * *out receives raw_len.  A delta block needs its base: it is
 * ELVES_E_BASE here, use elves_block_decode_base.
 */
int elves_block_decode(size_t *out, uint8_t *dst, size_t dst_cap,
                       const uint8_t *block, size_t len, elves_error *err);

/* ------------------------------------------------------------------------ */
/* Delta coding against a base model                                        */
/* ------------------------------------------------------------------------ */

/*
 * A fine-tuned tensor differs from its base tensor in few bits, so a delta
 * block codes src against base, the same bytes of the base tensor: for
 * float dtypes the difference of their bit patterns read as integers that
 * order as the values do (zigzagged, so a few units in the last place
 * either way is a small number), for other dtypes their XOR; both are
 * bit-exact for every input.  The result is split into byte planes from
 * the top and each plane below the first is coded as two streams: the
 * elements whose planes above are all zero, and the others (codec_delta.c
 * has the details).  Payload of a delta block:
 *   16 bytes  fingerprint of the base tensor (elves_tensor_fingerprint)
 *   u64       offset in the base tensor of the block's first byte
 *   the planes, as codec_delta.c lays them out.
 * Decoding reads the base bytes through a caller's callback, so the block
 * checksum (of the decoded bytes, as for every block) catches a wrong base.
 */

/* Reads the decoded bytes [offset, offset + len) of the base tensor whose
 * fingerprint is fp into out.  Called on any of the call's threads at
 * once, so it must be thread-safe.  Non-zero: that base is not available
 * (the call fails with ELVES_E_BASE). */
typedef int (*elves_base_read_fn)(void *ctx, const elves_fp128 *fp,
                                  uint64_t offset, uint32_t len,
                                  uint8_t *out);

/* Finds the base tensor a segment of the file being encoded is coded
 * against: 1 and *fp when there is one (same dtype and byte length), 0
 * when the segment is coded alone. */
typedef int (*elves_base_match_fn)(void *ctx, const elves_segment *seg,
                                   elves_fp128 *fp);

/* Where base tensors come from: a base file in memory
 * (elves_base_file_src), or the caller's store. */
typedef struct elves_base_src {
    elves_base_read_fn read;
    elves_base_match_fn match; /* encoders of whole files only; may be NULL */
    void *ctx;
    /* elves_container_compress: the base file's SHA-256, recorded in the
     * index so a decoder can tell a wrong base at once; NULL: none. */
    const uint8_t *file_sha256;
} elves_base_src;

/* One block's base: the fingerprint of the base tensor, the block's
 * offset in it and the raw_len base bytes there. */
typedef struct elves_delta {
    elves_fp128 fp;
    uint64_t offset;
    const uint8_t *base;
} elves_delta;

/*
 * elves_block_encode with a base: writes a delta block when it is smaller
 * than the block `codec` gives alone, else that block (a per-block choice:
 * rows a fine-tune left alone code as a near-empty delta, rows it rewrote
 * may be cheaper alone).  delta == NULL is elves_block_encode.  A delta
 * block is lossless whatever the mode, so an ELF bound holds either way.
 */
int elves_block_encode_delta(size_t *out, uint8_t *dst, size_t dst_cap,
                             const uint8_t *src, size_t raw_len,
                             elves_dtype dt, elves_codec codec,
                             const elves_delta *delta, elves_error *err);

/* elves_block_decode for any block: a delta block reads its base bytes
 * from base (NULL: ELVES_E_BASE). */
int elves_block_decode_base(size_t *out, uint8_t *dst, size_t dst_cap,
                            const uint8_t *block, size_t len,
                            const elves_base_src *base, elves_error *err);

/* The base a delta block needs: 1 with *fp and *offset set, 0 for a block
 * of another codec, or a negative status for a malformed block. */
int elves_block_base(elves_fp128 *fp, uint64_t *offset, const uint8_t *block,
                     size_t len);

/* Order-0 entropy in bytes of the byte planes of a ^ b (byte k of every
 * element in plane k, element size from dt; one plane for dtypes that are
 * not 2, 4 or 8 bytes): the yardstick delta coding is measured against
 * (the "XOR planes" bound of BitX/ZipLLM). */
double elves_xor_entropy_bound(const uint8_t *a, const uint8_t *b, size_t len,
                               elves_dtype dt);

/* A base checkpoint held in memory (safetensors or GGUF) as a source of
 * base tensors: each tensor fingerprinted once; match finds the tensor of
 * the same name, dtype and byte length, read finds a tensor by
 * fingerprint.  The data must outlive it. */
typedef struct elves_base_file elves_base_file;
int elves_base_file_open(elves_base_file **out, const uint8_t *data,
                         size_t len, elves_error *err);
/* Fills *out with read/match over bf; file_sha256 is left NULL. */
void elves_base_file_src(elves_base_src *out, const elves_base_file *bf);
/* Tensors in the base file. */
size_t elves_base_file_tensors(const elves_base_file *bf);
void elves_base_file_free(elves_base_file *bf);

/* Picks the codec for a whole tensor: tries the candidates that apply to the
 * dtype and mode on a sample of the data (a few spread slices, at most about
 * 256 KiB) and keeps the one whose output is smallest. */
int elves_choose_codec(elves_codec *out, const uint8_t *data, size_t len,
                       elves_dtype dt, elves_mode mode);

/* The order-0 bound the lossless float codec is measured against, in bytes:
 * for F16/BF16/F32/F64 data, n x H(sign+exponent symbol) / 8 plus the
 * mantissa bits stored raw; for other dtypes, n x H(byte) / 8 over bytes.
 * A yardstick for benchmarks and tests; not used by the codecs. */
double elves_entropy_bound(const uint8_t *data, size_t len, elves_dtype dt);

/* Order-0 entropy in bytes of ELF words' three byte planes for F32 data
 * (values that are ELF outliers counted at 4 bytes + 4 bytes of position). */
double elves_elf_entropy_bound(const uint8_t *data, size_t len);

/* The histograms that bound is made of: hist[0..2] count the top, middle
 * and low byte of the ELF word (sign << 23 | mantissa of |p| + 1) of every
 * F32 value that is not an ELF outlier; *outliers counts the others. */
void elves_elf_plane_hist(uint64_t hist[3][256], uint64_t *outliers,
                          const uint8_t *data, size_t len);

/* ------------------------------------------------------------------------ */
/* Segment encoding and parallel decoding                                   */
/* ------------------------------------------------------------------------ */

typedef struct elves_encode_opts {
    elves_mode mode;
    unsigned threads;    /* 0/1: caller's thread only */
    uint32_t block_size; /* 0: ELVES_DEFAULT_BLOCK_SIZE */
    /* elves_container_compress, lossless mode only: the input's SHA-256
     * when the caller already has it (hashed while receiving it, or named
     * by an LFS pointer).  It is recorded as given, not computed, so a
     * wrong one is only caught when the container is decoded and checked.
     * NULL: the encoder computes it. */
    const uint8_t *sha256;
    /* Delta coding: where base tensors are read (and, for whole files,
     * matched to segments); NULL: every segment is coded alone. */
    const elves_base_src *base;
} elves_encode_opts;

#define ELVES_ENCODE_OPTS_INIT                                                 \
    {                                                                          \
        ELVES_MODE_LOSSLESS, 1, 0, NULL, NULL                                  \
    }

/* Receives encoded blocks in order: index is the block number within the
 * segment, raw_offset its first byte's offset within the segment.  A
 * non-zero return stops encoding with ELVES_E_CALLBACK. */
typedef int (*elves_block_sink)(void *ctx, size_t index, uint64_t raw_offset,
                                uint32_t raw_len, const uint8_t *block,
                                size_t block_len);

/*
 * Encodes one segment's bytes as consecutive blocks of opts->block_size
 * decoded bytes (the last may be shorter; an empty segment gives no block).
 * The codec is chosen once with elves_choose_codec (TENSOR segments with a
 * dtype) or is ZSTD (everything else), and written to *codec_out if not
 * NULL.  Blocks are encoded on opts->threads threads and handed to sink in
 * order on the calling thread.
 */
int elves_encode_segment(elves_codec *codec_out, const uint8_t *src,
                         uint64_t len, const elves_segment *seg,
                         const elves_encode_opts *opts, elves_block_sink sink,
                         void *ctx, elves_error *err);

/* elves_encode_segment against the base tensor base_fp, whose bytes are
 * read block by block through opts->base (required): each block is the
 * smaller of its delta block and its block alone (elves_block_encode_delta).
 * src is bytes [base_offset, base_offset + len) of the tensor (a window of
 * a large one; 0 for a whole tensor): blocks read and name the base bytes
 * at base_offset + their offset.  *codec_out is the standalone codec
 * chosen.  base_fp == NULL is elves_encode_segment. */
int elves_encode_segment_delta(elves_codec *codec_out, const uint8_t *src,
                               uint64_t len, const elves_segment *seg,
                               const elves_fp128 *base_fp,
                               uint64_t base_offset,
                               const elves_encode_opts *opts,
                               elves_block_sink sink, void *ctx,
                               elves_error *err);

/* One encoded block to decode, and where its output goes. */
typedef struct elves_decode_job {
    const uint8_t *block;
    size_t block_len;
    uint8_t *dst;
    size_t dst_cap;
    const elves_base_src *base; /* for a delta block; NULL: none */
} elves_decode_job;

/* Decodes n independent blocks on up to `threads` threads.  Returns the
 * first error met (by job order) and its message. */
int elves_decode_blocks(const elves_decode_job *jobs, size_t n,
                        unsigned threads, elves_error *err);

/* ------------------------------------------------------------------------ */
/* Block maps and random access                                             */
/* ------------------------------------------------------------------------ */

/* Where one block of a file lives and which bytes of the original it
 * decodes to.  `loc` is the caller's: an offset in a container, a chunk id. */
typedef struct elves_block_ref {
    uint64_t raw_offset; /* offset of its first decoded byte in the file */
    uint32_t raw_len;
    uint32_t enc_len; /* whole block, header included */
    uint64_t loc;
} elves_block_ref;

/* Finds the blocks covering bytes [first, last] (inclusive) of a file whose
 * blocks are sorted by raw_offset and tile it without gaps.  *out_begin is
 * the first covering block's index, *out_end one past the last. */
int elves_blocks_cover(size_t *out_begin, size_t *out_end,
                       const elves_block_ref *blocks, size_t n, uint64_t first,
                       uint64_t last);

/* Fetches a block's bytes for range decoding: copy the enc_len bytes of
 * block `ref` into buf (capacity >= ref->enc_len). Non-zero = failure. */
typedef int (*elves_fetch_fn)(void *ctx, const elves_block_ref *ref,
                              uint8_t *buf);

/*
 * Writes bytes [first, last] of the original file to out (capacity
 * last-first+1), fetching and decoding only the blocks that cover them, on
 * up to `threads` threads.  Delta blocks read the same bytes of their base
 * tensor from `base` (may be NULL when the file has no delta blocks).
 */
int elves_decode_range(uint8_t *out, const elves_block_ref *blocks, size_t n,
                       uint64_t first, uint64_t last, elves_fetch_fn fetch,
                       void *ctx, const elves_base_src *base, unsigned threads,
                       elves_error *err);

/*
 * elves_decode_range for blocks already in memory (a container read whole
 * or mapped): block `ref` is the enc_len bytes at mem + ref->loc, decoded
 * where it lies, with no copy.  A block reaching past mem_len is
 * ELVES_E_CORRUPT.
 */
int elves_decode_range_mem(uint8_t *out, const elves_block_ref *blocks,
                           size_t n, uint64_t first, uint64_t last,
                           const uint8_t *mem, uint64_t mem_len,
                           const elves_base_src *base, unsigned threads,
                           elves_error *err);

/* ------------------------------------------------------------------------ */
/* Container: one self-describing file                                      */
/* ------------------------------------------------------------------------ */

/*
 * Layout (all little-endian):
 *   "ELVESC01" magic (8 bytes)
 *   blocks, back to back (each a self-checking block as above)
 *   index: binary, see container.c, ending with its XXH3-64
 *   footer (32 bytes): u64 index_offset, u64 index_len, u64 reserved,
 *                      "ELVESEND"
 * The index records the original file's size and SHA-256, its format, the
 * encode mode, each segment (kind, dtype, shape, name, offset, length,
 * codec, block range), each block's elves_block_ref (loc = offset in the
 * container) and, for a file delta-coded against a base (opts->base), the
 * base tensor of each segment coded against one and the base file's
 * SHA-256.  Segments with the same fingerprint share blocks (tensor
 * dedup inside the file); runs of small segments share the blocks of their
 * unit.
 */

typedef struct elves_container_segment {
    elves_segment seg; /* name owned by the container */
    elves_codec codec;
    size_t first_block; /* index in blocks[] */
    size_t nblocks;
    uint64_t stored_bytes; /* encoded bytes attributed (0 if deduplicated) */
    int dedup_of;          /* index of the segment whose blocks it reuses, or
                              -1 */
    int group_of;          /* member of a unit (elves_plan_units): index of
                              the unit's first segment, whose blocks hold
                              this one's bytes too (first_block and nblocks
                              are its), or -1 */
    int has_base;     /* an owner coded against a base tensor: its blocks
                         are delta blocks naming `base` or blocks alone */
    elves_fp128 base; /* that tensor's fingerprint */
} elves_container_segment;

typedef struct elves_container {
    uint64_t file_size;
    uint8_t sha256[32]; /* of the decoded file (= original if lossless) */
    elves_format format;
    elves_mode mode;
    uint32_t block_size;
    size_t nsegments;
    elves_container_segment *segments;
    /* The file's block map in file order (dedup'd segments repeat the refs
     * of the blocks they share, with the same loc). */
    size_t nblocks;
    elves_block_ref *blocks;
    uint64_t container_size;
    /* Delta coding: segments coded against a base, and the base file's
     * SHA-256 when the encoder was given one (has_base_sha). */
    size_t ndelta;
    int has_base_sha;
    uint8_t base_sha256[32];
} elves_container;

/* Writes container bytes through a callback, in order. */
typedef int (*elves_write_fn)(void *ctx, const uint8_t *data, size_t len);

/*
 * Compresses a whole file held in memory into a container, written through
 * `write` in one forward pass.  With opts->base (match required), each
 * tensor that is not grouped in a unit is coded against the base tensor
 * match names, block by block the smaller of delta and alone.  Fills *out_info (if not NULL) with the
 * container's index (free with elves_container_free).  For ELF mode the
 * recorded sha256 is that of the decoded (lossy) file.  In lossless mode
 * with opts->threads >= 2 and no opts->sha256, one of the threads hashes
 * the input while the others encode.
 */
int elves_container_compress(elves_container **out_info, const uint8_t *data,
                             size_t len, const elves_encode_opts *opts,
                             elves_write_fn write, void *ctx, elves_error *err);

/* Reads a container's index from its tail: `tail` holds the last tail_len
 * bytes of a container of total size container_size.  If the index does not
 * fit in the tail, returns ELVES_E_SMALL and sets *need to the tail length
 * required.  Validates everything (offsets in bounds, blocks tile the file,
 * segments cover it) so a hostile container is an error, never a crash. */
int elves_container_open(elves_container **out, const uint8_t *tail,
                         size_t tail_len, uint64_t container_size, size_t *need,
                         elves_error *err);

void elves_container_free(elves_container *c);

#ifdef __cplusplus
}
#endif

#endif /* ELVES_H */
