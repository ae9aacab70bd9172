/* The page ledger: the acknowledged position moves only over complete pages whose messages are
 * all delivered, in fetch order; abandoned attempts block nothing; a failed message rewinds. */
#include <jansson.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/ledger.h"

static void advance(struct keyset *pos, const json_t *row)
{
    keyset_advance(pos, json_string_value(json_object_get(row, "u")),
                   json_string_value(json_object_get(row, "i")));
}

/* Rows "row-<n>" at one :updated_at: read n rows of pg, numbered from first. */
static void read_rows(struct ledger *l, struct page *pg, int first, int n)
{
    for (int k = first; k < first + n; k++) {
        char id[32];
        snprintf(id, sizeof(id), "row-%04d", k);
        json_t *row = json_pack("{s:s, s:s}", "u", "2024-01-01T00:00:00.000Z", "i", id);
        ledger_row_out(pg);
        ledger_page_advance(l, pg, advance, row);
        json_decref(row);
    }
}

static void deliver(struct ledger *l, struct page *pg, int n, bool ok)
{
    for (int k = 0; k < n; k++) {
        ledger_row_done(l, pg, ok);
    }
}

static void test_in_order_and_only_when_delivered(void **state)
{
    (void)state;
    struct ledger *l = ledger_new(NULL);
    struct keyset start = {0};
    struct page *a = ledger_page_begin(l, &start);
    read_rows(l, a, 0, 3);
    ledger_page_end(l, a, true);
    struct keyset pos = ledger_page_position(l, a);
    assert_string_equal(pos.id, "row-0002");
    struct page *b = ledger_page_begin(l, &pos);
    read_rows(l, b, 3, 2);
    ledger_page_end(l, b, true);
    /* b is delivered first: nothing moves while a still has messages in flight. */
    deliver(l, b, 2, true);
    assert_false(ledger_advance(l));
    assert_false(ledger_acked(l)->ks.set);
    assert_true(ledger_busy(l));
    deliver(l, a, 2, true);
    assert_false(ledger_advance(l));
    deliver(l, a, 1, true);
    assert_true(ledger_advance(l)); /* a and b at once */
    assert_string_equal(ledger_acked(l)->ks.id, "row-0004");
    assert_int_equal(ledger_acked(l)->rows, 5);
    assert_false(ledger_busy(l));
    assert_true(ledger_dirty(l));
    ledger_saved(l, 42);
    assert_false(ledger_dirty(l));
    assert_int_equal(ledger_acked(l)->saved_at, 42);
    ledger_destroy(l);
}

static void test_current_page_blocks(void **state)
{
    (void)state;
    struct ledger *l = ledger_new(NULL);
    struct keyset start = {0};
    struct page *a = ledger_page_begin(l, &start);
    read_rows(l, a, 0, 2);
    deliver(l, a, 2, true);
    assert_false(ledger_advance(l)); /* still being fetched */
    ledger_page_end(l, a, true);
    assert_true(ledger_advance(l));
    ledger_destroy(l);
}

static void test_abandoned_attempts(void **state)
{
    (void)state;
    struct ledger *l = ledger_new(NULL);
    struct keyset start = {0};
    /* A transfer failed after two rows: abandoned, its messages still in flight. */
    struct page *a = ledger_page_begin(l, &start);
    read_rows(l, a, 0, 2);
    ledger_page_end(l, a, false);
    /* The retry gets the whole page. */
    struct page *b = ledger_page_begin(l, &start);
    read_rows(l, b, 0, 4);
    ledger_page_end(l, b, true);
    deliver(l, b, 4, true);
    /* a blocks until its own messages are reported (a snapshot kind's retry may have skipped
     * rows that only a sent), then advances nothing itself */
    assert_false(ledger_advance(l));
    assert_true(ledger_busy(l));
    deliver(l, a, 2, true);
    assert_true(ledger_advance(l));
    assert_string_equal(ledger_acked(l)->ks.id, "row-0003");
    assert_int_equal(ledger_acked(l)->rows, 4);
    assert_false(ledger_busy(l));
    ledger_destroy(l);
}

static void test_failed_message_rewinds(void **state)
{
    (void)state;
    struct checkpoint_value v = {0};
    keyset_advance(&v.ks, "2023-12-31T00:00:00.000Z", "row-9999");
    v.rows = 10;
    struct ledger *l = ledger_new(NULL);
    ledger_resume(l, &v);
    struct page *a = ledger_page_begin(l, &v.ks);
    read_rows(l, a, 0, 3);
    ledger_page_end(l, a, true);
    deliver(l, a, 2, true);
    deliver(l, a, 1, false);
    assert_true(ledger_rewound(l));
    assert_false(ledger_advance(l)); /* the checkpoint stays where it was */
    assert_string_equal(ledger_acked(l)->ks.id, "row-9999");
    assert_int_equal(ledger_acked(l)->rows, 10);
    /* The next pass re-reads from there; the failed page only drains. */
    ledger_new_pass(l);
    assert_false(ledger_rewound(l));
    assert_false(ledger_advance(l));
    assert_false(ledger_busy(l));
    ledger_destroy(l);
}

static void test_empty_page_and_new_pass(void **state)
{
    (void)state;
    struct ledger *l = ledger_new(NULL);
    struct keyset start = {0};
    struct page *a = ledger_page_begin(l, &start);
    ledger_page_end(l, a, true);
    assert_false(ledger_advance(l)); /* an empty page moves nothing, and is dropped */
    assert_false(ledger_busy(l));
    /* A page of an earlier pass still in flight when a new pass starts only drains. */
    struct page *b = ledger_page_begin(l, &start);
    read_rows(l, b, 0, 1);
    ledger_page_end(l, b, true);
    ledger_new_pass(l);
    deliver(l, b, 1, true);
    assert_false(ledger_advance(l));
    assert_false(ledger_acked(l)->ks.set);
    ledger_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_only_when_delivered),
        cmocka_unit_test(test_current_page_blocks),
        cmocka_unit_test(test_abandoned_attempts),
        cmocka_unit_test(test_failed_message_rewinds),
        cmocka_unit_test(test_empty_page_and_new_pass),
    };
    return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
