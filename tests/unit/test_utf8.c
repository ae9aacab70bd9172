/* The one UTF-8 check: valid sequences, overlong forms, surrogates, truncation. */
#include <stdlib.h>
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

/* Each invalid byte becomes the replacement, valid sequences stay; the length is reported. */
static void test_replace_invalid(void **state)
{
    (void)state;
    size_t n = 0;
    char *r = utf8_replace_invalid("a\xc3\xa9\xff\xc3(b", 7, "\\u0000", &n);
    assert_non_null(r);
    assert_string_equal(r, "a\xc3\xa9\\u0000\\u0000(b");
    assert_int_equal(n, strlen(r));
    free(r);
    r = utf8_replace_invalid("\xf0\x9f\x98\x80", 4, "?", NULL); /* a 4-byte sequence, as it is */
    assert_string_equal(r, "\xf0\x9f\x98\x80");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_replace_invalid),
    };
    return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
