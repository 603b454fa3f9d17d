/*
 * test_reader.c - the download path below HTTP: a store_reader reads the
 * right bytes whatever the read sizes and offsets, and a damaged chunk is
 * never served even though the chunk store's fetch does not hash chunks
 * (the block decoder's checksum catches it); the chunk store's fetch checks
 * the record against its metadata.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chunkstore.h"
#include "store_test_util.h"

#define FILE_BYTES (3 * 1024 * 1024 + 12345)

/* Compressible but not trivial bytes. */
static uint8_t *make_data(void)
{
    uint8_t *d = malloc(FILE_BYTES);
    uint32_t x = 12345;
    for (size_t i = 0; i < FILE_BYTES; i++) {
        x = x * 1103515245u + 12345u;
        d[i] = (uint8_t)("abcdefgh"[(x >> 16) & 7] + (i % 4096 == 0));
    }
    return d;
}

static es_store *store_with_file(const char *dir, const uint8_t *data)
{
    es_store *st = tu_open(dir, 1);
    es_err err;
    json_t *j = NULL;
    assert_int_equal(store_repo_create(st, "org/m", NULL, &j, &err), 0);
    json_decref(j);
    j = tu_upload_bytes(st, "org/m", "f.bin", data, FILE_BYTES, &err);
    assert_non_null(j);
    json_decref(j);
    store_wait_idle(st);
    return st;
}

static void test_reads_any_step(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("rdstep");
    uint8_t *data = make_data();
    es_store *st = store_with_file(dir, data);
    static const size_t steps[] = {1000003, 256 * 1024, 1 << 20, 3 << 20, 777};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        es_err err;
        size_t len = 0;
        uint8_t *back = tu_download(st, "org/m", "f.bin", steps[i], &len, &err);
        assert_non_null(back);
        assert_int_equal(len, FILE_BYTES);
        assert_memory_equal(back, data, FILE_BYTES);
        free(back);
    }
    store_close(st);
    free(data);
    tu_rm_rf(dir);
    free(dir);
}

/* Flips one byte in the middle of every record's bytes in every pack. */
static void damage_packs(const char *dir)
{
    char packs[4200];
    snprintf(packs, sizeof packs, "%s/packs", dir);
    DIR *d = opendir(packs);
    assert_non_null(d);
    struct dirent *e;
    int damaged = 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "pack-", 5) != 0)
            continue;
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", packs, e->d_name);
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        uint8_t hdr[16];
        off_t at = 0;
        while (pread(fd, hdr, sizeof hdr, at) == (ssize_t)sizeof hdr) {
            uint32_t len;
            memcpy(&len, hdr + 4, 4);
            off_t mid = at + 16 + len / 2;
            uint8_t b;
            assert_int_equal(pread(fd, &b, 1, mid), 1);
            b ^= 0x10;
            assert_int_equal(pwrite(fd, &b, 1, mid), 1);
            damaged++;
            at += 16 + (off_t)len;
        }
        close(fd);
    }
    closedir(d);
    assert_true(damaged > 0);
}

static void test_damaged_chunk_not_served(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("rddamage");
    uint8_t *data = make_data();
    es_store *st = store_with_file(dir, data);
    store_close(st); /* an empty cache on the next open */
    damage_packs(dir);
    st = tu_open(dir, 1);
    es_err err = {0, ""};
    size_t len;
    uint8_t *back = tu_download(st, "org/m", "f.bin", 1 << 20, &len, &err);
    assert_null(back);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "corrupt"));
    store_close(st);
    free(data);
    tu_rm_rf(dir);
    free(dir);
}

static void test_fetch_checks_record(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("rdfetch");
    chunkstore cs;
    es_err err;
    assert_int_equal(chunkstore_fs_open(&cs, dir, 0, &err), 0);
    uint8_t data[3000], buf[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 13);
    chunk_loc loc[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            chunkstore_put(&cs, data, sizeof data, &loc[i], &err), 0);
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    assert_int_equal(chunkstore_fetch(&cs, &loc[1], buf, &err), 0);
    assert_memory_equal(buf, data, sizeof data);
    /* metadata naming another record, or none, is refused */
    chunk_loc bad = loc[1];
    bad.checksum ^= 1;
    assert_int_equal(chunkstore_fetch(&cs, &bad, buf, &err), -1);
    assert_int_equal(err.status, 500);
    bad = loc[1];
    bad.offset += 8;
    assert_int_equal(chunkstore_fetch(&cs, &bad, buf, &err), -1);
    assert_non_null(strstr(err.msg, "corrupt"));
    bad = loc[1];
    bad.offset += 1u << 20; /* past the end of the pack */
    assert_int_equal(chunkstore_fetch(&cs, &bad, buf, &err), -1);
    assert_int_equal(err.status, 500);
    chunkstore_close(&cs);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_any_step),
        cmocka_unit_test(test_damaged_chunk_not_served),
        cmocka_unit_test(test_fetch_checks_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
