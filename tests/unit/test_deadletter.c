/* The dead-letter envelope: the same headers, in the same order, from both programs. */
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/deadletter.h"
#include "common/timeutil.h"

static const char *header(rd_kafka_headers_t *h, const char *name, char *buf, size_t n)
{
    const void *v;
    size_t len;
    if (rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return NULL;
    }
    snprintf(buf, n, "%.*s", (int)len, (const char *)v);
    return buf;
}

static void test_from_a_source(void **state)
{
    (void)state;
    char b[128];
    struct deadletter dl = {.reason = "missing id field id",
                            .rejected_by = "blotter-producer",
                            .city = "nyc",
                            .source = "socrata",
                            .dataset = "5uac-w243"};
    rd_kafka_headers_t *h = deadletter_headers(&dl, iso8601_to_us("2026-01-02T03:04:05.678Z"));
    assert_int_equal(rd_kafka_header_cnt(h), 6);
    static const char *order[] = {"blotter.reason", "blotter.rejected_by", "blotter.rejected_at",
                                  "blotter.city",   "blotter.source",      "blotter.dataset"};
    for (size_t i = 0; i < 6; i++) {
        const char *name;
        const void *v;
        size_t len;
        assert_int_equal(rd_kafka_header_get_all(h, i, &name, &v, &len), 0);
        assert_string_equal(name, order[i]);
    }
    assert_string_equal(header(h, "blotter.reason", b, sizeof(b)), "missing id field id");
    assert_string_equal(header(h, "blotter.rejected_at", b, sizeof(b)), "2026-01-02T03:04:05.678Z");
    assert_string_equal(header(h, "blotter.dataset", b, sizeof(b)), "5uac-w243");
    assert_null(header(h, "blotter.topic", b, sizeof(b)));
    rd_kafka_headers_destroy(h);
}

static void test_from_kafka(void **state)
{
    (void)state;
    char b[128];
    struct deadletter dl = {.reason = "avro body does not decode",
                            .rejected_by = "blotter-consumer",
                            .city = "beta",
                            .source = "kafka",
                            .topic = "blotter.incidents.beta",
                            .partition = 2,
                            .offset = 12345678901LL,
                            .key = "bad\0key",
                            .key_len = 7};
    rd_kafka_headers_t *h = deadletter_headers(&dl, 0);
    assert_int_equal(rd_kafka_header_cnt(h), 9);
    assert_string_equal(header(h, "blotter.source", b, sizeof(b)), "kafka");
    assert_string_equal(header(h, "blotter.topic", b, sizeof(b)), "blotter.incidents.beta");
    assert_string_equal(header(h, "blotter.partition", b, sizeof(b)), "2");
    assert_string_equal(header(h, "blotter.offset", b, sizeof(b)), "12345678901");
    const void *v;
    size_t len;
    assert_int_equal(rd_kafka_header_get_last(h, "blotter.key", &v, &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(v, "bad\0key", 7);
    assert_null(header(h, "blotter.dataset", b, sizeof(b)));
    rd_kafka_headers_destroy(h);
    dl.key = NULL;
    h = deadletter_headers(&dl, 0);
    assert_int_equal(rd_kafka_header_cnt(h), 8);
    rd_kafka_headers_destroy(h);
}

static void test_city_of_topic(void **state)
{
    (void)state;
    char city[64];
    deadletter_city_of_topic("blotter.incidents.chicago", city, sizeof(city));
    assert_string_equal(city, "chicago");
    deadletter_city_of_topic("my.prefix.incidents.los-angeles", city, sizeof(city));
    assert_string_equal(city, "los-angeles");
    deadletter_city_of_topic("blotter.dlq", city, sizeof(city));
    assert_string_equal(city, "");
    deadletter_city_of_topic(NULL, city, sizeof(city));
    assert_string_equal(city, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_a_source),
        cmocka_unit_test(test_from_kafka),
        cmocka_unit_test(test_city_of_topic),
    };
    return cmocka_run_group_tests_name("deadletter", tests, NULL, NULL);
}
