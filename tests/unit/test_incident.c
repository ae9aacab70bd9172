/* The incident record declared once (common/incident_fields.h): its rulebook, its content hash
 * (pinned: deployed warehouses and seen-sets hold it), and its agreement with the Avro schema and
 * with the warehouse table the migrations create. */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/unit/cmocka_all.h"

#include "common/codec.h"
#include "common/incident.h"
#include "consumers/migrate.h"

static void make(struct incident *inc, const char *city, const char *id, int64_t updated,
                 const char *category)
{
    incident_init(inc);
    incident_set_str(&inc->city, city);
    incident_set_str(&inc->incident_id, id);
    inc->occurred_at = 1704067200000000LL;
    inc->source_updated_at = updated;
    incident_set_str(&inc->category, category);
    incident_set_str(&inc->crime_against, "property");
}

static void fill(struct incident *inc)
{
    incident_init(inc);
    incident_set_str(&inc->city, "chicago");
    incident_set_str(&inc->incident_id, "11160347");
    incident_set_str(&inc->report_id, "JA526401");
    inc->occurred_at = iso8601_to_us("2017-11-27T05:53:00Z");
    inc->reported_at = TS_NULL;
    inc->source_updated_at = iso8601_to_us("2017-12-03T21:49:45.123Z");
    incident_set_str(&inc->offense_code, "0460");
    incident_set_str(&inc->offense, "BATTERY: SIMPLE");
    incident_set_str(&inc->category, "assault");
    incident_set_str(&inc->crime_against, "person");
    incident_set_str(&inc->area, "015");
    incident_set_str(&inc->beat, "1524");
    incident_set_str(&inc->address, "054XX W RICE ST");
    inc->has_coords = true;
    inc->latitude = 41.895796081;
    inc->longitude = -87.761401563;
    inc->arrest = TRI_TRUE;
    inc->domestic = TRI_FALSE;
    incident_add_attr(inc, "iucr", "0460");
    incident_add_attr(inc, "location_description", "ALLEY");
    inc->ingested_at = 1700000000000000LL;
}

/* ---- The rulebook ---- */

static void test_checks(void **state)
{
    (void)state;
    char err[256];
    struct incident inc;
    make(&inc, "chicago", "1", 10, "theft");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);

    incident_set_str(&inc.offense, "bad \xff utf-8");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "offense"));
    incident_set_str(&inc.offense, "overlong \xc0\xaf");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    incident_set_str(&inc.offense, "surrogate \xed\xa0\x80");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    incident_set_str(&inc.offense, "fine \xe2\x9c\x93 \xf0\x9f\x9a\x93");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);

    incident_add_attr(&inc, "k", "\x80");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    incident_clear(&inc);

    make(&inc, "chicago", "", 10, "theft");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    incident_clear(&inc);
    make(&inc, "chicago", "1", 10, NULL);
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    incident_clear(&inc);
    make(&inc, "chicago", "1", TS_NULL, "theft");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    incident_clear(&inc);
    make(&inc, "chicago", "1", 10, "theft");
    inc.occurred_at = 253402300800000000LL; /* year 10000 */
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    inc.occurred_at = -62135596800000000LL; /* 0001-01-01: allowed */
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    incident_clear(&inc);
}

static void test_plausibility_and_coordinates(void **state)
{
    (void)state;
    char err[256];
    struct incident inc;
    fill(&inc);
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    /* Once stamped: not before 1900, not more than two days after ingestion. */
    inc.occurred_at = iso8601_to_us("1899-12-31T23:59:59Z");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "implausible"));
    inc.occurred_at = iso8601_to_us("1900-01-01T00:00:00Z");
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    inc.occurred_at = inc.ingested_at + 2 * 86400000000LL;
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    inc.occurred_at += 1;
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "implausible"));
    inc.occurred_at = iso8601_to_us("2017-11-27T05:53:00Z");
    inc.ingested_at = 253402300800000000LL; /* stamps obey the years too */
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "ingested_at"));
    inc.ingested_at = 1700000000000000LL;
    inc.latitude = NAN;
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "latitude"));
    inc.latitude = 41.9;
    inc.longitude = -187;
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "longitude"));
    inc.has_coords = false; /* null coordinates are not looked at */
    assert_int_equal(incident_check(&inc, err, sizeof(err)), ERR_OK);
    incident_clear(&inc);
}

/* ---- The content hash: fixed values ---- */

static void test_content_hash_is_pinned(void **state)
{
    (void)state;
    struct incident inc;
    fill(&inc);
    assert_true(incident_content_hash(&inc) == 0xc8e581a6ec2e4f18ULL);
    inc.has_coords = false;
    incident_set_str(&inc.report_id, NULL);
    inc.reported_at = 1;
    inc.arrest = TRI_NULL;
    incident_set_str(&inc.area, NULL);
    assert_true(incident_content_hash(&inc) == 0xe42700c3ab04e2dcULL);
    incident_clear(&inc);
}

/* ---- The table against schemas/incident.avsc ---- */

static void test_fields_match_schema(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *schema = json_loads(incident_avsc, 0, &jerr);
    assert_non_null(schema);
    json_t *fields = json_object_get(schema, "fields");
    assert_int_equal(json_array_size(fields), INCIDENT_N_FIELDS);
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        const struct incident_field *f = &incident_fields[i];
        json_t *af = json_array_get(fields, i);
        assert_string_equal(json_string_value(json_object_get(af, "name")), f->name);
        json_t *type = json_object_get(af, "type");
        bool nullable = json_is_array(type);
        assert_int_equal(nullable, (f->flags & I_OPT) != 0);
        if (nullable) {
            assert_string_equal(json_string_value(json_array_get(type, 0)), "null");
            assert_true(json_object_get(af, "default") &&
                        json_is_null(json_object_get(af, "default")));
            type = json_array_get(type, 1);
        }
        const char *name = json_is_string(type) ? json_string_value(type)
                                                : json_string_value(json_object_get(type, "type"));
        static const char *avro_of[] = {[I_STR] = "string",
                                        [I_TS] = "long",
                                        [I_COORD] = "double",
                                        [I_TRI] = "boolean",
                                        [I_ATTRS] = "map"};
        assert_string_equal(name, avro_of[f->kind]);
        if (f->kind == I_TS) {
            assert_string_equal(json_string_value(json_object_get(type, "logicalType")),
                                "timestamp-micros");
        }
    }
    json_decref(schema);
}

/* ---- The table against the warehouse migrations ---- */

struct names {
    char *v[64];
    size_t n;
};

static void names_add(struct names *l, const char *s, size_t len)
{
    assert_true(l->n < 64);
    l->v[l->n++] = strndup(s, len);
}

static void names_drop(struct names *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0) {
            free(l->v[i]);
            memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(char *));
            l->n--;
            return;
        }
    }
    fail_msg("dropped column %s is not there", s);
}

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    l->n = 0;
}

static const char *word(const char *p, size_t *len)
{
    while (*p && (isspace((unsigned char)*p) || *p == ',')) {
        p++;
    }
    *len = 0;
    while (p[*len] && (isalnum((unsigned char)p[*len]) || p[*len] == '_')) {
        (*len)++;
    }
    return p;
}

static bool word_is(const char *p, size_t len, const char *w)
{
    return strlen(w) == len && strncasecmp(p, w, len) == 0;
}

/* The columns of CREATE TABLE blotter.incidents (...) in sql, one per line up to ')'. */
static void created_columns(const char *sql, struct names *cols)
{
    const char *p = strstr(sql, "CREATE TABLE blotter.incidents (");
    if (!p) {
        return;
    }
    p = strchr(p, '\n') + 1;
    while (*p && *p != ')') {
        size_t len;
        const char *w = word(p, &len);
        if (len && !word_is(w, len, "PRIMARY") && !word_is(w, len, "CONSTRAINT") &&
            !word_is(w, len, "UNIQUE") && !word_is(w, len, "CHECK")) {
            names_add(cols, w, len);
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : "";
    }
}

/* ALTER TABLE blotter.incidents ADD/DROP COLUMN [IF [NOT] EXISTS] name, in order. */
static void altered_columns(const char *sql, struct names *cols)
{
    for (const char *p = sql; (p = strstr(p, "ALTER TABLE blotter.incidents")) != NULL;) {
        const char *end = strchr(p, ';');
        p += strlen("ALTER TABLE blotter.incidents");
        while (p < end) {
            size_t len;
            const char *w = word(p, &len);
            if (!len) {
                break;
            }
            bool add = word_is(w, len, "ADD"), drop = word_is(w, len, "DROP");
            p = w + len;
            if (!add && !drop) {
                continue;
            }
            w = word(p, &len);
            if (word_is(w, len, "COLUMN")) {
                w = word(w + len, &len);
            }
            while (word_is(w, len, "IF") || word_is(w, len, "NOT") || word_is(w, len, "EXISTS")) {
                w = word(w + len, &len);
            }
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)len, w);
            if (add) {
                names_add(cols, w, len);
            } else {
                names_drop(cols, name);
            }
            p = w + len;
        }
    }
}

/* The column list of the first "INSERT INTO <table> (" in sql. */
static void insert_columns(const char *sql, const char *table, struct names *cols)
{
    char pat[96];
    snprintf(pat, sizeof(pat), "INSERT INTO %s (", table);
    const char *p = strstr(sql, pat);
    assert_non_null(p);
    p += strlen(pat);
    const char *end = strchr(p, ')');
    while (p < end) {
        size_t len;
        const char *w = word(p, &len);
        if (!len || w >= end) {
            break;
        }
        names_add(cols, w, len);
        p = w + len;
    }
}

/* The record's columns plus version_hash (what blotter.incidents holds), after prefix. */
static void expected_columns(struct names *want, const char *prefix)
{
    if (prefix) {
        names_add(want, prefix, strlen(prefix));
    }
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        names_add(want, incident_fields[i].name, strlen(incident_fields[i].name));
    }
    names_add(want, "version_hash", strlen("version_hash"));
}

static void assert_same(const struct names *got, const struct names *want, const char *what)
{
    for (size_t i = 0; i < got->n && i < want->n; i++) {
        if (strcmp(got->v[i], want->v[i]) != 0) {
            fail_msg("%s: column %zu is %s, common/incident_fields.h says %s", what, i, got->v[i],
                     want->v[i]);
        }
    }
    if (got->n != want->n) {
        fail_msg("%s: %zu columns, common/incident_fields.h says %zu", what, got->n, want->n);
    }
}

static void test_columns_match_migrations(void **state)
{
    (void)state;
    struct names table = {0}, want = {0}, got = {0};
    const char *writer = NULL;
    for (size_t i = 0; i < n_migrations; i++) {
        created_columns(migrations[i].sql, &table);
        altered_columns(migrations[i].sql, &table);
        if (strstr(migrations[i].sql, "FUNCTION blotter.apply_staged()")) {
            writer = migrations[i].sql; /* the latest definition wins */
        }
    }
    expected_columns(&want, NULL);
    assert_same(&table, &want, "blotter.incidents (the migrations)");
    assert_non_null(writer);
    insert_columns(writer, "blotter.incidents", &got);
    assert_same(&got, &want, "blotter.apply_staged(): INSERT INTO blotter.incidents");
    names_free(&got);
    names_free(&want);
    /* blotter_work holds the key, version and aggregate columns only (migration 008): each is
     * seq, status or a column of the record. */
    insert_columns(writer, "blotter_work", &got);
    expected_columns(&want, "seq");
    names_add(&want, "status", strlen("status"));
    assert_true(got.n > 0);
    for (size_t i = 0; i < got.n; i++) {
        bool known = false;
        for (size_t j = 0; j < want.n && !known; j++) {
            known = strcmp(got.v[i], want.v[j]) == 0;
        }
        if (!known) {
            fail_msg("blotter.apply_staged(): INSERT INTO blotter_work: column %s is not one of "
                     "common/incident_fields.h",
                     got.v[i]);
        }
    }
    /* The writer's COPY column list is generated from the same table. */
    assert_string_equal(INCIDENT_COLUMN_LIST "version_hash",
                        "city, incident_id, report_id, occurred_at, reported_at, "
                        "source_updated_at, offense_code, offense, category, crime_against, area, "
                        "beat, address, latitude, longitude, arrest, domestic, attributes, "
                        "ingested_at, version_hash");
    names_free(&got);
    names_free(&want);
    names_free(&table);
}

/* ---- The vocabulary ---- */

static void test_vocabulary(void **state)
{
    (void)state;
    size_t n = 0;
    for (; vocab_categories[n]; n++) {
        assert_ptr_equal(vocab_intern(vocab_categories[n]), vocab_categories[n]);
        const char *against = vocab_crime_against(vocab_categories[n]);
        assert_true(strcmp(against, "person") == 0 || strcmp(against, "property") == 0 ||
                    strcmp(against, "society") == 0 || strcmp(against, "other") == 0);
    }
    assert_int_equal(n, 14);
    assert_string_equal(vocab_crime_against("other"), "other");
    assert_null(vocab_intern(NULL));
    assert_null(vocab_intern("Theft")); /* exact names only */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_plausibility_and_coordinates),
        cmocka_unit_test(test_content_hash_is_pinned),
        cmocka_unit_test(test_fields_match_schema),
        cmocka_unit_test(test_columns_match_migrations),
        cmocka_unit_test(test_vocabulary),
    };
    return cmocka_run_group_tests_name("incident", tests, NULL, NULL);
}
