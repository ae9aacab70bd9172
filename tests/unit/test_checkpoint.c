/* Positions and checkpoints: keyset advancement (ties on :updated_at across page boundaries)
 * and the checkpoint's encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/checkpoint.h"

static void test_keyset_advance(void **state)
{
    (void)state;
    struct keyset ks = {0};
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0002"), 0);
    /* same :updated_at, larger id: forward */
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0003"), 0);
    /* same :updated_at, smaller or equal id: refused */
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0003"), -1);
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0001"), -1);
    /* earlier time refused, later time with a smaller id accepted */
    assert_int_equal(keyset_advance(&ks, "2023-12-31T23:59:59.999Z", "row-9999"), -1);
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.001Z", "row-0000"), 0);
    assert_string_equal(ks.id, "row-0000");
    /* missing or bad values leave it alone */
    assert_int_equal(keyset_advance(&ks, NULL, "row-1"), -1);
    assert_int_equal(keyset_advance(&ks, "yesterday", "row-1"), -1);
    assert_string_equal(ks.updated_at, "2024-01-01T00:00:00.001Z");
}

/* Paging a sorted list with ties: every row once, whatever the page size. Simulates what the
 * server answers to the producer's keyset predicate. */
static void test_keyset_paging_with_ties(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char upd[N][32], ids[N][16];
    for (int i = 0; i < N; i++) {
        /* runs of 37 rows share one :updated_at */
        snprintf(upd[i], sizeof(upd[i]), "2024-01-01T00:%02d:%02d.000Z", (i / 37) / 60,
                 (i / 37) % 60);
        snprintf(ids[i], sizeof(ids[i]), "row-%06d", i);
    }
    for (int limit = 1; limit <= 64; limit = limit * 2 + 1) {
        struct keyset ks = {0};
        int seen = 0;
        for (;;) {
            int got = 0;
            for (int i = 0; i < N && got < limit; i++) {
                int after = !ks.set || strcmp(upd[i], ks.updated_at) > 0 ||
                            (strcmp(upd[i], ks.updated_at) == 0 && strcmp(ids[i], ks.id) > 0);
                if (after) {
                    assert_int_equal(i, seen); /* the next row, never a skip or a repeat */
                    seen++;
                    got++;
                    assert_int_equal(keyset_advance(&ks, upd[i], ids[i]), 0);
                }
            }
            if (got < limit) {
                break;
            }
        }
        assert_int_equal(seen, N);
    }
}

static void test_checkpoint_roundtrip(void **state)
{
    (void)state;
    struct checkpoint_value v = {0}, back;
    keyset_advance(&v.ks, "2024-05-01T12:00:00.000Z", "row-\"7\"");
    v.rows = 123456789;
    v.saved_at = 1714564800000000LL;
    char *text = checkpoint_encode(&v);
    assert_int_equal(checkpoint_decode(text, strlen(text), &back), 0);
    assert_true(back.ks.set);
    assert_string_equal(back.ks.updated_at, v.ks.updated_at);
    assert_string_equal(back.ks.id, v.ks.id);
    assert_true(back.rows == v.rows);
    assert_true(back.saved_at == v.saved_at);
    free(text);
    struct checkpoint_value empty = {0};
    text = checkpoint_encode(&empty);
    assert_int_equal(checkpoint_decode(text, strlen(text), &back), 0);
    assert_false(back.ks.set);
    free(text);
    assert_int_equal(checkpoint_decode("nope", 4, &back), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyset_advance),
        cmocka_unit_test(test_keyset_paging_with_ties),
        cmocka_unit_test(test_checkpoint_roundtrip),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, NULL, NULL);
}
