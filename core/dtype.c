/*
 * dtype.c - element types: names as safetensors spells them, and sizes;
 * also the names of segment kinds.
 */
#include <string.h>

#include "internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libelves assumes a little-endian host"
#endif

static const struct {
    const char *name;
    unsigned bits;
} dtypes[ELVES_DT_COUNT] = {
    [ELVES_DT_OPAQUE] = {"OPAQUE", 8},
    [ELVES_DT_BOOL] = {"BOOL", 8},
    [ELVES_DT_U8] = {"U8", 8},
    [ELVES_DT_I8] = {"I8", 8},
    [ELVES_DT_U16] = {"U16", 16},
    [ELVES_DT_I16] = {"I16", 16},
    [ELVES_DT_U32] = {"U32", 32},
    [ELVES_DT_I32] = {"I32", 32},
    [ELVES_DT_U64] = {"U64", 64},
    [ELVES_DT_I64] = {"I64", 64},
    [ELVES_DT_F16] = {"F16", 16},
    [ELVES_DT_BF16] = {"BF16", 16},
    [ELVES_DT_F32] = {"F32", 32},
    [ELVES_DT_F64] = {"F64", 64},
    [ELVES_DT_C64] = {"C64", 64},
    [ELVES_DT_F8_E5M2] = {"F8_E5M2", 8},
    [ELVES_DT_F8_E4M3] = {"F8_E4M3", 8},
    [ELVES_DT_F8_E8M0] = {"F8_E8M0", 8},
    [ELVES_DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [ELVES_DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [ELVES_DT_F4] = {"F4", 4},
    [ELVES_DT_F6_E2M3] = {"F6_E2M3", 6},
    [ELVES_DT_F6_E3M2] = {"F6_E3M2", 6},
};

const char *elves_dtype_name(elves_dtype dt)
{
    if ((unsigned)dt >= ELVES_DT_COUNT)
        return "OPAQUE";
    return dtypes[dt].name;
}

elves_dtype elves_dtype_from_name(const char *name)
{
    if (!name)
        return ELVES_DT_OPAQUE;
    for (unsigned i = 1; i < ELVES_DT_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return (elves_dtype)i;
    return ELVES_DT_OPAQUE;
}

unsigned elves_dtype_bits(elves_dtype dt)
{
    if ((unsigned)dt >= ELVES_DT_COUNT)
        return 8;
    return dtypes[dt].bits;
}

const char *elves_seg_kind_name(elves_seg_kind kind)
{
    switch (kind) {
    case ELVES_SEG_HEADER:
        return "header";
    case ELVES_SEG_TENSOR:
        return "tensor";
    case ELVES_SEG_PADDING:
        return "padding";
    default:
        return "opaque";
    }
}
