/* The Kafka configuration's fetch backoff: fetch.queue.backoff.ms where the linked librdkafka has
 * it (2.1 and later), the consumer's fetch waker's interval where it does not. */
#include <stdio.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/kafka.h"
#include "common/refused.h"

#define SINCE_2_1 0x020100ff

static bool native(void)
{
    return rd_kafka_version() >= SINCE_2_1;
}

static void test_wake_interval(void **state)
{
    (void)state;
    char *none[] = {NULL};
    char *fast[] = {"BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS=250", NULL};
    char *zero[] = {"BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS=0", NULL};
    char *second[] = {"BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS=1000", NULL};
    char *empty[] = {"BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS=", NULL};
    char *other[] = {"BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MSX=5", NULL};
    if (native()) { /* the library pauses for the property: nothing to wake */
        assert_int_equal(kafka_fetch_wake_ms(none), -1);
        assert_int_equal(kafka_fetch_wake_ms(fast), -1);
        return;
    }
    assert_int_equal(kafka_fetch_wake_ms(none), 10);
    assert_int_equal(kafka_fetch_wake_ms(empty), 10);
    assert_int_equal(kafka_fetch_wake_ms(other), 10);
    assert_int_equal(kafka_fetch_wake_ms(fast), 250);
    assert_int_equal(kafka_fetch_wake_ms(zero), 0);
    assert_int_equal(kafka_fetch_wake_ms(second), -1); /* the library's own second */
}

static void test_conf_backoff(void **state)
{
    (void)state;
    char err[512] = "";
    char *good[] = {"BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS=20", NULL};
    rd_kafka_conf_t *conf = kafka_conf_new(KAFKA_CONSUMER, "127.0.0.1:1", good, err, sizeof(err));
    assert_non_null(conf); /* accepted whatever the library: its property, or the waker's */
    char v[64];
    size_t n = sizeof(v);
    rd_kafka_conf_res_t res = rd_kafka_conf_get(conf, "fetch.queue.backoff.ms", v, &n);
    if (native()) {
        assert_int_equal(res, RD_KAFKA_CONF_OK);
        assert_string_equal(v, "20");
    } else {
        assert_int_equal(res, RD_KAFKA_CONF_UNKNOWN);
    }
    rd_kafka_conf_destroy(conf);

    char *bad[] = {"BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS=soon", NULL};
    conf = kafka_conf_new(KAFKA_CONSUMER, "127.0.0.1:1", bad, err, sizeof(err));
    assert_null(conf); /* refused by librdkafka, or by the waker's check */
    assert_non_null(strstr(err, "fetch.queue.backoff.ms"));
    assert_int_equal(conn_exit_code(err), 2); /* a configuration error, whatever the library */
}

static void test_consumer_queue_defaults(void **state)
{
    (void)state;
    char err[512];
    char *none[] = {NULL};
    rd_kafka_conf_t *conf = kafka_conf_new(KAFKA_CONSUMER, "127.0.0.1:1", none, err, sizeof(err));
    assert_non_null(conf);
    char v[64];
    size_t n = sizeof(v);
    assert_int_equal(rd_kafka_conf_get(conf, "queued.max.messages.kbytes", v, &n),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(v, "2048");
    rd_kafka_conf_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wake_interval),
        cmocka_unit_test(test_conf_backoff),
        cmocka_unit_test(test_consumer_queue_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
