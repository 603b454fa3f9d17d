/*
 * block.c - the block format: the 20-byte header (see elves.h), the XXH3-64
 * checksum of the decoded bytes, dispatch to the codecs and the fallbacks
 * taken when a codec does not apply to the data or does not pay, and the
 * delta blocks: their base reference, the base bytes read through the
 * caller's callback, the choice between delta and alone.
 */
#include <pthread.h>
#include <stdlib.h>
#include <xxhash.h>

#include "codecs.h"
#include "internal.h"

/*
 * Per-thread codec contexts.  Creating zstd contexts and scratch buffers
 * for every block costs tens of microseconds, more than coding a small
 * tensor, so each thread keeps one es_stream_ctx between calls.  It is
 * freed by the key's destructor when the thread exits; the key itself is
 * created once and never changes (no mutable global state).
 */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static int ctx_key_ok;

static void ctx_destroy(void *p)
{
    es_stream_ctx_free(p);
    free(p);
}

static void ctx_key_create(void)
{
    ctx_key_ok = pthread_key_create(&ctx_key, ctx_destroy) == 0;
}

es_stream_ctx *es_thread_ctx(void)
{
    es_stream_ctx *sc;
    if (pthread_once(&ctx_once, ctx_key_create) != 0 || !ctx_key_ok)
        return NULL;
    sc = pthread_getspecific(ctx_key);
    if (sc)
        return sc;
    sc = malloc(sizeof *sc);
    if (!sc)
        return NULL;
    es_stream_ctx_init(sc);
    if (pthread_setspecific(ctx_key, sc) != 0) {
        free(sc);
        return NULL;
    }
    return sc;
}

static const char *const codec_names[ELVES_CODEC_COUNT] = {
    "raw", "zstd", "float", "elf", "dict", "delta"};

const char *elves_codec_name(elves_codec c)
{
    if ((unsigned)c >= ELVES_CODEC_COUNT)
        return "unknown";
    return codec_names[c];
}

size_t elves_block_bound(size_t raw_len)
{
    /* Every codec falls back to RAW unless it is strictly smaller. */
    return ELVES_BLOCK_HEADER_SIZE + raw_len;
}

int es_float_dtype(elves_dtype dt)
{
    return dt == ELVES_DT_F16 || dt == ELVES_DT_BF16 || dt == ELVES_DT_F32 ||
           dt == ELVES_DT_F64;
}

unsigned es_dict_unit(elves_dtype dt)
{
    unsigned bits = elves_dtype_bits(dt);
    if (bits == 16 || bits == 32 || bits == 64)
        return bits / 8;
    return 1; /* bytes, and sub-byte types whose elements share bytes */
}

/* Where a codec goes when it does not apply or does not pay. */
static elves_codec fallback(elves_codec c, elves_dtype dt)
{
    switch (c) {
    case ELVES_CODEC_ELF:
    case ELVES_CODEC_DICT:
        return es_float_dtype(dt) ? ELVES_CODEC_FLOAT : ELVES_CODEC_ZSTD;
    case ELVES_CODEC_FLOAT:
        return ELVES_CODEC_ZSTD;
    default:
        return ELVES_CODEC_RAW;
    }
}

static void header_write(uint8_t *dst, elves_codec codec, elves_dtype dt,
                         uint8_t flags, uint32_t raw_len, uint32_t enc_len,
                         uint64_t checksum)
{
    dst[0] = ELVES_BLOCK_MAGIC;
    dst[1] = (uint8_t)codec;
    dst[2] = (uint8_t)dt;
    dst[3] = flags;
    es_store32(dst + 4, raw_len);
    es_store32(dst + 8, enc_len);
    es_store64(dst + 12, checksum);
}

int es_codec_encode(es_stream_ctx *sc, elves_codec c, size_t *out, uint8_t *dst,
                    size_t cap, uint8_t *lossy_out, const uint8_t *src,
                    size_t n, elves_dtype dt)
{
    switch (c) {
    case ELVES_CODEC_ZSTD:
        return es_zstd_encode(sc, out, dst, cap, src, n);
    case ELVES_CODEC_FLOAT:
        if (!es_float_dtype(dt))
            return ES_NOFIT;
        return es_float_encode(sc, out, dst, cap, src, n, dt);
    case ELVES_CODEC_ELF:
        if (dt != ELVES_DT_F32 || !lossy_out)
            return ES_NOFIT;
        return es_elf_encode(sc, out, dst, cap, lossy_out, src, n);
    case ELVES_CODEC_DICT:
        return es_dict_encode(sc, out, dst, cap, src, n, dt);
    default:
        return ES_NOFIT;
    }
}

static int check_encode_args(size_t *out, uint8_t *dst, size_t dst_cap,
                             const uint8_t *src, size_t raw_len, elves_dtype dt,
                             elves_codec codec, elves_error *err)
{
    if (!out || !dst || (!src && raw_len))
        return es_fail(err, ELVES_E_INVALID, "block encode: NULL argument");
    if (raw_len > ELVES_MAX_BLOCK_SIZE)
        return es_fail(err, ELVES_E_INVALID,
                       "block encode: %zu bytes exceed the block maximum",
                       raw_len);
    if ((unsigned)dt >= ELVES_DT_COUNT || (unsigned)codec >= ELVES_CODEC_COUNT)
        return es_fail(err, ELVES_E_INVALID,
                       "block encode: unknown dtype %d or codec %d", (int)dt,
                       (int)codec);
    if (dst_cap < elves_block_bound(raw_len))
        return es_fail(err, ELVES_E_SMALL,
                       "block encode: destination holds %zu bytes, %zu needed",
                       dst_cap, elves_block_bound(raw_len));
    return 0;
}

int es_block_encode_ctx(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                        size_t dst_cap, const uint8_t *src, size_t raw_len,
                        elves_dtype dt, elves_codec codec, elves_error *err)
{
    uint8_t *payload = dst + ELVES_BLOCK_HEADER_SIZE, *lossy = NULL;
    size_t enc = 0;
    uint64_t sum;
    uint8_t flags = 0;
    elves_codec c = raw_len ? codec : ELVES_CODEC_RAW;
    int rc = check_encode_args(out, dst, dst_cap, src, raw_len, dt, codec, err);
    if (rc)
        return rc;
    if (c == ELVES_CODEC_ELF && dt == ELVES_DT_F32) {
        lossy = es_scratch(sc, ES_SCRATCH_BLOCK, raw_len);
        if (!lossy)
            return es_fail(err, ELVES_E_NOMEM, "block encode: out of memory");
    }
    while (c != ELVES_CODEC_RAW) {
        rc = es_codec_encode(sc, c, &enc, payload, raw_len - 1, lossy, src,
                             raw_len, dt);
        if (rc <= 0)
            break;
        c = fallback(c, dt);
    }
    if (rc < 0) {
        return es_fail(err, rc, "block encode (%s, %s): %s",
                       elves_codec_name(c), elves_dtype_name(dt),
                       elves_strerror(rc));
    }
    if (c == ELVES_CODEC_RAW) {
        if (raw_len)
            memcpy(payload, src, raw_len);
        enc = raw_len;
    }
    if (c == ELVES_CODEC_ELF) {
        flags = ELVES_BLOCK_FLAG_LOSSY;
        sum = XXH3_64bits(lossy, raw_len);
    } else {
        sum = XXH3_64bits(src, raw_len);
    }
    header_write(dst, c, dt, flags, (uint32_t)raw_len, (uint32_t)enc, sum);
    *out = ELVES_BLOCK_HEADER_SIZE + enc;
    return 0;
}

int elves_block_encode(size_t *out, uint8_t *dst, size_t dst_cap,
                       const uint8_t *src, size_t raw_len, elves_dtype dt,
                       elves_codec codec, elves_error *err)
{
    return elves_block_encode_delta(out, dst, dst_cap, src, raw_len, dt, codec,
                                    NULL, err);
}

/* ------------------------------------------------------------------------ */
/* Delta blocks                                                             */
/* ------------------------------------------------------------------------ */

/* The base reference in front of a delta payload: fingerprint, offset. */
#define DELTA_REF_LEN 24u

/* A delta block is kept without also coding the block alone when it is
 * this small a fraction of the raw bytes, or, for floats, below this share
 * of the order-0 bound of the block alone (elves_entropy_bound, which the
 * FLOAT codec comes within a few percent of): coding the block alone too
 * would double the encode time of every fine-tuned block. */
#define DELTA_SURE_DIV 16u
#define DELTA_SURE_OF_BOUND 0.95

/* Codes the delta payload (reference + planes) into dst[0..cap); 0 with
 * the payload length, or ES_NOFIT. */
static int delta_payload(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                       size_t cap, const uint8_t *src, size_t raw_len,
                       elves_dtype dt, const elves_delta *d)
{
    size_t enc = 0;
    int rc;
    if (cap <= DELTA_REF_LEN)
        return ES_NOFIT;
    memcpy(dst, d->fp.b, 16);
    es_store64(dst + 16, d->offset);
    rc = es_delta_encode(sc, &enc, dst + DELTA_REF_LEN, cap - DELTA_REF_LEN, src,
                       d->base, raw_len, dt);
    if (rc == 0)
        *out = DELTA_REF_LEN + enc;
    return rc;
}

static int encode_delta_ctx(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                            size_t dst_cap, const uint8_t *src, size_t raw_len,
                            elves_dtype dt, elves_codec codec,
                            const elves_delta *d, elves_error *err)
{
    uint8_t *alone;
    size_t enc = 0, alone_len = 0;
    int rc = check_encode_args(out, dst, dst_cap, src, raw_len, dt, codec, err);
    if (rc)
        return rc;
    if (!d->base && raw_len)
        return es_fail(err, ELVES_E_INVALID, "delta encode: no base bytes");
    rc = raw_len ? delta_payload(sc, &enc, dst + ELVES_BLOCK_HEADER_SIZE,
                               raw_len - 1, src, raw_len, dt, d)
                 : ES_NOFIT;
    if (rc < 0)
        return es_fail(err, rc, "delta encode (%s): %s", elves_dtype_name(dt),
                       elves_strerror(rc));
    if (rc == 0 && (enc <= raw_len / DELTA_SURE_DIV ||
                    (es_float_dtype(dt) &&
                     (double)enc < DELTA_SURE_OF_BOUND *
                                       elves_entropy_bound(src, raw_len, dt)))) {
        header_write(dst, ELVES_CODEC_DELTA, dt, 0, (uint32_t)raw_len,
                     (uint32_t)enc, XXH3_64bits(src, raw_len));
        *out = ELVES_BLOCK_HEADER_SIZE + enc;
        return 0;
    }
    /* The block alone, beside the delta payload (which stays in dst). */
    alone = es_scratch(sc, ES_SCRATCH_DELTA, elves_block_bound(raw_len));
    if (!alone)
        return es_fail(err, ELVES_E_NOMEM, "delta encode: out of memory");
    rc = es_block_encode_ctx(sc, &alone_len, alone, elves_block_bound(raw_len),
                             src, raw_len, dt, codec, err);
    if (rc)
        return rc;
    if (enc && ELVES_BLOCK_HEADER_SIZE + enc < alone_len) {
        header_write(dst, ELVES_CODEC_DELTA, dt, 0, (uint32_t)raw_len,
                     (uint32_t)enc, XXH3_64bits(src, raw_len));
        *out = ELVES_BLOCK_HEADER_SIZE + enc;
    } else {
        memcpy(dst, alone, alone_len);
        *out = alone_len;
    }
    return 0;
}

int es_block_encode_delta_ctx(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                              size_t dst_cap, const uint8_t *src,
                              size_t raw_len, elves_dtype dt,
                              elves_codec codec, const elves_delta *d,
                              elves_error *err)
{
    if (!d)
        return es_block_encode_ctx(sc, out, dst, dst_cap, src, raw_len, dt,
                                   codec, err);
    return encode_delta_ctx(sc, out, dst, dst_cap, src, raw_len, dt, codec, d,
                            err);
}

int elves_block_encode_delta(size_t *out, uint8_t *dst, size_t dst_cap,
                             const uint8_t *src, size_t raw_len,
                             elves_dtype dt, elves_codec codec,
                             const elves_delta *delta, elves_error *err)
{
    es_stream_ctx local, *sc = es_thread_ctx();
    int rc;
    if (!sc) {
        es_stream_ctx_init(&local);
        sc = &local;
    }
    rc = es_block_encode_delta_ctx(sc, out, dst, dst_cap, src, raw_len, dt,
                                   codec, delta, err);
    if (sc == &local)
        es_stream_ctx_free(&local);
    else
        es_stream_ctx_trim(sc);
    return rc;
}

/* Which dtypes a codec may legitimately be recorded with. */
static int codec_fits_dtype(elves_codec c, elves_dtype dt, uint8_t flags)
{
    if ((flags & ELVES_BLOCK_FLAG_LOSSY) != 0 && c != ELVES_CODEC_ELF)
        return 0;
    switch (c) {
    case ELVES_CODEC_FLOAT:
        return es_float_dtype(dt);
    case ELVES_CODEC_ELF:
        return dt == ELVES_DT_F32 && flags == ELVES_BLOCK_FLAG_LOSSY;
    default:
        return 1;
    }
}

int elves_block_info_read(elves_block_info *out, const uint8_t *block,
                          size_t len)
{
    elves_block_info bi;
    if (!out || (!block && len))
        return ELVES_E_INVALID;
    if (len < ELVES_BLOCK_HEADER_SIZE || block[0] != ELVES_BLOCK_MAGIC)
        return ELVES_E_CORRUPT;
    if (block[1] >= ELVES_CODEC_COUNT)
        return ELVES_E_UNSUPPORTED;
    bi.codec = (elves_codec)block[1];
    bi.dtype = (elves_dtype)block[2];
    bi.flags = block[3];
    bi.raw_len = es_load32(block + 4);
    bi.enc_len = es_load32(block + 8);
    bi.checksum = es_load64(block + 12);
    if (block[2] >= ELVES_DT_COUNT || (bi.flags & ~ELVES_BLOCK_FLAG_LOSSY) ||
        !codec_fits_dtype(bi.codec, bi.dtype, bi.flags))
        return ELVES_E_CORRUPT;
    if (bi.raw_len > ELVES_MAX_BLOCK_SIZE)
        return ELVES_E_CORRUPT;
    /* RAW stores exactly raw_len bytes; any other codec is only written
     * when strictly smaller. */
    if (bi.codec == ELVES_CODEC_RAW ? bi.enc_len != bi.raw_len
                                    : bi.enc_len >= bi.raw_len)
        return ELVES_E_CORRUPT;
    if (bi.enc_len > len - ELVES_BLOCK_HEADER_SIZE)
        return ELVES_E_CORRUPT;
    if (bi.codec == ELVES_CODEC_DELTA && bi.enc_len <= DELTA_REF_LEN)
        return ELVES_E_CORRUPT;
    *out = bi;
    return 0;
}

static int decode_with(es_stream_ctx *sc, const elves_block_info *bi,
                       uint8_t *dst, const uint8_t *payload)
{
    size_t n = bi->raw_len, len = bi->enc_len;
    switch (bi->codec) {
    case ELVES_CODEC_RAW:
        if (n)
            memcpy(dst, payload, n);
        return 0;
    case ELVES_CODEC_ZSTD:
        return es_zstd_decode(sc, dst, n, payload, len);
    case ELVES_CODEC_FLOAT:
        return es_float_decode(sc, dst, n, payload, len, bi->dtype);
    case ELVES_CODEC_ELF:
        return es_elf_decode(sc, dst, n, payload, len);
    case ELVES_CODEC_DICT:
        return es_dict_decode(sc, dst, n, payload, len, bi->dtype);
    default:
        return ELVES_E_CORRUPT;
    }
}

int elves_block_base(elves_fp128 *fp, uint64_t *offset, const uint8_t *block,
                     size_t len)
{
    elves_block_info bi;
    int rc = elves_block_info_read(&bi, block, len);
    if (rc)
        return rc;
    if (bi.codec != ELVES_CODEC_DELTA)
        return 0;
    if (fp)
        memcpy(fp->b, block + ELVES_BLOCK_HEADER_SIZE, 16);
    if (offset)
        *offset = es_load64(block + ELVES_BLOCK_HEADER_SIZE + 16);
    return 1;
}

/* A delta block: the base bytes into dst, then the planes applied. */
static int decode_delta(es_stream_ctx *sc, const elves_block_info *bi,
                      uint8_t *dst, const uint8_t *payload,
                      const elves_base_src *base, elves_error *err)
{
    elves_fp128 fp;
    char hex[33];
    uint64_t off = es_load64(payload + 16);
    int rc;

    memcpy(fp.b, payload, 16);
    if (!base || !base->read || base->read(base->ctx, &fp, off, bi->raw_len,
                                           dst) != 0) {
        elves_fp128_hex(hex, &fp);
        return es_fail(err, ELVES_E_BASE,
                       "block decode (delta): base tensor %s (bytes %llu+%u) "
                       "not available%s",
                       hex, (unsigned long long)off, (unsigned)bi->raw_len,
                       base ? "" : ": no base given");
    }
    rc = es_delta_decode(sc, dst, bi->raw_len, payload + DELTA_REF_LEN,
                       bi->enc_len - DELTA_REF_LEN, bi->dtype);
    if (rc)
        return es_fail(err, rc, "block decode (delta): %s",
                       rc == ELVES_E_CORRUPT ? "damaged payload"
                                             : elves_strerror(rc));
    return 0;
}

int es_block_decode_ctx(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                        size_t dst_cap, const uint8_t *block, size_t len,
                        const elves_base_src *base, elves_error *err)
{
    elves_block_info bi;
    int rc;
    if (!out || (!dst && dst_cap) || (!block && len))
        return es_fail(err, ELVES_E_INVALID, "block decode: NULL argument");
    rc = elves_block_info_read(&bi, block, len);
    if (rc)
        return es_fail(err, rc, "block decode: bad block header");
    if (dst_cap < bi.raw_len)
        return es_fail(err, ELVES_E_SMALL,
                       "block decode: destination holds %zu bytes, %u needed",
                       dst_cap, (unsigned)bi.raw_len);
    if (bi.codec == ELVES_CODEC_DELTA) {
        rc = decode_delta(sc, &bi, dst, block + ELVES_BLOCK_HEADER_SIZE, base,
                        err);
        if (rc)
            return rc;
    } else {
        rc = decode_with(sc, &bi, dst, block + ELVES_BLOCK_HEADER_SIZE);
        if (rc)
            return es_fail(err, rc, "block decode (%s): %s",
                           elves_codec_name(bi.codec),
                           rc == ELVES_E_CORRUPT ? "damaged payload"
                                                 : elves_strerror(rc));
    }
    if (XXH3_64bits(dst, bi.raw_len) != bi.checksum)
        return es_fail(err, ELVES_E_CORRUPT,
                       "block decode (%s): checksum mismatch%s",
                       elves_codec_name(bi.codec),
                       bi.codec == ELVES_CODEC_DELTA
                           ? " (a base other than the one it was coded "
                             "against?)"
                           : "");
    *out = bi.raw_len;
    return 0;
}

int elves_block_decode(size_t *out, uint8_t *dst, size_t dst_cap,
                       const uint8_t *block, size_t len, elves_error *err)
{
    return elves_block_decode_base(out, dst, dst_cap, block, len, NULL, err);
}

int elves_block_decode_base(size_t *out, uint8_t *dst, size_t dst_cap,
                            const uint8_t *block, size_t len,
                            const elves_base_src *base, elves_error *err)
{
    es_stream_ctx local, *sc = es_thread_ctx();
    int rc;
    if (!sc) {
        es_stream_ctx_init(&local);
        sc = &local;
    }
    rc = es_block_decode_ctx(sc, out, dst, dst_cap, block, len, base, err);
    if (sc == &local)
        es_stream_ctx_free(&local);
    else
        es_stream_ctx_trim(sc);
    return rc;
}
