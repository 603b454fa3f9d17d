/*
 * paths.c - the names the store accepts (repos, file paths, modes; rules in
 * store.h) and where a spool file lives.  Every store file uses these, so
 * they depend on nothing else.
 */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

int store_mode_valid(const char *mode)
{
    return mode && (strcmp(mode, "lossless") == 0 || strcmp(mode, "elf") == 0);
}

static int name_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* One part of "org/name": 1..96 of [A-Za-z0-9._-], not starting with '.'
 * or '-', no "..". */
static int name_part_valid(const char *p, size_t len)
{
    if (len < 1 || len > 96 || p[0] == '.' || p[0] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!name_char_ok(p[i]))
            return 0;
        if (p[i] == '.' && i + 1 < len && p[i + 1] == '.')
            return 0;
    }
    return 1;
}

int store_repo_name_valid(const char *name)
{
    if (!name)
        return 0;
    const char *slash = strchr(name, '/');
    if (!slash || strchr(slash + 1, '/'))
        return 0;
    return name_part_valid(name, (size_t)(slash - name)) &&
           name_part_valid(slash + 1, strlen(slash + 1));
}

static int component_valid(const char *p, size_t len)
{
    if (len == 0)
        return 0;
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
        return 0;
    return 1;
}

int store_path_valid(const char *path)
{
    if (!path)
        return 0;
    size_t len = strnlen(path, 1025);
    if (len == 0 || len > 1024 || path[0] == '/')
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (i < len && (c < 0x20 || c == 0x7f || c == '\\'))
            return 0;
        if (i == len || c == '/') {
            if (!component_valid(path + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

void store_spool_path(const es_store *st, const char *name, char *buf,
                      size_t cap)
{
    snprintf(buf, cap, "%s/%s", st->spool_dir, name);
}

int store_base_spec_valid(const char *spec)
{
    char repo[256];
    const char *at = strchr(spec, '@');
    size_t n = at ? (size_t)(at - spec) : strlen(spec);
    if (n == 0 || n >= sizeof repo || (at && (!at[1] || strlen(at) > 200)))
        return 0;
    memcpy(repo, spec, n);
    repo[n] = 0;
    return store_repo_name_valid(repo);
}
