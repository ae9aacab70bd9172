/* Parsing Canonical Form and CRC-64-AVRO against the Avro specification's test vectors. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/canonical.h"
#include "common/codec.h"

struct vector {
    const char *input;
    const char *canonical;
    int64_t fingerprint; /* as the specification lists it (signed); 0 when it gives none */
};

/* From the Avro specification's schema test data (share/test/data/schema-tests.txt). */
static const struct vector vectors[] = {
    {"\"null\"", "\"null\"", 7195948357588979594LL},
    {"{\"type\":\"null\"}", "\"null\"", 7195948357588979594LL},
    {"\"boolean\"", "\"boolean\"", -6970731678124411036LL},
    {"\"int\"", "\"int\"", 8247732601305521295LL},
    {"\"long\"", "\"long\"", -3434872931120570953LL},
    {"{\"type\":\"long\"}", "\"long\"", -3434872931120570953LL},
    {"\"float\"", "\"float\"", 5583340709985441680LL},
    {"\"double\"", "\"double\"", -8181574048448539266LL},
    {"\"bytes\"", "\"bytes\"", 5746618253357095269LL},
    {"\"string\"", "\"string\"", -8142146995180207161LL},
    {"[  ]", "[]", -1241056759729112623LL},
    {"[ \"int\"  ]", "[\"int\"]", -5232228896498058493LL},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]", 5392556393470105090LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}", 5916914534497305771LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}", -4616218487480524110LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"Useful info\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", -4824392279771201922LL},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], \"type\":\"record\", "
     "\"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"}]}",
     7843277075252814651LL},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", \"default\":\"true\"},"
     "{\"order\":\"descending\",\"name\":\"f2\",\"doc\":\"Hello\",\"type\":\"int\"}],"
     "\"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"},{"
     "\"name\":\"f2\",\"type\":\"int\"}]}",
     -4860222112080293046LL},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}", -6342190197741309591LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}",
     -4448647247586288245LL},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}", 1756455273707447556LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}", -3064184465700546786LL},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", -589620603366471059LL},
    {"{ \"values\":\"string\", \"type\":\"map\"}", "{\"type\":\"map\",\"values\":\"string\"}",
     -8732877298790414990LL},
    {"{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\", "
     "\"type\":[\"null\", \"int\", \"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":["
     "\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     -1759257747318642341LL},
};

static void test_spec_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char err[256] = "";
        char *pcf = avro_canonical_form(vectors[i].input, err, sizeof(err));
        if (!pcf) {
            fail_msg("vector %zu: %s", i, err);
        }
        assert_string_equal(pcf, vectors[i].canonical);
        uint64_t fp = avro_crc64(pcf, strlen(pcf));
        assert_int_equal((int64_t)fp, vectors[i].fingerprint);
        free(pcf);
    }
}

static void test_null_fingerprint_hex(void **state)
{
    (void)state;
    assert_true(avro_crc64("\"null\"", 6) == 0x63dd24e7cc258f8aULL);
}

/* Eight bytes at a time gives what one at a time gives, at every length and alignment. */
static void test_crc64_slicing_matches_bytewise(void **state)
{
    (void)state;
    unsigned char data[96];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < sizeof(data); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; off + len <= sizeof(data); len++) {
            assert_true(avro_crc64(data + off, len) == avro_crc64_bytewise(data + off, len));
        }
    }
    assert_true(avro_crc64_bytewise("\"null\"", 6) == 0x63dd24e7cc258f8aULL);
}

static void test_unicode_escapes_become_utf8(void **state)
{
    (void)state;
    char err[128];
    char *pcf = avro_canonical_form("{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[\"\\u00e9\"]}",
                                    err, sizeof(err));
    assert_non_null(pcf);
    assert_string_equal(pcf, "{\"name\":\"e\",\"type\":\"enum\",\"symbols\":[\"\xc3\xa9\"]}");
    free(pcf);
}

static void test_invalid_schemas(void **state)
{
    (void)state;
    const char *bad[] = {"{", "42", "{\"type\":\"record\",\"fields\":[]}",
                         "{\"type\":\"enum\",\"name\":\"x\"}", "{\"name\":\"x\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        assert_null(avro_canonical_form(bad[i], err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
}

/* The incident schema's canonical form, as the specification's rules give it (logical types
 * reduce to their primitive; docs and defaults are stripped; names are full). */
static void test_incident_canonical_form(void **state)
{
    (void)state;
    char err[128];
    char *pcf = avro_canonical_form(incident_avsc, err, sizeof(err));
    assert_non_null(pcf);
    const char *expected =
        "{\"name\":\"io.blotter.Incident\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"city\",\"type\":\"string\"},{\"name\":\"incident_id\",\"type\":\"string\"},"
        "{\"name\":\"report_id\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"occurred_at\",\"type\":\"long\"},"
        "{\"name\":\"reported_at\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"source_updated_at\",\"type\":\"long\"},"
        "{\"name\":\"offense_code\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"offense\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"category\",\"type\":\"string\"},"
        "{\"name\":\"crime_against\",\"type\":\"string\"},"
        "{\"name\":\"area\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"beat\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"address\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"latitude\",\"type\":[\"null\",\"double\"]},"
        "{\"name\":\"longitude\",\"type\":[\"null\",\"double\"]},"
        "{\"name\":\"arrest\",\"type\":[\"null\",\"boolean\"]},"
        "{\"name\":\"domestic\",\"type\":[\"null\",\"boolean\"]},"
        "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
        "{\"name\":\"ingested_at\",\"type\":\"long\"}]}";
    assert_string_equal(pcf, expected);
    free(pcf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vectors),
        cmocka_unit_test(test_null_fingerprint_hex),
        cmocka_unit_test(test_crc64_slicing_matches_bytewise),
        cmocka_unit_test(test_unicode_escapes_become_utf8),
        cmocka_unit_test(test_invalid_schemas),
        cmocka_unit_test(test_incident_canonical_form),
    };
    return cmocka_run_group_tests_name("canonical", tests, NULL, NULL);
}
