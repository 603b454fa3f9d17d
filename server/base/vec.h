/*
 * vec.h - a growable array of items of one size, for the lists the server
 * builds row by row (so each does not grow its own with realloc).
 *
 *   vec v = VEC_INIT(int64_t);
 *   if (vec_push(&v, &id) < 0) ... out of memory;
 *   for (size_t i = 0; i < v.n; i++) use(VEC_AT(&v, int64_t, i));
 *   vec_free(&v);
 *
 * A vec must start as VEC_INIT(type): an all-zero one has no item size,
 * and every push to it fails. */
#ifndef ELVESD_VEC_H
#define ELVESD_VEC_H

#include <stddef.h>

typedef struct vec {
    void *items;
    size_t n, cap;
    size_t size; /* of one item */
} vec;

#define VEC_INIT(type) ((vec){NULL, 0, 0, sizeof(type)})
#define VEC_AT(v, type, i) (((type *)(v)->items)[i])

/* Appends a copy of *item; -1 (v unchanged) if out of memory. */
int vec_push(vec *v, const void *item);
/* A new zeroed item at the end, or NULL if out of memory. */
void *vec_grow(vec *v);
void vec_free(vec *v);

#endif /* ELVESD_VEC_H */
