/*
 * fault_points.h - the bookkeeping of the fault-injecting wrappers
 * (fault_chunkstore.h, fault_meta.h): per operation, how many calls were
 * made and failed, and which are to fail next.  Header-only.
 */
#ifndef FAULT_POINTS_H
#define FAULT_POINTS_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

#define FP_FN static __attribute__((unused))

/* fp_fail's count for an outage that lasts until fp_clear. */
#define FP_LASTING UINT64_MAX

typedef struct fp_fault {
    uint64_t calls;   /* calls made so far */
    uint64_t failed;  /* of them, failed on purpose */
    uint64_t fail_at; /* first call number to fail (0: none armed) */
    uint64_t count;   /* calls to fail from fail_at on */
    int status;
    char msg[128];
} fp_fault;

#define FP_MAX 8

/* The faults of one wrapper: a slot per operation it counts. */
typedef struct fault_points {
    pthread_mutex_t mu;
    fp_fault op[FP_MAX];
    const char *const *names; /* of each slot, for messages */
} fault_points;

FP_FN void fp_init(fault_points *fp, const char *const *names)
{
    memset(fp, 0, sizeof *fp);
    pthread_mutex_init(&fp->mu, NULL);
    fp->names = names;
}

FP_FN void fp_destroy(fault_points *fp)
{
    pthread_mutex_destroy(&fp->mu);
}

/* Fails `count` calls of op (FP_LASTING: every call until fp_clear),
 * starting with the nth call from now (nth >= 1), with status and msg
 * (NULL: "injected <op> failure"). */
FP_FN void fp_fail(fault_points *fp, int op, uint64_t nth, uint64_t count,
                   int status, const char *msg)
{
    pthread_mutex_lock(&fp->mu);
    fp_fault *f = &fp->op[op];
    f->fail_at = f->calls + (nth ? nth : 1);
    f->count = count;
    f->status = status;
    if (msg)
        snprintf(f->msg, sizeof f->msg, "%s", msg);
    else
        snprintf(f->msg, sizeof f->msg, "injected %s failure", fp->names[op]);
    pthread_mutex_unlock(&fp->mu);
}

/* Disarms op's fault (the outage ends); the counters stay. */
FP_FN void fp_clear(fault_points *fp, int op)
{
    pthread_mutex_lock(&fp->mu);
    fp->op[op].fail_at = 0;
    pthread_mutex_unlock(&fp->mu);
}

FP_FN void fp_clear_all(fault_points *fp)
{
    for (int op = 0; op < FP_MAX; op++)
        fp_clear(fp, op);
}

FP_FN uint64_t fp_calls(fault_points *fp, int op)
{
    pthread_mutex_lock(&fp->mu);
    uint64_t n = fp->op[op].calls;
    pthread_mutex_unlock(&fp->mu);
    return n;
}

FP_FN uint64_t fp_failed(fault_points *fp, int op)
{
    pthread_mutex_lock(&fp->mu);
    uint64_t n = fp->op[op].failed;
    pthread_mutex_unlock(&fp->mu);
    return n;
}

/* Counts a call of op; -1 with err filled if this one is to fail. */
FP_FN int fp_enter(fault_points *fp, int op, es_err *err)
{
    pthread_mutex_lock(&fp->mu);
    fp_fault *f = &fp->op[op];
    uint64_t n = ++f->calls;
    int fail = f->fail_at && n >= f->fail_at && n - f->fail_at < f->count;
    int status = f->status;
    char msg[128];
    if (fail) {
        f->failed++;
        memcpy(msg, f->msg, sizeof msg);
    }
    pthread_mutex_unlock(&fp->mu);
    if (!fail)
        return 0;
    return es_errf(err, status, "%s (call %llu)", msg, (unsigned long long)n);
}

#endif /* FAULT_POINTS_H */
