#define _GNU_SOURCE
/* Hostile input: the Avro length walk, the record's per-field limits, the row limits, the row
 * splitter's bound, redirects and the repair of text that is not UTF-8. */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/codec.h"
#include "common/utf8.h"
#include "consumers/pg.h"
#include "producers/csv.h"
#include "producers/http.h"
#include "producers/limits.h"
#include "producers/rowsplit.h"

/* ---- The Avro length walk ---- */

static size_t zz(int64_t v, unsigned char *out)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    do {
        out[n] = (unsigned char)(u & 0x7f);
        u >>= 7;
        if (u) {
            out[n] |= 0x80;
        }
        n++;
    } while (u);
    return n;
}

static void sample(struct incident *inc)
{
    incident_init(inc);
    incident_set_str(&inc->city, "chicago");
    incident_set_str(&inc->incident_id, "42");
    inc->occurred_at = inc->source_updated_at = inc->ingested_at = 1700000000000000LL;
    incident_set_str(&inc->category, "theft");
    incident_set_str(&inc->crime_against, "property");
    incident_add_attr(inc, "k", "v");
}

/* A good single-object message: header (10 bytes) and body. */
static void *good_message(struct codec *codec, size_t *len)
{
    struct incident inc;
    void *buf;
    char err[256];
    sample(&inc);
    assert_int_equal(codec_encode(codec, &inc, &buf, len, err, sizeof(err)), ERR_OK);
    incident_clear(&inc);
    return buf;
}

static enum err_class decode(struct codec *codec, const void *p, size_t len, char *err, size_t n)
{
    struct incident out;
    incident_init(&out);
    enum err_class cls = codec_decode(codec, p, len, &out, err, n);
    incident_clear(&out);
    return cls;
}

static void test_walk_lengths(void **state)
{
    (void)state;
    char err[256];
    struct codec *codec = codec_new(0, err, sizeof(err));
    size_t len;
    unsigned char *good = good_message(codec, &len);
    assert_int_equal(decode(codec, good, len, err, sizeof(err)), ERR_OK);

    /* The body starts with the city: 0x0e "chicago". Replace its length. */
    const int64_t lies[] = {1LL << 62, -5, 1000, INT64_MAX / 2};
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        unsigned char msg[512];
        memcpy(msg, good, 10);
        size_t n = 10 + zz(lies[i], msg + 10);
        memcpy(msg + n, good + 11, len - 11);
        n += len - 11;
        assert_int_equal(decode(codec, msg, n, err, sizeof(err)), ERR_PERMANENT);
        assert_non_null(strstr(err, "length"));
    }
    /* A varint that never ends. */
    unsigned char endless[32];
    memcpy(endless, good, 10);
    memset(endless + 10, 0xff, 22);
    assert_int_equal(decode(codec, endless, sizeof(endless), err, sizeof(err)), ERR_PERMANENT);
    /* Truncated anywhere, trailing bytes. */
    for (size_t cut = 11; cut < len; cut++) {
        assert_int_equal(decode(codec, good, cut, err, sizeof(err)), ERR_PERMANENT);
    }
    unsigned char *longer = malloc(len + 2);
    memcpy(longer, good, len);
    longer[len] = 0, longer[len + 1] = 2;
    assert_int_equal(decode(codec, longer, len + 2, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "trailing"));
    free(longer);
    free(good);
    codec_destroy(codec);
}

static void test_walk_map_and_union(void **state)
{
    (void)state;
    char err[256];
    avro_schema_t schema;
    assert_int_equal(avro_schema_from_json_literal(
                         "{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                         "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
                         "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
                         "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}",
                         &schema),
                     0);
    const unsigned char ok[] = {0x02, 0x02, 'x', 0x02, 0x02, 'k', 0x02, 'v', 0x00, 0x00};
    assert_int_equal(codec_walk(schema, ok, sizeof(ok), err, sizeof(err)), 0);
    const unsigned char branch[] = {0x04, 0x00, 0x00};
    assert_int_equal(codec_walk(schema, branch, sizeof(branch), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "branch"));
    /* A map claiming 2^40 entries; an array of nulls claiming 2^40 items (zero bytes each). */
    unsigned char map[16] = {0x00};
    size_t n = 1 + zz(1LL << 40, map + 1);
    assert_int_equal(codec_walk(schema, map, n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "map count"));
    unsigned char arr[16] = {0x00, 0x00};
    n = 2 + zz(1LL << 40, arr + 2);
    assert_int_equal(codec_walk(schema, arr, n, err, sizeof(err)), -1);
    avro_schema_decref(schema);
}

static void test_decode_refuses_nul(void **state)
{
    (void)state;
    char err[256];
    struct codec *codec = codec_new(0, err, sizeof(err));
    size_t len;
    unsigned char *msg = good_message(codec, &len);
    unsigned char *p = memmem(msg, len, "chicago", 7);
    assert_non_null(p);
    p[3] = 0;
    assert_int_equal(decode(codec, msg, len, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "city holds a NUL byte"));
    free(msg);
    codec_destroy(codec);
}

/* ---- The record's limits ---- */

static void test_incident_field_limits(void **state)
{
    (void)state;
    char err[256], big[INCIDENT_TEXT_MAX + 2];
    struct incident inc;
    sample(&inc);
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    big[INCIDENT_INDEXED_MAX] = 0; /* exactly the limit */
    incident_set_str(&inc.area, big);
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    big[INCIDENT_INDEXED_MAX] = 'a';
    big[3000] = 0;
    incident_set_str(&inc.area, big);
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_string_equal(err, "area: 3000 bytes (limit 512)");
    incident_set_str(&inc.area, NULL);
    big[3000] = 'a';
    incident_set_str(&inc.address, big); /* not indexed: up to INCIDENT_TEXT_MAX */
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    big[INCIDENT_TEXT_MAX] = 0;
    incident_set_str(&inc.address, big);
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    big[2800] = 0;
    incident_set_str(&inc.incident_id, big);
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_string_equal(err, "incident_id: 2800 bytes (limit 512)");
    incident_clear(&inc);
}

/* ---- Row limits ---- */

static void test_row_limits(void **state)
{
    (void)state;
    struct source_limits lim = SOURCE_LIMITS_DEFAULT;
    char why[256];
    lim.max_row_bytes = 64;
    lim.max_json_depth = 3;
    lim.max_fields = 2;
    lim.max_field_bytes = 4;
    const char *ok = "{\"a\":[[1]],\"b\":\"1234\"}";
    assert_null(limits_check_raw(&lim, ok, strlen(ok), why, sizeof(why)));
    const char *deep = "{\"a\":[[[1]]]}";
    assert_non_null(limits_check_raw(&lim, deep, strlen(deep), why, sizeof(why)));
    assert_non_null(strstr(why, "max_json_depth"));
    const char *quoted = "{\"a\":\"[[[[[[\",\"b\":\"\\\"[[[[\"}"; /* brackets inside strings */
    assert_null(limits_check_raw(&lim, quoted, strlen(quoted), why, sizeof(why)));
    char longer[80];
    memset(longer, ' ', sizeof(longer));
    assert_non_null(limits_check_raw(&lim, longer, sizeof(longer), why, sizeof(why)));
    assert_non_null(strstr(why, "max_row_bytes"));

    /* The same limits on rows read already: their compact text's length, their nesting. */
    const char *texts[] = {ok, deep, quoted,
                           "{\"a\":\"\\n\\u0001\\\"\",\"b\":-12,\"c\":[true,false,null]}"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
        json_t *read = json_loads(texts[i], 0, NULL);
        assert_non_null(read);
        char *compact = json_dumps(read, JSON_COMPACT);
        for (size_t max = strlen(compact) - 1; max <= strlen(compact); max++) {
            struct source_limits at = lim;
            at.max_row_bytes = max; /* one byte short of the text, then exactly its length */
            bool past_raw = limits_check_raw(&at, compact, strlen(compact), why, sizeof(why));
            bool past_tree = limits_check_tree(&at, read, why, sizeof(why));
            assert_int_equal(past_raw, past_tree);
        }
        free(compact);
        json_decref(read);
    }
    json_t *real = json_pack("{s:f}", "x", -79.3);
    lim.max_row_bytes = 30; /* a real counts at its longest: {"x":} and 24 */
    assert_null(limits_check_tree(&lim, real, why, sizeof(why)));
    lim.max_row_bytes = 29;
    assert_non_null(limits_check_tree(&lim, real, why, sizeof(why)));
    assert_non_null(strstr(why, "max_row_bytes"));
    json_decref(real);
    lim.max_row_bytes = 64;

    json_t *row = json_loads(ok, 0, NULL);
    assert_null(limits_check_row(&lim, row, why, sizeof(why)));
    json_object_set_new(row, "c", json_string("x"));
    assert_non_null(limits_check_row(&lim, row, why, sizeof(why)));
    assert_non_null(strstr(why, "3 fields"));
    json_object_del(row, "c");
    json_object_set_new(row, "b", json_string("12345"));
    assert_non_null(limits_check_row(&lim, row, why, sizeof(why)));
    assert_string_equal(why, "field b: 5 bytes (limit 4, max_field_bytes)");
    json_decref(row);
    assert_non_null(limits_or_default(NULL));
}

struct kept {
    int rows;
    size_t last_len;
};

static int keep_len(void *ctx, json_t *row, const char *raw, size_t raw_len)
{
    (void)row, (void)raw;
    struct kept *k = ctx;
    k->rows++;
    k->last_len = raw_len;
    return 0;
}

static void test_rowsplit_bound(void **state)
{
    (void)state;
    struct kept k = {0};
    struct rowsplit *rs = rowsplit_new(keep_len, &k, false);
    rowsplit_set_max_row(rs, 100);
    assert_int_equal(rowsplit_feed(rs, "[{\"a\":\"", 7), 0);
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 1000; i++) { /* 4 MB of one string: never held */
        assert_int_equal(rowsplit_feed(rs, chunk, sizeof(chunk)), 0);
    }
    const char *rest = "\"},{\"b\":1}]";
    assert_int_equal(rowsplit_feed(rs, rest, strlen(rest)), 0);
    assert_true(rowsplit_done(rs));
    assert_int_equal(k.rows, 2);
    assert_int_equal(k.last_len, 7); /* the next row whole */
    rowsplit_destroy(rs);
}

struct csv_seen {
    int rows, refused;
    char last[64];
};

static int csv_row(void *ctx, const char *json, size_t len, size_t record)
{
    (void)record;
    struct csv_seen *c = ctx;
    c->rows++;
    c->refused += strstr(json, CSV_REFUSED) != NULL;
    snprintf(c->last, sizeof(c->last), "%.*s", (int)len, json);
    return 0;
}

static void test_csv_record_bound(void **state)
{
    (void)state;
    struct csv_seen c = {0};
    struct csv_rows *r = csv_rows_new(NULL, 0, NULL, csv_row, &c);
    const char *head = "a,b\r\n1,\"";
    assert_int_equal(csv_rows_feed(r, head, strlen(head)), 0);
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 800; i++) { /* a 3 MB quoted field: refused, never held */
        assert_int_equal(csv_rows_feed(r, chunk, sizeof(chunk)), 0);
    }
    const char *rest = "\"\r\n2,y\r\n";
    assert_int_equal(csv_rows_feed(r, rest, strlen(rest)), 0);
    assert_int_equal(csv_rows_finish(r), 0);
    assert_int_equal(c.rows, 2);
    assert_int_equal(c.refused, 1);
    assert_string_equal(c.last, "{\"a\":\"2\",\"b\":\"y\"}");
    csv_rows_destroy(r);

    struct source_limits lim = SOURCE_LIMITS_DEFAULT;
    char why[128];
    json_t *row = json_loads("{\"::refused\":\"record is larger than 1 MiB\"}", 0, NULL);
    assert_non_null(limits_check_row(&lim, row, why, sizeof(why)));
    assert_string_equal(why, "record is larger than 1 MiB");
    json_decref(row);
}

/* ---- PostgreSQL's refusals ---- */

static void test_sqlstate_classes(void **state)
{
    (void)state;
    /* A record's data: dead-lettered, never fatal. */
    const char *data[] = {"54000", "22001", "22021", "23505", "23514", "21000", "2201B", "P0001"};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        assert_int_equal(pg_sqlstate_class(data[i]), ERR_PERMANENT);
    }
    const char *transient[] = {"08006", "40001", "40P01", "53100", "57P01", "58030"};
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
        assert_int_equal(pg_sqlstate_class(transient[i]), ERR_TRANSIENT);
    }
    const char *setup[] = {"42501", "42P01", "42883", "28P01", "3D000", "3F000", "0A000", "XX000"};
    for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
        assert_int_equal(pg_sqlstate_class(setup[i]), ERR_FATAL);
    }
    assert_int_equal(pg_sqlstate_class(NULL), ERR_TRANSIENT);
}

/* ---- Redirects, text repair ---- */

static void test_redirects(void **state)
{
    (void)state;
    assert_true(http_redirect_allowed("https://data.city.gov/a", "https://data.city.gov/b?x=1"));
    assert_true(http_redirect_allowed("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b"));
    assert_true(http_redirect_allowed("http://data.city.gov/a", "https://data.city.gov/b"));
    assert_false(http_redirect_allowed("https://data.city.gov/a", "http://data.city.gov/b"));
    assert_false(http_redirect_allowed("https://data.city.gov/a", "https://evil.example/b"));
    assert_false(http_redirect_allowed("https://data.city.gov/a", "https://data.city.gov:444/b"));
    assert_false(http_redirect_allowed("http://127.0.0.1:8080/a", "http://127.0.0.2:8080/a"));
    assert_false(http_redirect_allowed("https://data.city.gov/a", "file:///etc/passwd"));
    assert_false(http_redirect_allowed("https://data.city.gov/a", "not a url"));
}

static void test_utf8_repair(void **state)
{
    (void)state;
    char *r = utf8_repair("ok \xc3\xa9 bad \xff\xc3( end");
    assert_string_equal(r, "ok \xc3\xa9 bad \xef\xbf\xbd\xef\xbf\xbd( end");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_lengths),       cmocka_unit_test(test_walk_map_and_union),
        cmocka_unit_test(test_decode_refuses_nul), cmocka_unit_test(test_incident_field_limits),
        cmocka_unit_test(test_row_limits),         cmocka_unit_test(test_rowsplit_bound),
        cmocka_unit_test(test_sqlstate_classes),   cmocka_unit_test(test_csv_record_bound),
        cmocka_unit_test(test_redirects),          cmocka_unit_test(test_utf8_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
