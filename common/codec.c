#include "common/codec.h"

#include <avro.h>
#include <stdlib.h>
#include <string.h>

#include "common/canonical.h"

/* Field positions in schemas/incident.avsc; checked against the schema in codec_new. */
enum {
    F_CITY,
    F_INCIDENT_ID,
    F_REPORT_ID,
    F_OCCURRED_AT,
    F_REPORTED_AT,
    F_SOURCE_UPDATED_AT,
    F_OFFENSE_CODE,
    F_OFFENSE,
    F_CATEGORY,
    F_CRIME_AGAINST,
    F_AREA,
    F_BEAT,
    F_ADDRESS,
    F_LATITUDE,
    F_LONGITUDE,
    F_ARREST,
    F_DOMESTIC,
    F_ATTRIBUTES,
    F_INGESTED_AT,
    F__COUNT
};

static const char *field_names[F__COUNT] = {
    "city",         "incident_id", "report_id", "occurred_at",   "reported_at", "source_updated_at",
    "offense_code", "offense",     "category",  "crime_against", "area",        "beat",
    "address",      "latitude",    "longitude", "arrest",        "domestic",    "attributes",
    "ingested_at"};

struct codec {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value; /* reused for every encode and decode */
    char *canonical;
    uint64_t fingerprint;
    int32_t schema_id;
};

void codec_destroy(struct codec *codec)
{
    if (!codec) {
        return;
    }
    if (codec->iface) {
        avro_value_decref(&codec->value);
        avro_value_iface_decref(codec->iface);
    }
    if (codec->schema) {
        avro_schema_decref(codec->schema);
    }
    free(codec->canonical);
    free(codec);
}

struct codec *codec_new(int32_t schema_id, char *errstr, size_t errstr_size)
{
    struct codec *codec = calloc(1, sizeof(*codec));
    if (!codec) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    codec->schema_id = schema_id;
    codec->canonical = avro_canonical_form(incident_avsc, errstr, errstr_size);
    if (!codec->canonical) {
        goto fail;
    }
    codec->fingerprint = avro_crc64(codec->canonical, strlen(codec->canonical));
    if (avro_schema_from_json_length(incident_avsc, strlen(incident_avsc), &codec->schema) != 0) {
        err_set(errstr, errstr_size, "incident schema: %s", avro_strerror());
        goto fail;
    }
    for (int i = 0; i < F__COUNT; i++) {
        const char *name = avro_schema_record_field_name(codec->schema, i);
        if (!name || strcmp(name, field_names[i]) != 0) {
            err_set(errstr, errstr_size, "incident schema: field %d is %s, expected %s", i,
                    name ? name : "missing", field_names[i]);
            goto fail;
        }
    }
    codec->iface = avro_generic_class_from_schema(codec->schema);
    if (!codec->iface || avro_generic_value_new(codec->iface, &codec->value) != 0) {
        if (codec->iface) {
            avro_value_iface_decref(codec->iface);
            codec->iface = NULL;
        }
        err_set(errstr, errstr_size, "incident schema: %s", avro_strerror());
        goto fail;
    }
    return codec;
fail:
    codec_destroy(codec);
    return NULL;
}

uint64_t codec_fingerprint(const struct codec *codec)
{
    return codec->fingerprint;
}

const char *codec_canonical_form(const struct codec *codec)
{
    return codec->canonical;
}

/* ---- Encoding ---- */

static int set_str(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, (size_t)idx, &f, NULL) ||
           avro_value_set_string(&f, s ? s : "");
}

static int set_opt(avro_value_t *rec, int idx, avro_value_t *branch, bool present)
{
    avro_value_t f;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) ||
        avro_value_set_branch(&f, present ? 1 : 0, branch)) {
        return -1;
    }
    return present ? 0 : avro_value_set_null(branch);
}

static int set_opt_str(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t b;
    return set_opt(rec, idx, &b, s != NULL) || (s && avro_value_set_string(&b, s));
}

static int set_opt_ts(avro_value_t *rec, int idx, int64_t ts)
{
    avro_value_t b;
    return set_opt(rec, idx, &b, ts != TS_NULL) || (ts != TS_NULL && avro_value_set_long(&b, ts));
}

static int set_opt_double(avro_value_t *rec, int idx, bool present, double d)
{
    avro_value_t b;
    return set_opt(rec, idx, &b, present) || (present && avro_value_set_double(&b, d));
}

static int set_opt_bool(avro_value_t *rec, int idx, int8_t v)
{
    avro_value_t b;
    return set_opt(rec, idx, &b, v != TRI_NULL) || (v != TRI_NULL && avro_value_set_boolean(&b, v));
}

static int set_long(avro_value_t *rec, int idx, int64_t v)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_set_long(&f, v);
}

enum err_class codec_encode(struct codec *codec, const struct incident *inc, void **out,
                            size_t *out_len, char *errstr, size_t errstr_size)
{
    avro_value_t *rec = &codec->value;
    avro_value_t attrs;
    size_t body_len = 0, header_len = codec->schema_id ? 5 : 10;
    unsigned char *buf = NULL;
    avro_writer_t w = NULL;

    *out = NULL;
    *out_len = 0;
    if (!inc->city || !inc->incident_id || !inc->category || !inc->crime_against ||
        inc->occurred_at == TS_NULL || inc->source_updated_at == TS_NULL ||
        inc->ingested_at == TS_NULL) {
        err_set(errstr, errstr_size,
                "incident lacks a required field (city, incident_id, category, crime_against, "
                "occurred_at, source_updated_at, ingested_at)");
        return ERR_PERMANENT;
    }
    avro_value_reset(rec);
    if (set_str(rec, F_CITY, inc->city) || set_str(rec, F_INCIDENT_ID, inc->incident_id) ||
        set_opt_str(rec, F_REPORT_ID, inc->report_id) ||
        set_long(rec, F_OCCURRED_AT, inc->occurred_at) ||
        set_opt_ts(rec, F_REPORTED_AT, inc->reported_at) ||
        set_long(rec, F_SOURCE_UPDATED_AT, inc->source_updated_at) ||
        set_opt_str(rec, F_OFFENSE_CODE, inc->offense_code) ||
        set_opt_str(rec, F_OFFENSE, inc->offense) || set_str(rec, F_CATEGORY, inc->category) ||
        set_str(rec, F_CRIME_AGAINST, inc->crime_against) || set_opt_str(rec, F_AREA, inc->area) ||
        set_opt_str(rec, F_BEAT, inc->beat) || set_opt_str(rec, F_ADDRESS, inc->address) ||
        set_opt_double(rec, F_LATITUDE, inc->has_coords, inc->latitude) ||
        set_opt_double(rec, F_LONGITUDE, inc->has_coords, inc->longitude) ||
        set_opt_bool(rec, F_ARREST, inc->arrest) || set_opt_bool(rec, F_DOMESTIC, inc->domestic) ||
        set_long(rec, F_INGESTED_AT, inc->ingested_at) ||
        avro_value_get_by_index(rec, F_ATTRIBUTES, &attrs, NULL)) {
        goto avro_fail;
    }
    for (size_t i = 0; i < inc->n_attrs; i++) {
        avro_value_t elem;
        if (avro_value_add(&attrs, inc->attrs[i].key, &elem, NULL, NULL) ||
            avro_value_set_string(&elem, inc->attrs[i].value)) {
            goto avro_fail;
        }
    }
    if (avro_value_sizeof(rec, &body_len)) {
        goto avro_fail;
    }
    buf = malloc(header_len + body_len);
    if (!buf) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    if (codec->schema_id) {
        uint32_t id = (uint32_t)codec->schema_id;
        buf[0] = 0x00;
        buf[1] = (unsigned char)(id >> 24);
        buf[2] = (unsigned char)(id >> 16);
        buf[3] = (unsigned char)(id >> 8);
        buf[4] = (unsigned char)id;
    } else {
        buf[0] = 0xC3;
        buf[1] = 0x01;
        for (int i = 0; i < 8; i++) {
            buf[2 + i] = (unsigned char)(codec->fingerprint >> (8 * i));
        }
    }
    w = avro_writer_memory((char *)buf + header_len, (int64_t)body_len);
    if (!w || avro_value_write(w, rec)) {
        goto avro_fail;
    }
    avro_writer_free(w);
    *out = buf;
    *out_len = header_len + body_len;
    return ERR_OK;
avro_fail:
    err_set(errstr, errstr_size, "avro encode: %s", avro_strerror());
    if (w) {
        avro_writer_free(w);
    }
    free(buf);
    return ERR_PERMANENT;
}

/* ---- Decoding ---- */

static int get_str(avro_value_t *rec, int idx, char **out)
{
    avro_value_t f;
    const char *s;
    size_t n;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_get_string(&f, &s, &n)) {
        return -1;
    }
    return incident_set_strn(out, s, n ? n - 1 : 0);
}

/* A ["null", T] union: 0 and *present=false for null, else the branch in *b. */
static int get_opt(avro_value_t *rec, int idx, avro_value_t *b, bool *present)
{
    avro_value_t f;
    int disc;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) ||
        avro_value_get_discriminant(&f, &disc) || avro_value_get_current_branch(&f, b)) {
        return -1;
    }
    *present = disc == 1;
    return 0;
}

static int get_opt_str(avro_value_t *rec, int idx, char **out)
{
    avro_value_t b;
    bool present;
    const char *s;
    size_t n;
    if (get_opt(rec, idx, &b, &present)) {
        return -1;
    }
    if (!present) {
        return incident_set_str(out, NULL);
    }
    return avro_value_get_string(&b, &s, &n) || incident_set_strn(out, s, n ? n - 1 : 0);
}

static int get_opt_ts(avro_value_t *rec, int idx, int64_t *out)
{
    avro_value_t b;
    bool present;
    *out = TS_NULL;
    return get_opt(rec, idx, &b, &present) || (present && avro_value_get_long(&b, out));
}

static int get_opt_bool(avro_value_t *rec, int idx, int8_t *out)
{
    avro_value_t b;
    bool present;
    int v = 0;
    if (get_opt(rec, idx, &b, &present) || (present && avro_value_get_boolean(&b, &v))) {
        return -1;
    }
    *out = present ? (int8_t)(v ? TRI_TRUE : TRI_FALSE) : TRI_NULL;
    return 0;
}

static int get_long(avro_value_t *rec, int idx, int64_t *out)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_get_long(&f, out);
}

enum err_class codec_decode(struct codec *codec, const void *data, size_t len, struct incident *inc,
                            char *errstr, size_t errstr_size)
{
    const unsigned char *p = data;
    size_t header_len;
    avro_value_t *rec = &codec->value;

    incident_clear(inc);
    if (len >= 10 && p[0] == 0xC3 && p[1] == 0x01) {
        uint64_t fp = 0;
        for (int i = 0; i < 8; i++) {
            fp |= (uint64_t)p[2 + i] << (8 * i);
        }
        if (fp != codec->fingerprint) {
            err_set(errstr, errstr_size,
                    "unknown schema fingerprint 0x%016llx (this build knows 0x%016llx)",
                    (unsigned long long)fp, (unsigned long long)codec->fingerprint);
            return ERR_PERMANENT;
        }
        header_len = 10;
    } else if (len >= 5 && p[0] == 0x00) {
        int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
                               ((uint32_t)p[3] << 8) | p[4]);
        if (codec->schema_id == 0 || id != codec->schema_id) {
            err_set(errstr, errstr_size, "unknown schema id %d (configured: %d)", id,
                    codec->schema_id);
            return ERR_PERMANENT;
        }
        header_len = 5;
    } else {
        err_set(errstr, errstr_size,
                "not an Avro single-object or Confluent-framed message "
                "(%zu bytes)",
                len);
        return ERR_PERMANENT;
    }

    avro_reader_t r = avro_reader_memory((const char *)p + header_len, (int64_t)(len - header_len));
    if (!r) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    int rc = avro_value_read(r, rec);
    char extra;
    /* A memory reader refuses to read past its end: a byte left over means trailing garbage. */
    bool trailing = rc == 0 && avro_read(r, &extra, 1) == 0;
    avro_reader_free(r);
    if (rc != 0) {
        err_set(errstr, errstr_size, "avro body does not decode: %s", avro_strerror());
        return ERR_PERMANENT;
    }
    if (trailing) {
        err_set(errstr, errstr_size, "avro body has trailing bytes");
        return ERR_PERMANENT;
    }

    avro_value_t attrs, lat, lon;
    bool has_lat, has_lon;
    size_t n_attrs;
    double d;
    if (get_str(rec, F_CITY, &inc->city) || get_str(rec, F_INCIDENT_ID, &inc->incident_id) ||
        get_opt_str(rec, F_REPORT_ID, &inc->report_id) ||
        get_long(rec, F_OCCURRED_AT, &inc->occurred_at) ||
        get_opt_ts(rec, F_REPORTED_AT, &inc->reported_at) ||
        get_long(rec, F_SOURCE_UPDATED_AT, &inc->source_updated_at) ||
        get_opt_str(rec, F_OFFENSE_CODE, &inc->offense_code) ||
        get_opt_str(rec, F_OFFENSE, &inc->offense) || get_str(rec, F_CATEGORY, &inc->category) ||
        get_str(rec, F_CRIME_AGAINST, &inc->crime_against) ||
        get_opt_str(rec, F_AREA, &inc->area) || get_opt_str(rec, F_BEAT, &inc->beat) ||
        get_opt_str(rec, F_ADDRESS, &inc->address) || get_opt(rec, F_LATITUDE, &lat, &has_lat) ||
        get_opt(rec, F_LONGITUDE, &lon, &has_lon) || get_opt_bool(rec, F_ARREST, &inc->arrest) ||
        get_opt_bool(rec, F_DOMESTIC, &inc->domestic) ||
        get_long(rec, F_INGESTED_AT, &inc->ingested_at) ||
        avro_value_get_by_index(rec, F_ATTRIBUTES, &attrs, NULL) ||
        avro_value_get_size(&attrs, &n_attrs)) {
        goto fail;
    }
    inc->has_coords = has_lat && has_lon;
    if (inc->has_coords) {
        if (avro_value_get_double(&lat, &d)) {
            goto fail;
        }
        inc->latitude = d;
        if (avro_value_get_double(&lon, &d)) {
            goto fail;
        }
        inc->longitude = d;
    }
    for (size_t i = 0; i < n_attrs; i++) {
        avro_value_t elem;
        const char *key, *s;
        size_t n;
        if (avro_value_get_by_index(&attrs, i, &elem, &key) ||
            avro_value_get_string(&elem, &s, &n) || incident_add_attr(inc, key, s)) {
            goto fail;
        }
    }
    return ERR_OK;
fail:
    err_set(errstr, errstr_size, "avro decode: %s", avro_strerror());
    incident_clear(inc);
    return ERR_PERMANENT;
}
