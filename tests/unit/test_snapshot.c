/* The snapshot of a republishing source (producers/snapshot.c): new, changed and unchanged
 * rows; vanished rows counted once per walk seen whole, never for a walk resumed after a
 * restart; rebuilt from loaded entries; forgotten; growth past the first table. */
#include <stdio.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/snapshot.h"

static enum snap_verdict offer(struct snapshot *s, const char *unit, const char *stamp,
                               const char *id, uint64_t fp)
{
    return snapshot_offer(s, unit, stamp, id, strlen(id), fp);
}

static void test_verdicts_and_vanished(void **state)
{
    (void)state;
    struct snapshot *s = snapshot_new();
    assert_int_equal(offer(s, "2024", "w1", "a", 1), SNAP_NEW);
    assert_int_equal(offer(s, "2024", "w1", "b", 2), SNAP_NEW);
    assert_int_equal(offer(s, "2025", "w1", "c", 3), SNAP_NEW);
    snapshot_walk_begin(s, "2024", "w1");
    assert_int_equal(snapshot_walk_end(s, "2024", "w1"), 0);
    /* the next walk of 2024: a unchanged, b gone, d new */
    assert_int_equal(offer(s, "2024", "w2", "a", 1), SNAP_SAME);
    assert_int_equal(offer(s, "2024", "w2", "d", 4), SNAP_NEW);
    snapshot_walk_begin(s, "2024", "w2");
    assert_int_equal(snapshot_walk_end(s, "2024", "w2"), 1); /* b */
    assert_int_equal(snapshot_size(s), 3);                   /* a, c, d: 2025 untouched */
    /* b comes back: new again; a changed */
    assert_int_equal(offer(s, "2024", "w3", "b", 2), SNAP_NEW);
    assert_int_equal(offer(s, "2024", "w3", "a", 9), SNAP_CHANGED);
    /* a walk whose beginning this process did not see counts nothing */
    assert_int_equal(snapshot_walk_end(s, "2024", "w3"), -1);
    snapshot_destroy(s);
}

static void test_load_forget_and_growth(void **state)
{
    (void)state;
    struct snapshot *s = snapshot_new();
    char id[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        snapshot_load(s, "L", id, strlen(id), (uint64_t)i * 7919);
    }
    assert_int_equal(snapshot_size(s), 20000);
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(offer(s, "L", "w", id, (uint64_t)i * 7919 + (i == 5)),
                         i == 5 ? SNAP_CHANGED : SNAP_SAME);
    }
    snapshot_forget(s);
    assert_int_equal(snapshot_size(s), 0);
    assert_int_equal(offer(s, "L", "w", "id-1", 7919), SNAP_NEW);
    char hex[17];
    uint64_t back = 0;
    snapshot_fp_hex(0x0123456789abcdefULL, hex);
    assert_string_equal(hex, "0123456789abcdef");
    assert_int_equal(snapshot_fp_parse(hex, 16, &back), 0);
    assert_true(back == 0x0123456789abcdefULL);
    assert_int_equal(snapshot_fp_parse("xyz", 3, &back), -1);
    snapshot_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts_and_vanished),
        cmocka_unit_test(test_load_forget_and_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
