/*
 * table.c - aligned text tables for `inspect` and `bench`: cells are
 * collected first, then printed with each column as wide as its widest
 * cell.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct cli_table {
    size_t ncols;
    char *align;
    char **cells; /* row-major; the headers are row 0 */
    size_t ncells;
    size_t cap;
    unsigned char *rule_before; /* per row */
    size_t rule_cap;
    int pending_rule;
    int oom;
};

static void push_cell(cli_table *t, char *s)
{
    if (!s) {
        t->oom = 1;
        return;
    }
    if (t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **cells = realloc(t->cells, cap * sizeof *cells);
        if (!cells) {
            free(s);
            t->oom = 1;
            return;
        }
        t->cells = cells;
        t->cap = cap;
    }
    size_t row = t->ncells / t->ncols;
    if (t->ncells % t->ncols == 0) {
        if (row >= t->rule_cap) {
            size_t cap = t->rule_cap ? t->rule_cap * 2 : 16;
            unsigned char *r = realloc(t->rule_before, cap);
            if (!r) {
                free(s);
                t->oom = 1;
                return;
            }
            memset(r + t->rule_cap, 0, cap - t->rule_cap);
            t->rule_before = r;
            t->rule_cap = cap;
        }
        t->rule_before[row] = (unsigned char)t->pending_rule;
        t->pending_rule = 0;
    }
    t->cells[t->ncells++] = s;
}

cli_table *cli_table_new(const char *align, const char *const *headers)
{
    cli_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = strlen(align);
    t->align = strdup(align);
    if (!t->align) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < t->ncols; i++)
        push_cell(t, strdup(headers[i]));
    t->pending_rule = 1;
    return t;
}

void cli_table_cell(cli_table *t, const char *fmt, ...)
{
    if (!t)
        return;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    va_end(ap);
    push_cell(t, s);
}

void cli_table_rule(cli_table *t)
{
    if (t)
        t->pending_rule = 1;
}

static void print_rule(const size_t *width, size_t ncols, FILE *f)
{
    for (size_t c = 0; c < ncols; c++) {
        for (size_t i = 0; i < width[c]; i++)
            fputc('-', f);
        fputs(c + 1 < ncols ? "  " : "\n", f);
    }
}

/* Prints one row without trailing blanks: cells after the last non-empty
 * one are left out and a left-aligned last cell is not padded. */
static void print_row(const cli_table *t, char *const *row, const size_t *width,
                      FILE *f)
{
    size_t last = 0;
    for (size_t c = 0; c < t->ncols; c++)
        if (row[c][0])
            last = c;
    for (size_t c = 0; c <= last; c++) {
        int w = (int)width[c];
        if (t->align[c] == 'r')
            fprintf(f, "%*s", w, row[c]);
        else if (c < last)
            fprintf(f, "%-*s", w, row[c]);
        else
            fputs(row[c], f);
        fputs(c < last ? "  " : "\n", f);
    }
}

void cli_table_print(const cli_table *t, FILE *f)
{
    if (!t || t->oom || t->ncells % t->ncols) {
        fputs("(table: out of memory or incomplete row)\n", f);
        return;
    }
    size_t *width = calloc(t->ncols, sizeof *width);
    if (!width)
        return;
    for (size_t i = 0; i < t->ncells; i++) {
        size_t w = strlen(t->cells[i]);
        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    for (size_t r = 0; r < t->ncells / t->ncols; r++) {
        if (t->rule_before[r])
            print_rule(width, t->ncols, f);
        print_row(t, t->cells + r * t->ncols, width, f);
    }
    free(width);
}

void cli_table_free(cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->rule_before);
    free(t->align);
    free(t);
}

void cli_shape_str(char *buf, size_t cap, const uint64_t *shape, uint32_t ndim)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < ndim && i < ELVES_MAX_DIMS && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%llu",
                                 i ? ", " : "", (unsigned long long)shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}
