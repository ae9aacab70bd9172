/* The growable buffer and its JSON string escaping. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/buf.h"

static void test_appends_and_growth(void **state)
{
    (void)state;
    struct buf b = {0};
    assert_int_equal(buf_puts(&b, ""), 0);
    assert_string_equal(b.p, "");
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(buf_printf(&b, "%03d,", i), 0);
    }
    assert_int_equal(b.len, 4000);
    assert_int_equal(strlen(b.p), 4000);
    assert_memory_equal(b.p + 3996, "999,", 4);
    assert_true(b.cap > b.len);
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "<%s>", big), 0); /* longer than printf's small buffer */
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(b.p[b.len - 1], '>');
    assert_int_equal(buf_putc(&b, 'z'), 0);
    assert_int_equal(buf_put(&b, "ab\0cd", 5), 0); /* bytes, NUL included */
    assert_int_equal(b.len, sizeof(big) + 7);
    buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void test_oom_is_sticky(void **state)
{
    (void)state;
    struct buf b = {0};
    b.oom = true; /* as after a failed allocation */
    assert_int_equal(buf_puts(&b, "x"), -1);
    assert_int_equal(buf_put_json_string(&b, "x", 1), -1);
    assert_null(b.p);
    buf_reset(&b);
    assert_false(b.oom);
    assert_int_equal(buf_puts(&b, "x"), 0);
    buf_free(&b);
}

static void test_json_string(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 5, "\"plain\""},
        {"q\"b\\", 4, "\"q\\\"b\\\\\""},
        {"tab\there\n\x01\x1f", 11, "\"tab\\u0009here\\u000a\\u0001\\u001f\""},
        {"caf\xc3\xa9 \xf0\x9f\x9a\x93", 10, "\"caf\xc3\xa9 \xf0\x9f\x9a\x93\""},
        {"bad \xff byte", 10, "\"bad \xff byte\""}, /* passes through: the caller's business */
        {"a\0b", 3, "\"a\\u0000b\""},
        {"/ and \x7f", 7, "\"/ and \x7f\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = {0};
        assert_int_equal(buf_put_json_string(&b, cases[i].in, cases[i].n), 0);
        assert_string_equal(b.p, cases[i].want);
        buf_free(&b);
    }
}

static void test_array_grow(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0, len = 0;
    for (int i = 0; i < 1000; i++) {
        int *grown = array_grow(a, &cap, len, sizeof(*a), 4);
        assert_non_null(grown);
        a = grown;
        assert_true(cap > len);
        a[len++] = i;
    }
    assert_true(cap >= 1000 && cap <= 2048);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(a[i], i);
    }
    /* Room already there: the same array, the same capacity. */
    size_t before = cap;
    assert_ptr_equal(array_grow(a, &cap, cap - 1, sizeof(*a), 4), a);
    assert_int_equal(cap, before);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_and_growth),
        cmocka_unit_test(test_oom_is_sticky),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_array_grow),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
