/*
 * chunk_record.h - the record a chunk is stored as, the same in every
 * backend of this layer (local pack files, S3 pack objects):
 *     u32 magic "ECK1" | u32 length | u64 XXH3-64 of the bytes | bytes
 * (little-endian).  The header lets a read check that the record is the
 * one the metadata names before trusting the bytes.
 */
#ifndef ELVESD_CHUNK_RECORD_H
#define ELVESD_CHUNK_RECORD_H

#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "chunkstore.h"

#define CHUNK_REC_MAGIC 0x314B4345u /* "ECK1" little-endian */
#define CHUNK_REC_HEADER 16

/* Fills hdr for the chunk data[0..len) (len <= UINT32_MAX) and *loc's
 * length and checksum. */
static inline void chunk_rec_header(uint8_t hdr[CHUNK_REC_HEADER],
                                    const void *data, uint32_t len,
                                    chunk_loc *loc)
{
    uint32_t magic = CHUNK_REC_MAGIC;
    uint64_t sum = XXH3_64bits(data, len);
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, &len, 4);
    memcpy(hdr + 8, &sum, 8);
    loc->length = len;
    loc->checksum = sum;
}

/* NULL if hdr is the record loc names, else what is wrong with it. */
static inline const char *chunk_rec_check(const uint8_t hdr[CHUNK_REC_HEADER],
                                          const chunk_loc *loc)
{
    uint32_t magic, len;
    uint64_t sum;
    memcpy(&magic, hdr, 4);
    memcpy(&len, hdr + 4, 4);
    memcpy(&sum, hdr + 8, 8);
    if (magic != CHUNK_REC_MAGIC)
        return "bad record magic";
    if (len != loc->length || sum != loc->checksum)
        return "record header does not match metadata";
    return NULL;
}

#endif /* ELVESD_CHUNK_RECORD_H */
