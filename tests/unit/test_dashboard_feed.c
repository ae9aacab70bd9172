/* The push feed's pure parts: a NOTIFY payload to the event sent to browsers, the ring of
 * recent events for Last-Event-ID resume, and the SSE frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_all.h"

#include "dashboard/feed.h"
#include "dashboard/ring.h"
#include "dashboard/streams.h"

#define T0 1733040000000000LL /* 2024-12-01T08:00:00Z */

static void test_payload(void **state)
{
    (void)state;
    struct feed_event ev;
    char err[256];
    const char *p = "{\"v\":1,\"txid\":\"739\",\"cities\":{\"chicago\":{\"inserted\" : 30, "
                    "\"updated\" : 10, \"hours\" : [\"2026-12-01T03:00:00Z\"], \"hours_more\" : "
                    "0, \"newest_source_updated_at\" : \"2026-12-01T08:48:45.222000Z\", "
                    "\"junk\": 1},\"nyc\":{\"inserted\":0,\"updated\":2}}}";
    assert_int_equal(feed_event_parse(p, T0, &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.id, "739");
    assert_int_equal(ev.inserted, 30);
    assert_int_equal(ev.updated, 12);
    assert_string_equal(ev.cities[0], "chicago");
    assert_string_equal(ev.cities[1], "nyc");
    assert_null(ev.cities[2]);
    assert_string_equal(
        ev.data,
        "{\"txid\":\"739\",\"received_at\":\"2024-12-01T08:00:00.000Z\",\"inserted\":30,"
        "\"updated\":12,\"cities\":{\"chicago\":{\"inserted\":30,\"updated\":10,\"hours\":["
        "\"2026-12-01T03:00:00Z\"],\"hours_more\":0,\"newest_source_updated_at\":\"2026-12-01T08:"
        "48:45.222000Z\"},\"nyc\":{\"inserted\":0,\"updated\":2}}}");
    assert_null(strchr(ev.data, '\n')); /* one data: line */
    feed_event_free(&ev);

    /* A part of a split batch gets its own id. */
    assert_int_equal(feed_event_parse("{\"v\":1,\"txid\":\"9\",\"part\":2,\"parts\":3,\"cities\":{"
                                      "\"a\":{\"inserted\":1,\"updated\":0}}}",
                                      T0, &ev, err, sizeof(err)),
                     0);
    assert_string_equal(ev.id, "9-2");
    assert_non_null(strstr(ev.data, "\"part\":2,\"parts\":3"));
    feed_event_free(&ev);
}

static void test_bad_payloads(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "not json",
        "[1,2]",
        "{\"v\":2,\"txid\":\"1\",\"cities\":{\"a\":{\"inserted\":1,\"updated\":0}}}",
        "{\"v\":1,\"txid\":\"x1\",\"cities\":{\"a\":{\"inserted\":1,\"updated\":0}}}",
        "{\"v\":1,\"txid\":1,\"cities\":{\"a\":{\"inserted\":1,\"updated\":0}}}",
        "{\"v\":1,\"txid\":\"1\",\"cities\":{}}",
        "{\"v\":1,\"txid\":\"1\",\"cities\":{\"a\":{\"inserted\":-1,\"updated\":0}}}",
        "{\"v\":1,\"txid\":\"1\",\"cities\":{\"a\":{\"inserted\":1}}}",
        "{\"v\":1,\"txid\":\"1\",\"cities\":{\"a\":5}}",
        "{\"v\":1,\"txid\":\"1\",\"part\":4,\"parts\":3,\"cities\":{\"a\":{\"inserted\":1,"
        "\"updated\":0}}}",
        "{\"v\":1,\"v\":1,\"txid\":\"1\",\"cities\":{\"a\":{\"inserted\":1,\"updated\":0}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct feed_event ev;
        char err[256] = "";
        assert_int_equal(feed_event_parse(bad[i], T0, &ev, err, sizeof(err)), -1);
        assert_true(strlen(err) > 0);
        assert_null(ev.data);
        assert_null(ev.cities);
    }
}

struct seen {
    char text[4096];
    int n;
};

static void collect(void *arg, const char *frame, size_t len)
{
    struct seen *s = arg;
    strncat(s->text, frame, len);
    s->n++;
}

static void test_ring(void **state)
{
    (void)state;
    struct ring *r = ring_new(3);
    struct seen s = {0};
    assert_null(ring_newest_id(r));
    assert_int_equal(ring_replay_after(r, "1", collect, &s), -1);
    ring_push(r, "1", "A", 1);
    ring_push(r, "2", "B", 1);
    assert_int_equal(ring_replay_after(r, "1", collect, &s), 1);
    assert_string_equal(s.text, "B");
    assert_int_equal(ring_replay_after(r, "2", collect, &s), 0); /* up to date */
    ring_push(r, "3", "C", 1);
    ring_push(r, "4", "D", 1); /* drops "1" */
    assert_int_equal(ring_len(r), 3);
    assert_string_equal(ring_newest_id(r), "4");
    memset(&s, 0, sizeof(s));
    assert_int_equal(ring_replay_after(r, "1", collect, &s), -1); /* too old: resync */
    assert_int_equal(ring_replay_after(r, "2", collect, &s), 2);
    assert_string_equal(s.text, "CD");
    for (int i = 5; i < 12; i++) { /* wrap around several times */
        char id[8];
        snprintf(id, sizeof(id), "%d", i);
        ring_push(r, id, id, strlen(id));
    }
    memset(&s, 0, sizeof(s));
    assert_int_equal(ring_replay_after(r, "9", collect, &s), 2);
    assert_string_equal(s.text, "1011");
    ring_clear(r); /* after a gap nothing can be resumed */
    assert_int_equal(ring_len(r), 0);
    assert_int_equal(ring_replay_after(r, "11", collect, &s), -1);
    ring_destroy(r);
    ring_destroy(NULL);
}

static void test_frame(void **state)
{
    (void)state;
    size_t len;
    char *f = streams_frame("42", "incidents", "{\"a\":1}", &len);
    assert_string_equal(f, "id: 42\nevent: incidents\ndata: {\"a\":1}\n\n");
    assert_int_equal(len, strlen(f)); /* no NUL inside the frame */
    free(f);
    f = streams_frame(NULL, "resync", "{}", &len);
    assert_string_equal(f, "event: resync\ndata: {}\n\n");
    assert_int_equal(len, strlen(f));
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_bad_payloads),
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
