/* The one UTF-8 check: valid sequences, overlong forms, surrogates, truncation. */
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/utf8.h"

static void test_sequences(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len; /* expected length of the first sequence, 0 = invalid */
    } cases[] = {
        {"a", 1},
        {"\xc3\xa9", 2},
        {"\xe2\x9c\x93", 3},
        {"\xf0\x9f\x9a\x93", 4},
        {"\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 0},     /* overlong, 3 bytes */
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\x80", 0},             /* continuation byte alone */
        {"\xff", 0},
        {"\xe2\x9c", 0}, /* truncated */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].s;
        assert_int_equal(utf8_seq_len((const unsigned char *)s, strlen(s)), cases[i].len);
        assert_int_equal(utf8_valid_str(s), cases[i].len == strlen(s));
    }
}

static void test_strings(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid_str("fine \xe2\x9c\x93 \xf0\x9f\x9a\x93"));
    assert_false(utf8_valid_str("bad \xff utf-8"));
    assert_false(utf8_valid_str("overlong \xc0\xaf"));
    assert_false(utf8_valid_str("surrogate \xed\xa0\x80"));
    /* A length bound cuts a sequence: invalid; NUL bytes inside a length are plain ASCII. */
    assert_false(utf8_valid("\xc3\xa9", 1));
    assert_true(utf8_valid("a\0b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
