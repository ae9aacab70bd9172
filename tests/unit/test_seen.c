/* The seen-set's pure parts: key derivation (stable, spread over buckets, binary fields),
 * value encoding, key names, and the Redis URL parser. No Redis needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "consumers/seen.h"

static void test_locate_is_stable_and_in_range(void **state)
{
    (void)state;
    uint32_t b1, b2;
    unsigned char f1[SEEN_FIELD_LEN], f2[SEEN_FIELD_LEN];
    seen_locate("JH123456", 1000, &b1, f1);
    seen_locate("JH123456", 1000, &b2, f2);
    assert_int_equal(b1, b2);
    assert_memory_equal(f1, f2, SEEN_FIELD_LEN);
    assert_true(b1 < 1000);
    seen_locate("JH123457", 1000, &b2, f2);
    assert_true(b1 != b2 || memcmp(f1, f2, SEEN_FIELD_LEN) != 0);
    /* One bucket: every id lands in bucket 0; zero buckets is treated as one. */
    seen_locate("x", 1, &b1, f1);
    assert_int_equal(b1, 0);
    seen_locate("x", 0, &b1, f1);
    assert_int_equal(b1, 0);
}

/* 200,000 ids over 500 buckets: every bucket used, none far above the mean of 400 (so each
 * hash stays under the listpack limit of 512 fields), and field collisions inside a bucket
 * are rare. */
static void test_spread(void **state)
{
    (void)state;
    enum { N = 200000, B = 500 };
    unsigned *count = calloc(B, sizeof(*count));
    uint32_t *fields = calloc(N, sizeof(*fields));
    uint32_t *buckets = calloc(N, sizeof(*buckets));
    assert_non_null(count);
    for (unsigned i = 0; i < N; i++) {
        char id[32];
        unsigned char f[SEEN_FIELD_LEN];
        snprintf(id, sizeof(id), "%u", i);
        seen_locate(id, B, &buckets[i], f);
        fields[i] = 0;
        memcpy(&fields[i], f, SEEN_FIELD_LEN);
        count[buckets[i]]++;
    }
    unsigned lo = N, hi = 0;
    for (unsigned b = 0; b < B; b++) {
        lo = count[b] < lo ? count[b] : lo;
        hi = count[b] > hi ? count[b] : hi;
    }
    assert_true(lo > 300);
    assert_true(hi < 512);
    /* Same field in the same bucket among 20,000 ids: expected 500 * 40^2 / 2 / 2^24 ~ 0.02. */
    unsigned collisions = 0;
    for (unsigned i = 0; i < 20000; i++) {
        for (unsigned j = i + 1; j < 20000; j++) {
            collisions += buckets[i] == buckets[j] && fields[i] == fields[j];
        }
    }
    assert_true(collisions <= 2);
    free(count);
    free(fields);
    free(buckets);
}

static void test_value_and_key_name(void **state)
{
    (void)state;
    unsigned char v[SEEN_VALUE_LEN];
    seen_value(0x1122334455667788ULL, v);
    const unsigned char want[SEEN_VALUE_LEN] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22};
    assert_memory_equal(v, want, SEEN_VALUE_LEN);
    char buf[64];
    assert_int_equal(seen_key_name(buf, sizeof(buf), "abc", "chicago", 17), 19);
    assert_string_equal(buf, "seen:abc:chicago:17");
    assert_int_equal(seen_key_name(buf, 8, "abc", "chicago", 17), -1);
}

struct url_case {
    const char *url;
    int ok;
    const char *host, *user, *password;
    int port, db;
};

static void test_url(void **state)
{
    (void)state;
    static const struct url_case cases[] = {
        {"redis://127.0.0.1:16379/0", 0, "127.0.0.1", NULL, NULL, 16379, 0},
        {"redis://localhost", 0, "localhost", NULL, NULL, 6379, 0},
        {"redis://:s3cret@cache:6380/5", 0, "cache", NULL, "s3cret", 6380, 5},
        {"redis://app:p@ss:w@cache/2", 0, "cache", "app", "p@ss:w", 6379, 2},
        {"redis://s3cret@cache", 0, "cache", NULL, "s3cret", 6379, 0},
        {"http://cache", -1, NULL, NULL, NULL, 0, 0},
        {"redis://cache:notaport", -1, NULL, NULL, NULL, 0, 0},
        {"redis://cache/x", -1, NULL, NULL, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct url_case *c = &cases[i];
        struct redis_url u;
        int rc = redis_url_parse(c->url, &u);
        assert_int_equal(rc, c->ok);
        if (rc != 0) {
            continue;
        }
        assert_string_equal(u.host, c->host);
        if (c->user) {
            assert_string_equal(u.user, c->user);
        } else {
            assert_null(u.user);
        }
        if (c->password) {
            assert_string_equal(u.password, c->password);
        } else {
            assert_null(u.password);
        }
        assert_int_equal(u.port, c->port);
        assert_int_equal(u.db, c->db);
        redis_url_clear(&u);
    }
}

/* Without a reachable Redis every check says "not seen" and marks fail softly. */
static void test_unreachable_is_not_seen(void **state)
{
    (void)state;
    char err[128];
    struct seen *s = seen_new("redis://127.0.0.1:1/0", 16, 200, 10, 100, err, sizeof(err));
    assert_non_null(s);
    seen_set_namespace(s, "t");
    struct seen_item items[2] = {{"c", "1", 1}, {"c", "2", 2}};
    bool hit[2] = {true, true};
    assert_int_equal(seen_check_batch(s, items, 2, hit), 0);
    assert_false(hit[0]);
    assert_false(hit[1]);
    assert_int_equal(seen_mark_batch(s, items, 2), -1);
    assert_false(seen_up(s));
    seen_destroy(s);
    seen_destroy(NULL);
    assert_null(seen_new("nope://", 16, 200, 10, 100, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locate_is_stable_and_in_range),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_value_and_key_name),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_unreachable_is_not_seen),
    };
    return cmocka_run_group_tests_name("seen", tests, NULL, NULL);
}
