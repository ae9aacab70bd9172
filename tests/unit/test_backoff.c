/* The retry policy: exponential, capped, jittered within [d/2, d], hints win. */
#include "tests/unit/cmocka_all.h"

#include "common/backoff.h"

static void test_delay_bounds(void **state)
{
    (void)state;
    /* The extremes of the draw give the ends of [d/2, d]. */
    for (int attempt = 0; attempt < 12; attempt++) {
        long d = 500L << attempt;
        if (d > 60000) {
            d = 60000;
        }
        assert_int_equal(backoff_delay_ms(500, 60000, attempt, 0), d / 2);
        assert_int_equal(backoff_delay_ms(500, 60000, attempt, (uint32_t)(d / 2)), d);
        for (uint32_t r = 1; r < 100000; r += 7919) {
            long w = backoff_delay_ms(500, 60000, attempt, r);
            assert_true(w >= d / 2 && w <= d);
        }
    }
    /* Huge attempt counts stay at the cap; a base of 1 still waits. */
    assert_int_equal(backoff_delay_ms(500, 60000, 1000, 0), 30000);
    assert_true(backoff_delay_ms(1, 1, 0, 12345) <= 1);
}

static void test_sequence_and_hint(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 100, 1000);
    long prev_max = 0;
    for (int i = 0; i < 8; i++) {
        long d = 100L << i > 1000 ? 1000 : 100L << i;
        long w = backoff_next_ms(&b, -1);
        assert_true(w >= d / 2 && w <= d);
        prev_max = d;
    }
    assert_int_equal(prev_max, 1000);
    assert_int_equal(backoff_next_ms(&b, 7000), 7000); /* Retry-After: 7 s */
    backoff_reset(&b);
    long w = backoff_next_ms(&b, -1);
    assert_true(w >= 50 && w <= 100);
    /* Two policies started together do not keep drawing the same waits. */
    struct backoff x, y;
    backoff_init(&x, 1000, 1000000);
    backoff_init(&y, 1000, 1000000);
    int same = 0;
    for (int i = 0; i < 10; i++) {
        same += backoff_next_ms(&x, -1) == backoff_next_ms(&y, -1);
    }
    assert_true(same < 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_bounds),
        cmocka_unit_test(test_sequence_and_hint),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
