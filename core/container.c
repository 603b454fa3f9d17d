/*
 * container.c - the self-describing container file that `elves compress`
 * writes: elves_container_compress produces it in one forward pass through
 * a write callback, elves_container_open reads and validates its index from
 * the tail, so a reader needs only the tail and then the blocks it wants.
 *
 * Layout (all little-endian), as promised in elves.h:
 *   "ELVESC01"
 *   blocks, back to back (each a self-checking block, see elves.h)
 *   index (below)
 *   footer, 32 bytes: u64 index_offset, u64 index_len, u64 reserved = 0,
 *                     "ELVESEND"
 *
 * Index, version 2 (index_len bytes starting at index_offset), as written:
 *   header, 24 bytes
 *      0  "ELVESIDX"
 *      8  u32 version = 2
 *     12  u32 flags = 0
 *     16  u64 body_len             bytes the frame decodes to
 *   a zstd frame (magicless, no content size, as in stream.h) of the
 *     version 1 index's bytes from offset 16 up to its hash (exclusive)
 *   u64 XXH3-64 of every index byte before it
 * The fixed-width records compress 6x to 9x, which took the index from 2%
 * to 7% of the container of small checkpoints down to about 1%.  The
 * reader rebuilds the version 1 layout in memory and checks that.
 *
 * Index, version 1 (still read):
 *   header, 88 bytes
 *      0  "ELVESIDX"
 *      8  u32 version = 1
 *     12  u32 flags = 0
 *     16  u64 file_size            original file size
 *     24  u8  sha256[32]           of the decoded file
 *     56  u8  format, u8 mode, u16 flags (bit 0: a base table follows
 *                                  the name pool)
 *     60  u32 block_size           decoded bytes per block
 *     64  u64 nsegments
 *     72  u64 nstored              blocks stored in the container
 *     80  u64 names_len            bytes in the name pool
 *   nsegments segment records, 120 bytes each, in file order
 *      0  u8 kind, u8 dtype, u8 codec, u8 ndim
 *      4  u32 gguf_type
 *      8  u64 offset               in the original file
 *     16  u64 length
 *     24  u64 shape[8]             dims past ndim are 0
 *     88  u64 first                first stored block
 *     96  u64 nblocks
 *    104  u32 dedup_of             segment whose blocks it reuses, or
 *                                  0xFFFFFFFF
 *    108  u32 flags                bit 0: has a name; bit 1: member of
 *                                  the unit the segment before it is in
 *    112  u32 name_off, 116 u32 name_len   in the name pool, no NUL
 *   nstored stored-block records, 16 bytes each, in container order
 *      0  u64 loc                  offset of the block in the container
 *      8  u32 raw_len
 *     12  u32 enc_len              whole block, header included
 *   name pool, names_len bytes
 *   base table, when header flag bit 0 is set (delta coding):
 *      0  u8  base_sha256[32]      of the base file, all zero if unknown
 *     32  u64 ndelta
 *     40  ndelta records, 24 bytes each, by increasing segment:
 *           u64 segment, u8 fingerprint[16] of its base tensor
 *   u64 XXH3-64 of every index byte before it
 *
 * Open accepts an index only if all of this holds (anything else is
 * ELVES_E_CORRUPT, an unknown version ELVES_E_UNSUPPORTED):
 *   - the footer points at an index that ends where the footer starts and
 *     starts after the magic; the hash matches; the record counts and the
 *     name pool add up to exactly index_len;
 *   - stored blocks tile [8, index_offset) back to back, each with
 *     1 <= raw_len <= block_size and a plausible enc_len;
 *   - segments tile [0, file_size) in order; a segment that owns its blocks
 *     takes the next ceil(length / block_size) stored blocks, all
 *     block_size long but the last, where length counts the members that
 *     follow it (first = its first, nblocks = 0, same codec, not
 *     deduplicated); together the owners take every stored block exactly
 *     once;
 *   - a deduplicated segment points at an earlier owner TENSOR segment with
 *     the same dtype, shape, length, codec and blocks, in no unit;
 *   - a base table names owner TENSOR segments only, each once.
 * Readers from before units refuse the member flag, so an old binary
 * reports such a container as inconsistent rather than misreading it.
 * Every block in the map therefore decodes to a known slice of the file.
 */
#include <pthread.h>
#include <stdlib.h>
#include <xxhash.h>
#include <zstd.h>

#include "codecs.h"
#include "internal.h"

#define MAGIC "ELVESC01"
#define END_MAGIC "ELVESEND"
#define IDX_MAGIC "ELVESIDX"
#define IDX_VERSION 2u
#define IDX_VERSION_PLAIN 1u
#define IDX_V2_HEADER_LEN 24u
/* A version 2 body larger than this is refused (256 MiB of records: 16 Mi
 * stored blocks), so a small hostile frame cannot ask for any size. */
#define IDX_MAX_BODY ((uint64_t)256 << 20)
#define MAGIC_LEN 8u
#define FOOTER_LEN 32u
#define IDX_HEADER_LEN 88u
#define SEG_REC_LEN 120u
#define BLK_REC_LEN 16u
#define IDX_HASH_LEN 8u
#define NO_DEDUP 0xFFFFFFFFu
#define SEG_HAS_NAME 1u
#define SEG_IN_GROUP 2u
#define IDX_HAS_BASES 1u
#define BASE_HEAD_LEN 40u
#define BASE_REC_LEN 24u

/* ------------------------------------------------------------------------ */
/* Reading the index                                                        */
/* ------------------------------------------------------------------------ */

typedef struct stored_block {
    uint64_t loc;
    uint32_t raw_len;
    uint32_t enc_len;
} stored_block;

typedef struct idx_reader {
    const uint8_t *idx; /* the whole index */
    uint64_t idx_len;
    uint64_t idx_off;
    uint64_t nsegments, nstored, names_len, ndelta;
    int has_bases;
    const uint8_t *segrecs, *blkrecs, *names, *bases;
    stored_block *stored;
    uint64_t *seg_first; /* per segment: first stored block */
    elves_container *c;
} idx_reader;

void elves_container_free(elves_container *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->segments && i < c->nsegments; i++)
        free(c->segments[i].seg.name);
    free(c->segments);
    free(c->blocks);
    free(c);
}

static uint64_t blocks_for(uint64_t length, uint32_t block_size)
{
    return length / block_size + (length % block_size != 0);
}

static int read_header(idx_reader *r, elves_error *err)
{
    const uint8_t *h = r->idx;
    elves_container *c = r->c;

    if (memcmp(h, IDX_MAGIC, 8) != 0)
        return es_fail(err, ELVES_E_CORRUPT, "container: bad index magic");
    if (es_load32(h + 8) != IDX_VERSION_PLAIN)
        return es_fail(err, ELVES_E_UNSUPPORTED,
                       "container: index version %u unsupported",
                       (unsigned)es_load32(h + 8));
    c->file_size = es_load64(h + 16);
    memcpy(c->sha256, h + 24, 32);
    c->format = (elves_format)h[56];
    c->mode = (elves_mode)h[57];
    c->block_size = es_load32(h + 60);
    r->has_bases = es_load16(h + 58) == IDX_HAS_BASES;
    if (es_load32(h + 12) != 0 || (es_load16(h + 58) & ~IDX_HAS_BASES) ||
        h[56] > ELVES_FMT_GGUF || h[57] > ELVES_MODE_ELF ||
        c->block_size == 0 || c->block_size > ELVES_MAX_BLOCK_SIZE)
        return es_fail(err, ELVES_E_CORRUPT, "container: bad index header");
    r->nsegments = es_load64(h + 64);
    r->nstored = es_load64(h + 72);
    r->names_len = es_load64(h + 80);
    return ELVES_OK;
}

/* The tables and the pool must fill the index exactly. */
static int check_table_sizes(idx_reader *r, elves_error *err)
{
    uint64_t rest = r->idx_len - IDX_HEADER_LEN - IDX_HASH_LEN, used;

    if (r->nsegments > rest / SEG_REC_LEN || r->nstored > rest / BLK_REC_LEN ||
        r->names_len > rest)
        goto bad;
    used = r->nsegments * SEG_REC_LEN + r->nstored * BLK_REC_LEN + r->names_len;
    if (used > rest)
        goto bad;
    r->segrecs = r->idx + IDX_HEADER_LEN;
    r->blkrecs = r->segrecs + r->nsegments * SEG_REC_LEN;
    r->names = r->blkrecs + r->nstored * BLK_REC_LEN;
    r->bases = r->names + r->names_len;
    if (r->has_bases) {
        if (rest - used < BASE_HEAD_LEN)
            goto bad;
        r->ndelta = es_load64(r->bases + 32);
        used += BASE_HEAD_LEN;
        if (r->ndelta > (rest - used) / BASE_REC_LEN)
            goto bad;
        used += r->ndelta * BASE_REC_LEN;
    }
    if (used == rest)
        return ELVES_OK;
bad:
    return es_fail(err, ELVES_E_CORRUPT,
                   "container: index tables do not add up to its length");
}

/* The base table: each entry an owner TENSOR segment, in increasing
 * order. */
static int read_bases(idx_reader *r, elves_error *err)
{
    elves_container *c = r->c;
    static const uint8_t zero[32];
    uint64_t prev = 0;

    if (!r->has_bases)
        return ELVES_OK;
    memcpy(c->base_sha256, r->bases, 32);
    c->has_base_sha = memcmp(r->bases, zero, 32) != 0;
    for (uint64_t k = 0; k < r->ndelta; k++) {
        const uint8_t *p = r->bases + BASE_HEAD_LEN + k * BASE_REC_LEN;
        uint64_t i = es_load64(p);
        elves_container_segment *cs;
        if (i >= r->nsegments || (k && i <= prev))
            return es_fail(err, ELVES_E_CORRUPT,
                           "container: base table entry %llu is inconsistent",
                           (unsigned long long)k);
        cs = &c->segments[i];
        if (cs->seg.kind != ELVES_SEG_TENSOR || cs->dedup_of != -1 ||
            cs->group_of != -1 ||
            (i + 1 < r->nsegments && c->segments[i + 1].group_of == (int)i))
            return es_fail(err, ELVES_E_CORRUPT,
                           "container: base table names segment %llu, which "
                           "owns no tensor blocks of its own",
                           (unsigned long long)i);
        cs->has_base = 1;
        memcpy(cs->base.b, p + 8, 16);
        prev = i;
    }
    c->ndelta = (size_t)r->ndelta;
    return ELVES_OK;
}

static int read_stored_blocks(idx_reader *r, elves_error *err)
{
    uint64_t expect = MAGIC_LEN;

    r->stored = calloc(r->nstored ? r->nstored : 1, sizeof *r->stored);
    if (!r->stored)
        return es_fail(err, ELVES_E_NOMEM, "container: no memory");
    for (uint64_t i = 0; i < r->nstored; i++) {
        const uint8_t *p = r->blkrecs + i * BLK_REC_LEN;
        stored_block *b = &r->stored[i];
        b->loc = es_load64(p);
        b->raw_len = es_load32(p + 8);
        b->enc_len = es_load32(p + 12);
        if (b->loc != expect || b->raw_len == 0 ||
            b->raw_len > r->c->block_size ||
            b->enc_len < ELVES_BLOCK_HEADER_SIZE ||
            b->enc_len > elves_block_bound(b->raw_len) ||
            b->enc_len > r->idx_off - expect)
            return es_fail(err, ELVES_E_CORRUPT,
                           "container: stored block %llu is inconsistent",
                           (unsigned long long)i);
        expect += b->enc_len;
    }
    if (expect != r->idx_off)
        return es_fail(err, ELVES_E_CORRUPT,
                       "container: blocks do not fill the data area");
    return ELVES_OK;
}

static int read_name(idx_reader *r, const uint8_t *p, elves_segment *s)
{
    uint32_t flags = es_load32(p + 108);
    uint64_t off = es_load32(p + 112), len = es_load32(p + 116);

    if (flags & ~(SEG_HAS_NAME | SEG_IN_GROUP))
        return ELVES_E_CORRUPT;
    if (!(flags & SEG_HAS_NAME))
        return off || len ? ELVES_E_CORRUPT : ELVES_OK;
    if (off > r->names_len || len > r->names_len - off ||
        memchr(r->names + off, 0, (size_t)len))
        return ELVES_E_CORRUPT;
    s->name = malloc((size_t)len + 1);
    if (!s->name)
        return ELVES_E_NOMEM;
    memcpy(s->name, r->names + off, (size_t)len);
    s->name[len] = '\0';
    return ELVES_OK;
}

/* Decodes the fixed fields of segment record i and checks them alone. */
static int read_segment_fields(idx_reader *r, uint64_t i, uint64_t *first,
                               uint64_t *nblocks, uint32_t *dedup_of,
                               int *member)
{
    const uint8_t *p = r->segrecs + i * SEG_REC_LEN;
    elves_container_segment *cs = &r->c->segments[i];
    elves_segment *s = &cs->seg;

    s->kind = (elves_seg_kind)p[0];
    s->dtype = (elves_dtype)p[1];
    cs->codec = (elves_codec)p[2];
    s->ndim = p[3];
    s->gguf_type = es_load32(p + 4);
    s->offset = es_load64(p + 8);
    s->length = es_load64(p + 16);
    if (p[0] > ELVES_SEG_OPAQUE || p[1] >= ELVES_DT_COUNT ||
        p[2] >= ELVES_CODEC_COUNT || p[3] > ELVES_MAX_DIMS)
        return ELVES_E_CORRUPT;
    if (r->c->mode == ELVES_MODE_LOSSLESS && cs->codec == ELVES_CODEC_ELF)
        return ELVES_E_CORRUPT;
    for (unsigned d = 0; d < ELVES_MAX_DIMS; d++) {
        s->shape[d] = es_load64(p + 24 + 8 * d);
        if (d >= s->ndim && s->shape[d])
            return ELVES_E_CORRUPT;
    }
    *first = es_load64(p + 88);
    *nblocks = es_load64(p + 96);
    *dedup_of = es_load32(p + 104);
    *member = (es_load32(p + 108) & SEG_IN_GROUP) != 0;
    return read_name(r, p, s);
}

/* Bytes coded by the unit that segment record i starts: its own and those
 * of the member records that follow it; 0 on overflow. */
static uint64_t unit_length(const idx_reader *r, uint64_t i)
{
    uint64_t len = es_load64(r->segrecs + i * SEG_REC_LEN + 16);

    for (uint64_t k = i + 1; k < r->nsegments; k++) {
        const uint8_t *p = r->segrecs + k * SEG_REC_LEN;
        uint64_t n = es_load64(p + 16);
        if (!(es_load32(p + 108) & SEG_IN_GROUP))
            break;
        if (n > UINT64_MAX - len)
            return 0;
        len += n;
    }
    return len;
}

/* An owner segment takes the next stored blocks for the bytes of its unit,
 * each block_size long but the last. */
static int check_owner(idx_reader *r, elves_container_segment *cs,
                       uint64_t first, uint64_t nblocks, uint64_t len,
                       uint64_t *next)
{
    uint32_t bs = r->c->block_size;

    if (first != *next || nblocks != blocks_for(len, bs) ||
        nblocks > r->nstored - first)
        return ELVES_E_CORRUPT;
    for (uint64_t k = 0; k < nblocks; k++) {
        const stored_block *b = &r->stored[first + k];
        uint64_t want = len - k * bs < bs ? len - k * bs : bs;
        if (b->raw_len != want)
            return ELVES_E_CORRUPT;
        cs->stored_bytes += b->enc_len;
    }
    *next += nblocks;
    return ELVES_OK;
}

/* A deduplicated segment is the same tensor as an earlier owner. */
static int check_dedup(idx_reader *r, uint64_t i, uint32_t of, uint64_t first,
                       uint64_t nblocks)
{
    const elves_container_segment *cs = &r->c->segments[i];
    const elves_container_segment *t;

    if (of >= i)
        return ELVES_E_CORRUPT;
    t = &r->c->segments[of];
    if (of + 1 < i && r->c->segments[of + 1].group_of == (int)of)
        return ELVES_E_CORRUPT; /* its blocks hold more than the tensor */
    if (t->dedup_of != -1 || t->group_of != -1 ||
        t->seg.kind != ELVES_SEG_TENSOR || cs->seg.kind != ELVES_SEG_TENSOR ||
        t->seg.length != cs->seg.length || t->seg.dtype != cs->seg.dtype ||
        t->seg.ndim != cs->seg.ndim ||
        memcmp(t->seg.shape, cs->seg.shape, sizeof t->seg.shape) != 0 ||
        t->codec != cs->codec || r->seg_first[of] != first ||
        t->nblocks != nblocks)
        return ELVES_E_CORRUPT;
    return ELVES_OK;
}

/* A member of a unit: coded in the blocks of the segment that starts the
 * unit (an owner, not deduplicated), with the same codec. */
static int check_member(idx_reader *r, uint64_t i, uint32_t of, uint64_t first,
                        uint64_t nblocks)
{
    const elves_container_segment *lead;

    if (i == 0 || of != NO_DEDUP || nblocks != 0)
        return ELVES_E_CORRUPT;
    lead = &r->c->segments[i - 1];
    if (lead->group_of != -1)
        lead = &r->c->segments[lead->group_of];
    if (lead->dedup_of != -1 || r->seg_first[lead - r->c->segments] != first ||
        lead->codec != r->c->segments[i].codec)
        return ELVES_E_CORRUPT;
    return ELVES_OK;
}

/* 32 Mi map entries (768 MiB of elves_block_ref): 32 TiB of file at the
 * default 1 MiB blocks. */
#define MAX_MAP_BLOCKS ((uint64_t)1 << 25)

static int read_segments(idx_reader *r, elves_error *err)
{
    elves_container *c = r->c;
    uint64_t pos = 0, next_stored = 0, nrefs = 0;

    c->segments = calloc(r->nsegments ? r->nsegments : 1, sizeof *c->segments);
    r->seg_first = calloc(r->nsegments ? r->nsegments : 1, sizeof(uint64_t));
    if (!c->segments || !r->seg_first)
        return es_fail(err, ELVES_E_NOMEM, "container: no memory");
    for (uint64_t i = 0; i < r->nsegments; i++) {
        elves_container_segment *cs = &c->segments[i];
        uint64_t first, nblocks;
        uint32_t of;
        int member;
        c->nsegments = i + 1; /* names so far are freed on failure */
        cs->dedup_of = -1;
        cs->group_of = -1;
        int rc = read_segment_fields(r, i, &first, &nblocks, &of, &member);
        if (!rc &&
            (cs->seg.offset != pos || cs->seg.length > c->file_size - pos))
            rc = ELVES_E_CORRUPT;
        if (!rc && member)
            rc = check_member(r, i, of, first, nblocks);
        else if (!rc && of == NO_DEDUP)
            rc = check_owner(r, cs, first, nblocks, unit_length(r, i),
                             &next_stored);
        else if (!rc)
            rc = check_dedup(r, i, of, first, nblocks);
        if (rc)
            return es_fail(err, rc, "container: segment %llu is %s",
                           (unsigned long long)i,
                           rc == ELVES_E_NOMEM ? "too big" : "inconsistent");
        r->seg_first[i] = first;
        if (member) {
            const elves_container_segment *lead = &c->segments[i - 1];
            cs->group_of = lead->group_of == -1 ? (int)(i - 1) : lead->group_of;
            lead = &c->segments[cs->group_of];
            cs->first_block = lead->first_block;
            cs->nblocks = lead->nblocks;
            pos += cs->seg.length;
            continue;
        }
        cs->dedup_of = of == NO_DEDUP ? -1 : (int)of;
        cs->first_block = (size_t)nrefs; /* position in the file's map */
        cs->nblocks = (size_t)nblocks;
        pos += cs->seg.length;
        if (nblocks > UINT64_MAX - nrefs)
            return es_fail(err, ELVES_E_CORRUPT, "container: too many blocks");
        nrefs += nblocks;
    }
    if (pos != c->file_size || next_stored != r->nstored ||
        nrefs > SIZE_MAX / sizeof(elves_block_ref))
        return es_fail(err, ELVES_E_CORRUPT,
                       "container: segments do not cover the file");
    /* Deduplicated segments repeat their owner's refs, so a small hostile
     * index could ask for a map quadratic in its size: cap the map. */
    if (nrefs > MAX_MAP_BLOCKS)
        return es_fail(err, ELVES_E_UNSUPPORTED,
                       "container: %llu blocks in the file map, more than "
                       "the %llu supported",
                       (unsigned long long)nrefs,
                       (unsigned long long)MAX_MAP_BLOCKS);
    c->nblocks = (size_t)nrefs;
    return ELVES_OK;
}

/* The file's block map in file order; a deduplicated segment repeats its
 * owner's blocks at its own offsets. */
static int build_block_map(idx_reader *r, elves_error *err)
{
    elves_container *c = r->c;

    c->blocks = calloc(c->nblocks ? c->nblocks : 1, sizeof *c->blocks);
    if (!c->blocks)
        return es_fail(err, ELVES_E_NOMEM,
                       "container: no memory for %zu "
                       "blocks",
                       c->nblocks);
    for (size_t i = 0; i < c->nsegments; i++) {
        const elves_container_segment *cs = &c->segments[i];
        if (cs->group_of != -1)
            continue; /* its bytes are in its unit's blocks */
        for (size_t k = 0; k < cs->nblocks; k++) {
            const stored_block *b = &r->stored[r->seg_first[i] + k];
            elves_block_ref *ref = &c->blocks[cs->first_block + k];
            ref->raw_offset = cs->seg.offset + (uint64_t)k * c->block_size;
            ref->raw_len = b->raw_len;
            ref->enc_len = b->enc_len;
            ref->loc = b->loc;
        }
    }
    return ELVES_OK;
}

static int parse_plain(elves_container **out, const uint8_t *idx,
                       uint64_t idx_len, uint64_t idx_off,
                       uint64_t container_size, elves_error *err)
{
    idx_reader r = {.idx = idx, .idx_len = idx_len, .idx_off = idx_off};
    int rc;

    r.c = calloc(1, sizeof *r.c);
    if (!r.c)
        return es_fail(err, ELVES_E_NOMEM, "container: no memory");
    r.c->container_size = container_size;
    rc = read_header(&r, err);
    if (!rc)
        rc = check_table_sizes(&r, err);
    if (!rc)
        rc = read_stored_blocks(&r, err);
    if (!rc)
        rc = read_segments(&r, err);
    if (!rc)
        rc = read_bases(&r, err);
    if (!rc)
        rc = build_block_map(&r, err);
    free(r.stored);
    free(r.seg_first);
    if (rc) {
        elves_container_free(r.c);
        return rc;
    }
    *out = r.c;
    return ELVES_OK;
}

/* A version 2 index: its frame decoded into the version 1 layout (hash
 * field left zero: the compressed bytes' hash was checked), then parsed
 * as such. */
static int parse_v2(elves_container **out, const uint8_t *idx,
                    uint64_t idx_len, uint64_t idx_off, uint64_t container_size,
                    elves_error *err)
{
    uint64_t body_len = es_load64(idx + 16);
    uint64_t frame_len = idx_len - IDX_V2_HEADER_LEN - IDX_HASH_LEN;
    es_stream_ctx local, *sc;
    uint8_t *plain;
    int rc;

    if (es_load32(idx + 12) != 0 || body_len < IDX_HEADER_LEN - 16 ||
        body_len > IDX_MAX_BODY)
        return es_fail(err, ELVES_E_CORRUPT, "container: bad index header");
    plain = malloc((size_t)body_len + 16 + IDX_HASH_LEN);
    if (!plain)
        return es_fail(err, ELVES_E_NOMEM, "container: no memory for index");
    memcpy(plain, IDX_MAGIC, 8);
    es_store32(plain + 8, IDX_VERSION_PLAIN);
    es_store32(plain + 12, 0);
    memset(plain + 16 + body_len, 0, IDX_HASH_LEN);
    sc = es_thread_ctx();
    if (!sc) {
        es_stream_ctx_init(&local);
        sc = &local;
    }
    rc = es_zstd_unframe(sc, plain + 16, (size_t)body_len,
                         idx + IDX_V2_HEADER_LEN, (size_t)frame_len);
    if (sc == &local)
        es_stream_ctx_free(&local);
    if (rc)
        rc = es_fail(err, rc, "container: %s",
                     rc == ELVES_E_NOMEM ? "no memory for index"
                                         : "damaged index frame");
    else
        rc = parse_plain(out, plain, body_len + 16 + IDX_HASH_LEN, idx_off,
                         container_size, err);
    free(plain);
    return rc;
}

static int parse_index(elves_container **out, const uint8_t *idx,
                       uint64_t idx_len, uint64_t idx_off,
                       uint64_t container_size, elves_error *err)
{
    uint64_t want = XXH3_64bits(idx, (size_t)(idx_len - IDX_HASH_LEN));

    if (es_load64(idx + idx_len - IDX_HASH_LEN) != want)
        return es_fail(err, ELVES_E_CORRUPT, "container: index hash mismatch");
    if (memcmp(idx, IDX_MAGIC, 8) != 0)
        return es_fail(err, ELVES_E_CORRUPT, "container: bad index magic");
    if (es_load32(idx + 8) == IDX_VERSION &&
        idx_len >= IDX_V2_HEADER_LEN + IDX_HASH_LEN)
        return parse_v2(out, idx, idx_len, idx_off, container_size, err);
    if (es_load32(idx + 8) == IDX_VERSION_PLAIN &&
        idx_len >= IDX_HEADER_LEN + IDX_HASH_LEN)
        return parse_plain(out, idx, idx_len, idx_off, container_size, err);
    return es_fail(err, ELVES_E_UNSUPPORTED,
                   "container: index version %u unsupported",
                   (unsigned)es_load32(idx + 8));
}

int elves_container_open(elves_container **out, const uint8_t *tail,
                         size_t tail_len, uint64_t container_size, size_t *need,
                         elves_error *err)
{
    const uint64_t min_idx = IDX_V2_HEADER_LEN + IDX_HASH_LEN;

    if (!out || (!tail && tail_len) || tail_len > container_size)
        return es_fail(err, ELVES_E_INVALID, "container: bad arguments");
    *out = NULL;
    if (container_size < MAGIC_LEN + min_idx + FOOTER_LEN)
        return es_fail(err, ELVES_E_CORRUPT,
                       "container: too small (%llu "
                       "bytes)",
                       (unsigned long long)container_size);
    if (tail_len < FOOTER_LEN) {
        if (need)
            *need = FOOTER_LEN;
        return es_fail(err, ELVES_E_SMALL, "container: need the footer");
    }
    const uint8_t *foot = tail + tail_len - FOOTER_LEN;
    uint64_t idx_off = es_load64(foot), idx_len = es_load64(foot + 8);
    if (memcmp(foot + 24, END_MAGIC, 8) != 0 || es_load64(foot + 16) != 0)
        return es_fail(err, ELVES_E_CORRUPT, "container: bad footer");
    if (idx_len < min_idx || idx_len > container_size - FOOTER_LEN ||
        idx_off != container_size - FOOTER_LEN - idx_len || idx_off < MAGIC_LEN)
        return es_fail(err, ELVES_E_CORRUPT, "container: bad index position");
    if (tail_len - FOOTER_LEN < idx_len) {
        if (need)
            *need = (size_t)(idx_len + FOOTER_LEN);
        return es_fail(err, ELVES_E_SMALL, "container: need %llu tail bytes",
                       (unsigned long long)(idx_len + FOOTER_LEN));
    }
    return parse_index(out, foot - idx_len, idx_len, idx_off, container_size,
                       err);
}

/* ------------------------------------------------------------------------ */
/* Writing a container                                                      */
/* ------------------------------------------------------------------------ */

typedef struct seg_out {
    elves_codec codec;
    uint64_t first, nblocks; /* stored blocks */
    uint32_t dedup_of;
    int member; /* coded in the unit of the segment before it */
    int lossy;  /* some block decodes to other bytes than the input */
    int has_base; /* coded against base tensor base_fp */
    elves_fp128 base_fp;
} seg_out;

/*
 * How the file's SHA-256 is had.  Lossless blocks decode to the input
 * itself, so in lossless mode the hash is that of the input: given by the
 * caller, or computed on a thread of its own beside the encoding (on the
 * 1 GB synthetic F32 checkpoint SHA-256 ran at 1.65 GB/s and took 55% of
 * one-thread container encoding).  In ELF mode lossy blocks decode to other
 * bytes, so the sink hashes what each block decodes to, in file order.
 */
enum { HASH_IN_SINK, HASH_GIVEN, HASH_THREAD };

typedef struct builder {
    const uint8_t *data;
    size_t len;
    const elves_segments *segs;
    elves_encode_opts opts;
    elves_write_fn write;
    void *wctx;
    uint64_t pos; /* container bytes written */
    int hash_how;
    elves_sha256_ctx *sha; /* HASH_IN_SINK and HASH_THREAD */
    pthread_t hasher;      /* HASH_THREAD: hashes data[0..len) into sha */
    int hasher_running;
    int hasher_rc;
    stored_block *stored;
    size_t nstored, stored_cap;
    seg_out *out;
    uint8_t *scratch; /* ELF mode only: a decoded lossy block */
    size_t cur;       /* segment being encoded (a unit's first) */
    const elves_segment *cur_seg; /* the byte range being encoded */
    int hash_only;    /* re-encoding a dedup'd lossy tensor to hash it */
    size_t ndelta;    /* owner segments coded against a base */
    int rc;           /* why the sink stopped */
    elves_error err;
} builder;

static int emit(builder *b, const uint8_t *p, size_t n)
{
    if (n && b->write(b->wctx, p, n))
        return ELVES_E_CALLBACK;
    b->pos += n;
    return ELVES_OK;
}

/* Feeds the decoded bytes of one block to the file hash: the input slice
 * itself unless the block is lossy, then what a reader will get back. */
static int hash_block(builder *b, uint64_t raw_offset, uint32_t raw_len,
                      const uint8_t *block, size_t block_len)
{
    const uint8_t *src = b->data + b->cur_seg->offset + raw_offset;
    elves_block_info info;
    size_t got;
    int rc;

    rc = elves_block_info_read(&info, block, block_len);
    if (rc)
        return es_fail(&b->err, rc, "container: encoder wrote a bad block");
    if (!(info.flags & ELVES_BLOCK_FLAG_LOSSY))
        return b->hash_how == HASH_IN_SINK
                   ? elves_sha256_update(b->sha, src, raw_len)
                   : ELVES_OK;
    if (!b->scratch) /* lossless mode promises bit-exact blocks */
        return es_fail(&b->err, ELVES_E_CORRUPT,
                       "container: lossy block in lossless mode");
    b->out[b->cur].lossy = 1;
    rc = elves_block_decode(&got, b->scratch, raw_len, block, block_len,
                            &b->err);
    if (!rc && got != raw_len)
        rc = es_fail(&b->err, ELVES_E_CORRUPT, "container: block size");
    if (!rc)
        rc = elves_sha256_update(b->sha, b->scratch, raw_len);
    return rc;
}

static int push_stored(builder *b, uint32_t raw_len, size_t block_len)
{
    if (b->nstored == b->stored_cap) {
        size_t cap = b->stored_cap ? 2 * b->stored_cap : 64;
        stored_block *p = realloc(b->stored, cap * sizeof *p);
        if (!p)
            return es_fail(&b->err, ELVES_E_NOMEM, "container: no memory");
        b->stored = p;
        b->stored_cap = cap;
    }
    b->stored[b->nstored++] =
        (stored_block){b->pos, raw_len, (uint32_t)block_len};
    return ELVES_OK;
}

static int block_sink(void *ctx, size_t index, uint64_t raw_offset,
                      uint32_t raw_len, const uint8_t *block, size_t block_len)
{
    builder *b = ctx;
    int rc = hash_block(b, raw_offset, raw_len, block, block_len);

    if (!rc && !b->hash_only) {
        rc = push_stored(b, raw_len, block_len);
        if (!rc && emit(b, block, block_len))
            rc = es_fail(&b->err, ELVES_E_CALLBACK,
                         "container: write callback failed");
    }
    b->rc = rc;
    return rc;
}

/* Encodes s, the byte range of the unit starting at segment i. */
static int encode_one(builder *b, size_t i, const elves_segment *s,
                      elves_error *err)
{
    seg_out *o = &b->out[i];

    b->cur = i;
    b->cur_seg = s;
    b->rc = ELVES_OK;
    if (!b->hash_only) {
        o->first = b->nstored;
        o->dedup_of = NO_DEDUP;
    }
    int rc = elves_encode_segment_delta(
        &o->codec, b->data + s->offset, s->length, s,
        o->has_base ? &o->base_fp : NULL, 0, &b->opts, block_sink, b, err);
    if (rc == ELVES_E_CALLBACK && b->rc) {
        rc = b->rc;
        if (err)
            *err = b->err;
    }
    if (!b->hash_only)
        o->nblocks = b->nstored - o->first;
    return rc;
}

/* Segment i repeats owner j: share its blocks; hash what it decodes to. */
static int dedup_one(builder *b, size_t i, size_t j, elves_error *err)
{
    const elves_segment *s = &b->segs->items[i];
    seg_out *o = &b->out[i];
    int rc = ELVES_OK;

    *o = b->out[j];
    o->dedup_of = (uint32_t)j;
    if (b->hash_how != HASH_IN_SINK)
        return ELVES_OK;
    if (!b->out[j].lossy)
        return elves_sha256_update(b->sha, b->data + s->offset, s->length);
    /* Encoding is deterministic, so encoding the same bytes again gives
     * the owner's blocks, whose decoded form we need for the hash. */
    b->hash_only = 1;
    rc = encode_one(b, i, s, err);
    b->hash_only = 0;
    o->codec = b->out[j].codec;
    return rc;
}

/* A run of segments coded as one: the first owns the blocks, the others
 * are members of its unit. */
static int encode_group(builder *b, const elves_unit *u, elves_error *err)
{
    int rc = encode_one(b, u->first, &u->seg, err);

    for (size_t k = 1; !rc && k < u->count; k++) {
        seg_out *m = &b->out[u->first + k];
        *m = b->out[u->first];
        m->nblocks = 0;
        m->member = 1;
    }
    return rc;
}

/* Delta coding: the base tensor of segment i, if the base source has
 * one of the same dtype and length. */
static void match_base(builder *b, size_t i, const elves_segment *s)
{
    const elves_base_src *base = b->opts.base;
    seg_out *o = &b->out[i];

    if (!base || !base->match || !base->read ||
        s->kind != ELVES_SEG_TENSOR || s->dtype == ELVES_DT_OPAQUE ||
        !s->length)
        return;
    o->has_base = base->match(base->ctx, s, &o->base_fp) == 1;
    b->ndelta += o->has_base;
}

static int compress_segments(builder *b, elves_error *err)
{
    es_fp_table t;
    elves_unit *units = NULL;
    size_t nunits = 0;
    int rc = es_fp_table_init(&t, b->segs->count);

    if (rc)
        es_fail(err, rc, "container: no memory");
    else
        rc = elves_plan_units(&units, &nunits, b->segs, b->data, err);
    for (size_t k = 0; !rc && k < nunits; k++) {
        size_t i = units[k].first, j = SIZE_MAX;
        const elves_segment *s = &b->segs->items[i];
        if (units[k].count > 1) {
            rc = encode_group(b, &units[k], err);
            continue;
        }
        if (s->kind == ELVES_SEG_TENSOR && s->length)
            j = es_fp_table_find_or_add(&t, b->segs, b->data, i);
        if (j == SIZE_MAX)
            match_base(b, i, s);
        rc = j == SIZE_MAX ? encode_one(b, i, s, err) : dedup_one(b, i, j, err);
    }
    elves_units_free(units);
    es_fp_table_free(&t);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Serialising the index                                                    */
/* ------------------------------------------------------------------------ */

static void put_segment(uint8_t *p, const elves_segment *s, const seg_out *o,
                        uint32_t name_off, uint32_t name_len)
{
    p[0] = (uint8_t)s->kind;
    p[1] = (uint8_t)s->dtype;
    p[2] = (uint8_t)o->codec;
    p[3] = (uint8_t)s->ndim;
    es_store32(p + 4, s->gguf_type);
    es_store64(p + 8, s->offset);
    es_store64(p + 16, s->length);
    for (unsigned d = 0; d < ELVES_MAX_DIMS; d++)
        es_store64(p + 24 + 8 * d, d < s->ndim ? s->shape[d] : 0);
    es_store64(p + 88, o->first);
    es_store64(p + 96, o->nblocks);
    es_store32(p + 104, o->dedup_of);
    es_store32(p + 108,
               (s->name ? SEG_HAS_NAME : 0) | (o->member ? SEG_IN_GROUP : 0));
    es_store32(p + 112, name_off);
    es_store32(p + 116, name_len);
}

static void put_header(uint8_t *h, const builder *b, const uint8_t sha[32],
                       uint64_t names_len)
{
    memcpy(h, IDX_MAGIC, 8);
    es_store32(h + 8, IDX_VERSION_PLAIN);
    es_store32(h + 12, 0);
    es_store64(h + 16, b->segs->file_size);
    memcpy(h + 24, sha, 32);
    h[56] = (uint8_t)b->segs->format;
    h[57] = (uint8_t)b->opts.mode;
    es_store16(h + 58, b->ndelta ? IDX_HAS_BASES : 0);
    es_store32(h + 60, b->opts.block_size);
    es_store64(h + 64, b->segs->count);
    es_store64(h + 72, b->nstored);
    es_store64(h + 80, names_len);
}

/* The base table: the base file's hash, then each owner segment coded
 * against a base (dedup'd copies share their owner's blocks). */
static void put_bases(uint8_t *p, const builder *b)
{
    size_t k = 0;

    memset(p, 0, 32);
    if (b->opts.base && b->opts.base->file_sha256)
        memcpy(p, b->opts.base->file_sha256, 32);
    es_store64(p + 32, b->ndelta);
    for (size_t i = 0; i < b->segs->count; i++) {
        const seg_out *o = &b->out[i];
        if (!o->has_base || o->dedup_of != NO_DEDUP || o->member)
            continue;
        uint8_t *r = p + BASE_HEAD_LEN + k++ * BASE_REC_LEN;
        es_store64(r, i);
        memcpy(r + 8, o->base_fp.b, 16);
    }
}

/* Builds the version 1 index (hash field left zero) in *out. */
static int build_plain(uint8_t **out, size_t *out_len, const builder *b,
                       const uint8_t sha[32], elves_error *err)
{
    const elves_segments *segs = b->segs;
    size_t names_len = 0, npos = 0;

    for (size_t i = 0; i < segs->count; i++)
        if (segs->items[i].name)
            names_len += strlen(segs->items[i].name);
    if (names_len > UINT32_MAX || segs->count >= NO_DEDUP)
        return es_fail(err, ELVES_E_INVALID, "container: too many names");
    size_t bases_len =
        b->ndelta ? BASE_HEAD_LEN + b->ndelta * BASE_REC_LEN : 0;
    size_t idx_len = IDX_HEADER_LEN + segs->count * SEG_REC_LEN +
                     b->nstored * BLK_REC_LEN + names_len + bases_len +
                     IDX_HASH_LEN;
    uint8_t *buf = calloc(1, idx_len + FOOTER_LEN);
    if (!buf)
        return es_fail(err, ELVES_E_NOMEM, "container: no memory for index");
    put_header(buf, b, sha, names_len);
    uint8_t *segp = buf + IDX_HEADER_LEN;
    uint8_t *blkp = segp + segs->count * SEG_REC_LEN;
    uint8_t *names = blkp + b->nstored * BLK_REC_LEN;
    for (size_t i = 0; i < segs->count; i++) {
        const char *nm = segs->items[i].name;
        size_t n = nm ? strlen(nm) : 0;
        put_segment(segp + i * SEG_REC_LEN, &segs->items[i], &b->out[i],
                    nm ? (uint32_t)npos : 0, (uint32_t)n);
        memcpy(names + npos, nm ? nm : "", n);
        npos += n;
    }
    for (size_t i = 0; i < b->nstored; i++) {
        es_store64(blkp + i * BLK_REC_LEN, b->stored[i].loc);
        es_store32(blkp + i * BLK_REC_LEN + 8, b->stored[i].raw_len);
        es_store32(blkp + i * BLK_REC_LEN + 12, b->stored[i].enc_len);
    }
    if (b->ndelta)
        put_bases(names + names_len, b);
    *out = buf;
    *out_len = idx_len;
    return ELVES_OK;
}

/* Compresses the version 1 bytes [16, hash) as one frame on the calling
 * thread's LZ context; 0, or a negative status. */
static int compress_body(uint8_t *dst, size_t cap, size_t *frame_len,
                         const uint8_t *body, size_t body_len)
{
    es_stream_ctx local, *sc = es_thread_ctx();
    int rc;

    if (!sc) {
        es_stream_ctx_init(&local);
        sc = &local;
    }
    rc = es_zstd_frame(sc, frame_len, dst, cap, body, body_len,
                       ES_BEST_LZ_LEVEL);
    if (sc == &local)
        es_stream_ctx_free(&local);
    return rc == ES_NOFIT ? ELVES_E_NOMEM : rc; /* cap is zstd's bound */
}

/* Builds the version 2 index + footer in one buffer (*out, *out_len) from
 * the version 1 bytes (plain, plain_len). */
static int build_index(uint8_t **out, size_t *out_len, const builder *b,
                       const uint8_t *plain, size_t plain_len, elves_error *err)
{
    size_t body_len = plain_len - 16 - IDX_HASH_LEN, frame_len = 0, idx_len;
    size_t cap = ZSTD_compressBound(body_len);
    uint8_t *buf = malloc(IDX_V2_HEADER_LEN + cap + IDX_HASH_LEN + FOOTER_LEN);
    int rc;

    if (!buf)
        return es_fail(err, ELVES_E_NOMEM, "container: no memory for index");
    rc = compress_body(buf + IDX_V2_HEADER_LEN, cap, &frame_len, plain + 16,
                       body_len);
    if (rc) {
        free(buf);
        return es_fail(err, rc, "container: compressing the index failed");
    }
    memcpy(buf, IDX_MAGIC, 8);
    es_store32(buf + 8, IDX_VERSION);
    es_store32(buf + 12, 0);
    es_store64(buf + 16, body_len);
    idx_len = IDX_V2_HEADER_LEN + frame_len + IDX_HASH_LEN;
    es_store64(buf + idx_len - IDX_HASH_LEN,
               XXH3_64bits(buf, idx_len - IDX_HASH_LEN));
    uint8_t *foot = buf + idx_len;
    memset(foot, 0, FOOTER_LEN);
    es_store64(foot, b->pos);
    es_store64(foot + 8, idx_len);
    memcpy(foot + 24, END_MAGIC, 8);
    *out = buf;
    *out_len = idx_len + FOOTER_LEN;
    return ELVES_OK;
}

static void *hasher_main(void *arg)
{
    builder *b = arg;
    b->hasher_rc = elves_sha256_update(b->sha, b->data, b->len);
    return NULL;
}

/* Waits for the hashing thread, if one runs; its status. */
static int hasher_join(builder *b)
{
    if (!b->hasher_running)
        return ELVES_OK;
    pthread_join(b->hasher, NULL);
    b->hasher_running = 0;
    return b->hasher_rc;
}

/* The file's SHA-256, however it is had (see hash_how). */
static int file_sha(builder *b, uint8_t sha[32])
{
    int rc;

    if (b->hash_how == HASH_GIVEN) {
        memcpy(sha, b->opts.sha256, 32);
        return ELVES_OK;
    }
    rc = hasher_join(b);
    return rc ? rc : elves_sha256_final(b->sha, sha);
}

/* Writes index and footer; fills *out_info if asked, through the
 * validation a reader applies to the version 1 bytes (the compressed
 * frame is not decoded back: that cost 1% of the encode time of the
 * shared checkpoints and checks only zstd). */
static int finish(builder *b, elves_container **out_info, elves_error *err)
{
    uint8_t sha[32], *plain = NULL, *tail = NULL;
    size_t plain_len = 0, tail_len = 0;
    uint64_t idx_off = b->pos;
    int rc = file_sha(b, sha);

    if (rc)
        return es_fail(err, rc, "container: sha256 failed");
    rc = build_plain(&plain, &plain_len, b, sha, err);
    if (!rc)
        rc = build_index(&tail, &tail_len, b, plain, plain_len, err);
    if (!rc && emit(b, tail, tail_len))
        rc = es_fail(err, ELVES_E_CALLBACK, "container: write callback failed");
    else if (!rc && out_info)
        rc = parse_plain(out_info, plain, plain_len, idx_off, b->pos, err);
    free(plain);
    free(tail);
    return rc;
}

/* The parser's segments must tile the input; anything else would make us
 * read outside it. */
static int check_segments(const elves_segments *segs, size_t len,
                          elves_error *err)
{
    uint64_t pos = 0;

    for (size_t i = 0; i < segs->count; i++) {
        const elves_segment *s = &segs->items[i];
        if (s->offset != pos || s->length > len - pos)
            return es_fail(err, ELVES_E_INVALID,
                           "container: segment %zu does not tile the file", i);
        pos += s->length;
    }
    if (pos != len || segs->file_size != len)
        return es_fail(err, ELVES_E_INVALID,
                       "container: segments do not cover the file");
    return ELVES_OK;
}

static int builder_init(builder *b, const uint8_t *data, size_t len,
                        const elves_encode_opts *opts, elves_write_fn write,
                        void *ctx, elves_error *err)
{
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;

    memset(b, 0, sizeof *b);
    if (opts)
        o = *opts;
    if (!o.block_size)
        o.block_size = ELVES_DEFAULT_BLOCK_SIZE;
    if (o.block_size > ELVES_MAX_BLOCK_SIZE ||
        (unsigned)o.mode > ELVES_MODE_ELF)
        return es_fail(err, ELVES_E_INVALID, "container: bad options");
    if (o.sha256 && o.mode != ELVES_MODE_LOSSLESS)
        return es_fail(err, ELVES_E_INVALID,
                       "container: a given SHA-256 is for lossless mode only "
                       "(ELF records the hash of the decoded file)");
    b->data = data;
    b->len = len;
    b->opts = o;
    b->write = write;
    b->wctx = ctx;
    if (o.sha256)
        b->hash_how = HASH_GIVEN;
    else if (o.mode == ELVES_MODE_LOSSLESS && o.threads >= 2)
        b->hash_how = HASH_THREAD;
    else
        b->hash_how = HASH_IN_SINK;
    if (b->hash_how != HASH_GIVEN && elves_sha256_new(&b->sha) != ELVES_OK)
        return es_fail(err, ELVES_E_NOMEM, "container: no memory");
    if (o.mode == ELVES_MODE_ELF && !(b->scratch = malloc(o.block_size)))
        return es_fail(err, ELVES_E_NOMEM, "container: no memory");
    return ELVES_OK;
}

/* HASH_THREAD: hashes the input on a thread of its own, which takes one of
 * the encoder's threads; hashing in the sink if the thread cannot start. */
static void hasher_start(builder *b)
{
    if (b->hash_how != HASH_THREAD)
        return;
    if (pthread_create(&b->hasher, NULL, hasher_main, b) != 0) {
        b->hash_how = HASH_IN_SINK;
        return;
    }
    b->hasher_running = 1;
    b->opts.threads--;
}

int elves_container_compress(elves_container **out_info, const uint8_t *data,
                             size_t len, const elves_encode_opts *opts,
                             elves_write_fn write, void *ctx, elves_error *err)
{
    elves_segments *segs = NULL;
    builder b;
    int rc;

    if (out_info)
        *out_info = NULL;
    if (!write || (!data && len))
        return es_fail(err, ELVES_E_INVALID, "container: bad arguments");
    rc = builder_init(&b, data, len, opts, write, ctx, err);
    if (!rc &&
        (rc = elves_segment_file(&segs, data ? data : (const uint8_t *)"", len,
                                 NULL)) != ELVES_OK)
        es_fail(err, rc, "container: segmenting the file failed");
    if (!rc)
        rc = check_segments(segs, len, err);
    if (!rc)
        hasher_start(&b);
    if (!rc) {
        b.segs = segs;
        b.out = calloc(segs->count ? segs->count : 1, sizeof *b.out);
        if (!b.out)
            rc = es_fail(err, ELVES_E_NOMEM, "container: no memory");
    }
    if (!rc && emit(&b, (const uint8_t *)MAGIC, MAGIC_LEN))
        rc = es_fail(err, ELVES_E_CALLBACK, "container: write callback failed");
    if (!rc)
        rc = compress_segments(&b, err);
    if (!rc)
        rc = finish(&b, out_info, err);
    hasher_join(&b);
    elves_sha256_free(b.sha);
    free(b.scratch);
    free(b.stored);
    free(b.out);
    elves_segments_free(segs);
    return rc;
}
