/* Avro round trips of incidents and both framings. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/codec.h"

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

static void roundtrip(struct codec *codec, const struct incident *in)
{
    void *buf;
    size_t len;
    char err[256];
    struct incident out;
    incident_init(&out);
    assert_int_equal(codec_encode(codec, in, &buf, &len, err, sizeof(err)), ERR_OK);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_OK);
    assert_true(incident_equal(in, &out));
    assert_true(incident_content_hash(in) == incident_content_hash(&out));
    /* codec_encode's own writer gives libavro's bytes, and codec_decode's own reader what
     * libavro's generic value gives. */
    void *ref_buf;
    size_t ref_len;
    assert_int_equal(codec_encode_libavro(codec, in, &ref_buf, &ref_len, err, sizeof(err)), ERR_OK);
    assert_int_equal(ref_len, len);
    assert_memory_equal(ref_buf, buf, len);
    free(ref_buf);
    struct incident ref;
    incident_init(&ref);
    assert_int_equal(codec_decode_libavro(codec, buf, len, &ref, err, sizeof(err)), ERR_OK);
    assert_true(incident_equal(&ref, &out));
    incident_clear(&ref);
    incident_clear(&out);
    free(buf);
}

/* The encoded bytes of fill()'s incident with attributes a=1 and, when second, b=2 only. */
static void *encode_ab(struct codec *codec, bool second, size_t *len)
{
    struct incident in;
    void *buf;
    char err[256];
    fill(&in);
    for (size_t i = 0; i < in.n_attrs; i++) {
        free(in.attrs[i].key);
        free(in.attrs[i].value);
    }
    in.n_attrs = 0;
    incident_add_attr(&in, "a", "1");
    if (second) {
        incident_add_attr(&in, "b", "2");
    }
    assert_int_equal(codec_encode(codec, &in, &buf, len, err, sizeof(err)), ERR_OK);
    incident_clear(&in);
    return buf;
}

/* The encoded bytes of an incident whose attributes are a=1, b=2, with the key "b" made into
 * key (one byte). */
static void *with_second_key(struct codec *codec, char key, size_t *len)
{
    void *buf = encode_ab(codec, true, len);
    static const char pair[] = {2, 'b', 2, '2'}; /* lengths are zig-zag varints */
    char *at = memmem(buf, *len, pair, sizeof(pair));
    assert_non_null(at);
    at[1] = key;
    return buf;
}

/* A key twice: its first place, its last value, with both readers. A key with a NUL byte: refused
 * by codec_decode (libavro would cut it short). */
static void test_map_keys(void **state)
{
    (void)state;
    char err[256];
    struct codec *codec = codec_new(0, err, sizeof(err));
    struct incident out, ref;
    size_t len;
    void *buf = with_second_key(codec, 'a', &len);
    incident_init(&out);
    incident_init(&ref);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_OK);
    assert_int_equal(codec_decode_libavro(codec, buf, len, &ref, err, sizeof(err)), ERR_OK);
    assert_int_equal(out.n_attrs, 1);
    assert_string_equal(out.attrs[0].key, "a");
    assert_string_equal(out.attrs[0].value, "2");
    assert_true(incident_equal(&ref, &out));
    free(buf);
    buf = with_second_key(codec, '\0', &len);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_PERMANENT);
    assert_string_equal(err, "attributes holds a NUL byte");
    assert_int_equal(out.n_attrs, 0);
    free(buf);
    incident_clear(&out);
    incident_clear(&ref);
    codec_destroy(codec);
}

/* Attributes with a key twice are encoded as libavro encodes them: the key once, in its first
 * place, with its last value. */
static void test_encode_key_twice(void **state)
{
    (void)state;
    char err[256];
    struct codec *codec = codec_new(0, err, sizeof(err));
    struct incident in, out;
    fill(&in);
    incident_add_attr(&in, "iucr", "0486");
    incident_add_attr(&in, "beat_note", "x");
    incident_add_attr(&in, "location_description", "STREET");
    void *buf, *ref;
    size_t len, ref_len;
    assert_int_equal(codec_encode(codec, &in, &buf, &len, err, sizeof(err)), ERR_OK);
    assert_int_equal(codec_encode_libavro(codec, &in, &ref, &ref_len, err, sizeof(err)), ERR_OK);
    assert_int_equal(len, ref_len);
    assert_memory_equal(buf, ref, len);
    incident_init(&out);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_OK);
    assert_int_equal(out.n_attrs, 3);
    assert_string_equal(out.attrs[0].key, "iucr");
    assert_string_equal(out.attrs[0].value, "0486");
    assert_string_equal(out.attrs[1].value, "STREET");
    assert_string_equal(out.attrs[2].key, "beat_note");
    free(buf);
    free(ref);
    incident_clear(&in);
    incident_clear(&out);
    codec_destroy(codec);
}

/* The message of an incident whose only attribute is a=1, with that map replaced by the block of
 * `entries` entries that key_of names (value "x", the last one "z"). */
static void *with_map(struct codec *codec, size_t entries, void (*key_of)(size_t, char *),
                      size_t *len)
{
    void *buf = encode_ab(codec, false, len);
    static const char block[] = {2, 2, 'a', 2, '1', 0};
    char *at = memmem(buf, *len, block, sizeof(block));
    assert_non_null(at);
    size_t head = (size_t)(at - (char *)buf), tail = *len - head - sizeof(block);
    unsigned char *out = malloc(*len + 32 * entries + 32), *p = out;
    memcpy(p, buf, head);
    p += head;
    uint64_t u = (uint64_t)entries << 1; /* zig-zag of a positive count */
    do {
        *p = (unsigned char)(u & 0x7f);
        u >>= 7;
        *p++ |= u ? 0x80 : 0;
    } while (u);
    for (size_t i = 0; i < entries; i++) {
        char key[24];
        key_of(i, key);
        size_t kn = strlen(key);
        *p++ = (unsigned char)(kn << 1);
        memcpy(p, key, kn);
        p += kn;
        *p++ = 2;
        *p++ = i + 1 == entries ? 'z' : 'x';
    }
    *p++ = 0;
    memcpy(p, at + sizeof(block), tail);
    *len = (size_t)(p - out) + tail;
    free(buf);
    return out;
}

static void distinct_key(size_t i, char *key)
{
    snprintf(key, 24, "k%zu", i);
}

static void same_key(size_t i, char *key)
{
    (void)i;
    strcpy(key, "a");
}

/* A map of 1,001 keys is refused as the rulebook refuses it; 100,000 entries of one key are one
 * attribute with the last value, as libavro reads them. */
static void test_map_hostile(void **state)
{
    (void)state;
    char err[256];
    struct codec *codec = codec_new(0, err, sizeof(err));
    struct incident out, ref;
    size_t len;
    incident_init(&out);
    incident_init(&ref);
    void *buf = with_map(codec, INCIDENT_ATTRS_MAX + 1, distinct_key, &len);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_PERMANENT);
    assert_string_equal(err, "more than 1000 attributes (limit 1000)");
    assert_int_equal(codec_decode_libavro(codec, buf, len, &ref, err, sizeof(err)), ERR_PERMANENT);
    free(buf);
    buf = with_map(codec, INCIDENT_ATTRS_MAX, distinct_key, &len);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_OK);
    assert_int_equal(out.n_attrs, INCIDENT_ATTRS_MAX);
    free(buf);
    buf = with_map(codec, 100000, same_key, &len);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_OK);
    assert_int_equal(codec_decode_libavro(codec, buf, len, &ref, err, sizeof(err)), ERR_OK);
    assert_int_equal(out.n_attrs, 1);
    assert_string_equal(out.attrs[0].value, "z");
    assert_true(incident_equal(&out, &ref));
    free(buf);
    incident_clear(&out);
    incident_clear(&ref);
    codec_destroy(codec);
}

static void test_roundtrip_full(void **state)
{
    (void)state;
    struct incident inc;
    char err[256];
    struct codec *codec = codec_new(0, err, sizeof(err));
    assert_non_null(codec);
    fill(&inc);
    roundtrip(codec, &inc);
    incident_clear(&inc);
    codec_destroy(codec);
}

static void test_roundtrip_nulls(void **state)
{
    (void)state;
    struct incident inc;
    char err[256];
    struct codec *codec = codec_new(0, err, sizeof(err));
    fill(&inc);
    incident_set_str(&inc.report_id, NULL);
    incident_set_str(&inc.offense_code, NULL);
    incident_set_str(&inc.offense, NULL);
    incident_set_str(&inc.area, NULL);
    incident_set_str(&inc.beat, NULL);
    incident_set_str(&inc.address, NULL);
    inc.has_coords = false;
    inc.arrest = TRI_NULL;
    inc.domestic = TRI_NULL;
    inc.reported_at = TS_NULL;
    roundtrip(codec, &inc);
    incident_clear(&inc);
    codec_destroy(codec);
}

static void test_roundtrip_unicode_empty_and_large_attrs(void **state)
{
    (void)state;
    struct incident inc;
    char err[256], key[32], value[64];
    struct codec *codec = codec_new(0, err, sizeof(err));
    fill(&inc);
    /* No attributes at all. */
    for (size_t i = 0; i < inc.n_attrs; i++) {
        free(inc.attrs[i].key);
        free(inc.attrs[i].value);
    }
    inc.n_attrs = 0;
    roundtrip(codec, &inc);
    /* Unicode, empty strings, and a large map. */
    incident_set_str(&inc.address, "Stra\xc3\x9f"
                                   "e \xe2\x80\x94 \xf0\x9f\x9a\x93 caf\xc3\xa9");
    incident_set_str(&inc.offense, "");
    incident_add_attr(&inc, "", "");
    incident_add_attr(&inc, "n\xc3\xa4me", "\xe6\x9d\xb1\xe4\xba\xac");
    for (int i = 0; i < INCIDENT_ATTRS_MAX - 3; i++) { /* as many as the record may hold */
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "value %d with some text", i * 7);
        incident_add_attr(&inc, key, value);
    }
    char *big = malloc(INCIDENT_TEXT_MAX + 1); /* the longest value a field may hold */
    memset(big, 'x', INCIDENT_TEXT_MAX);
    big[INCIDENT_TEXT_MAX] = '\0';
    incident_add_attr(&inc, "big", big);
    free(big);
    roundtrip(codec, &inc);
    incident_clear(&inc);
    codec_destroy(codec);
}

static void test_single_object_framing(void **state)
{
    (void)state;
    struct incident inc;
    char err[256];
    void *buf;
    size_t len;
    struct codec *codec = codec_new(0, err, sizeof(err));
    fill(&inc);
    assert_int_equal(codec_encode(codec, &inc, &buf, &len, err, sizeof(err)), ERR_OK);
    unsigned char *p = buf;
    assert_int_equal(p[0], 0xC3);
    assert_int_equal(p[1], 0x01);
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++) {
        fp |= (uint64_t)p[2 + i] << (8 * i);
    }
    assert_true(fp == codec_fingerprint(codec));

    /* A different fingerprint is refused with a clear reason. */
    struct incident out;
    incident_init(&out);
    p[2] ^= 0xff;
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "unknown schema fingerprint"));
    p[2] ^= 0xff;
    /* A Confluent-framed message is refused by a codec without a schema id. */
    unsigned char conf[] = {0x00, 0, 0, 0, 7, 0x02};
    assert_int_equal(codec_decode(codec, conf, sizeof(conf), &out, err, sizeof(err)),
                     ERR_PERMANENT);
    assert_non_null(strstr(err, "unknown schema id 7"));
    /* Truncated body, trailing bytes, garbage. */
    assert_int_equal(codec_decode(codec, buf, len - 3, &out, err, sizeof(err)), ERR_PERMANENT);
    unsigned char *longer = malloc(len + 2);
    memcpy(longer, buf, len);
    longer[len] = 0;
    longer[len + 1] = 0;
    assert_int_equal(codec_decode(codec, longer, len + 2, &out, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "trailing"));
    free(longer);
    assert_int_equal(codec_decode(codec, "hello", 5, &out, err, sizeof(err)), ERR_PERMANENT);
    assert_int_equal(codec_decode(codec, "", 0, &out, err, sizeof(err)), ERR_PERMANENT);
    incident_clear(&out);
    incident_clear(&inc);
    free(buf);
    codec_destroy(codec);
}

static void test_confluent_framing(void **state)
{
    (void)state;
    struct incident inc, out;
    char err[256];
    void *buf;
    size_t len;
    struct codec *codec = codec_new(42, err, sizeof(err));
    struct codec *other = codec_new(43, err, sizeof(err));
    fill(&inc);
    incident_init(&out);
    assert_int_equal(codec_encode(codec, &inc, &buf, &len, err, sizeof(err)), ERR_OK);
    unsigned char *p = buf;
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 0);
    assert_int_equal(p[2], 0);
    assert_int_equal(p[3], 0);
    assert_int_equal(p[4], 42);
    assert_int_equal(codec_decode(codec, buf, len, &out, err, sizeof(err)), ERR_OK);
    assert_true(incident_equal(&inc, &out));
    assert_int_equal(codec_decode(other, buf, len, &out, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "unknown schema id 42"));
    incident_clear(&out);
    incident_clear(&inc);
    free(buf);
    codec_destroy(codec);
    codec_destroy(other);
}

static void test_required_fields(void **state)
{
    (void)state;
    struct incident inc;
    char err[256];
    void *buf;
    size_t len;
    struct codec *codec = codec_new(0, err, sizeof(err));
    fill(&inc);
    inc.occurred_at = TS_NULL;
    assert_int_equal(codec_encode(codec, &inc, &buf, &len, err, sizeof(err)), ERR_PERMANENT);
    assert_null(buf);
    incident_clear(&inc);
    codec_destroy(codec);
}

/* The bytes on the wire for a fixed record, as Blotter wrote them before the field table was
 * generated from common/incident_fields.h: any change here breaks every reader of the topics. */
static void test_wire_bytes_are_pinned(void **state)
{
    (void)state;
    static const char want_full[] =
        "c301aaa81fc82ad876600e6368696361676f10313131363033343702104a41353236343031809cecbc90bc"
        "af0500f0c2b3c7d2ddaf05020830343630021e424154544552593a2053494d504c450e61737361756c740c"
        "706572736f6e0206303135020831353234021e30353458582057205249434520535402d6e32b72a9f24440"
        "02550d9fcdbaf055c0020102000408697563720830343630286c6f636174696f6e5f646573637269707469"
        "6f6e0a414c4c4559008080f28183898506";
    static const char want_sparse[] =
        "c301aaa81fc82ad876600e6368696361676f10313131363033343700809cecbc90bcaf050202f0c2b3c7d2"
        "ddaf05020830343630021e424154544552593a2053494d504c450e61737361756c740c706572736f6e0002"
        "0831353234021e30353458582057205249434520535400000002000408697563720830343630286c6f6361"
        "74696f6e5f6465736372697074696f6e0a414c4c4559008080f28183898506";
    struct incident inc;
    char err[256], hex[1024];
    void *buf;
    size_t len;
    struct codec *codec = codec_new(0, err, sizeof(err));
    fill(&inc);
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            inc.has_coords = false;
            incident_set_str(&inc.report_id, NULL);
            inc.reported_at = 1;
            inc.arrest = TRI_NULL;
            incident_set_str(&inc.area, NULL);
        }
        assert_int_equal(codec_encode(codec, &inc, &buf, &len, err, sizeof(err)), ERR_OK);
        assert_true(len * 2 < sizeof(hex));
        for (size_t i = 0; i < len; i++) {
            snprintf(hex + 2 * i, 3, "%02x", ((unsigned char *)buf)[i]);
        }
        assert_string_equal(hex, round ? want_sparse : want_full);
        free(buf);
    }
    incident_clear(&inc);
    codec_destroy(codec);
}

static void test_content_hash(void **state)
{
    (void)state;
    struct incident a, b;
    fill(&a);
    fill(&b);
    assert_true(incident_content_hash(&a) == incident_content_hash(&b));
    b.ingested_at += 1; /* not part of the content */
    assert_true(incident_content_hash(&a) == incident_content_hash(&b));
    incident_set_str(&b.category, "theft");
    assert_true(incident_content_hash(&a) != incident_content_hash(&b));
    incident_clear(&b);
    fill(&b);
    free(b.attrs[0].value);
    b.attrs[0].value = strdup("0461");
    assert_true(incident_content_hash(&a) != incident_content_hash(&b));
    incident_clear(&a);
    incident_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_full),
        cmocka_unit_test(test_map_keys),
        cmocka_unit_test(test_encode_key_twice),
        cmocka_unit_test(test_map_hostile),
        cmocka_unit_test(test_roundtrip_nulls),
        cmocka_unit_test(test_roundtrip_unicode_empty_and_large_attrs),
        cmocka_unit_test(test_single_object_framing),
        cmocka_unit_test(test_confluent_framing),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_content_hash),
        cmocka_unit_test(test_wire_bytes_are_pinned),
    };
    return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
