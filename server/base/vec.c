/*
 * vec.c - the growable array of vec.h: capacity doubles, from 8 items.
 */
#include "vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *vec_grow(vec *v)
{
    if (v->size == 0)
        return NULL; /* not started with VEC_INIT */
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        if (cap > SIZE_MAX / v->size)
            return NULL;
        void *grown = realloc(v->items, cap * v->size);
        if (!grown)
            return NULL;
        v->items = grown;
        v->cap = cap;
    }
    void *item = (char *)v->items + v->n * v->size;
    memset(item, 0, v->size);
    v->n++;
    return item;
}

int vec_push(vec *v, const void *item)
{
    void *slot = vec_grow(v);
    if (!slot)
        return -1;
    memcpy(slot, item, v->size);
    return 0;
}

void vec_free(vec *v)
{
    free(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}
