#include "common/codec.h"

#include <avro.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/canonical.h"

struct codec {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value; /* reused for every encode and decode */
    char *canonical;
    uint64_t fingerprint;
    int32_t schema_id;
    char *scratch;           /* codec_encode_libavro: written here first, then copied out */
    avro_writer_t scratch_w; /* ... by this writer */
    struct buf enc;          /* codec_encode: the same, by its own writer */
};

#define SCRATCH_BYTES (64 * 1024) /* a record larger than this is measured first instead */

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
    if (codec->scratch_w) {
        avro_writer_free(codec->scratch_w);
    }
    free(codec->scratch);
    buf_free(&codec->enc);
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
    if (!(codec->scratch = calloc(1, SCRATCH_BYTES)) ||
        !(codec->scratch_w = avro_writer_memory(codec->scratch, SCRATCH_BYTES))) {
        err_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    codec->canonical = avro_canonical_form(incident_avsc, errstr, errstr_size);
    if (!codec->canonical) {
        goto fail;
    }
    codec->fingerprint = avro_crc64(codec->canonical, strlen(codec->canonical));
    if (avro_schema_from_json_length(incident_avsc, strlen(incident_avsc), &codec->schema) != 0) {
        err_set(errstr, errstr_size, "incident schema: %s", avro_strerror());
        goto fail;
    }
    /* The schema and common/incident_fields.h must list the same fields in the same order. */
    if (avro_schema_record_size(codec->schema) != INCIDENT_N_FIELDS) {
        err_set(errstr, errstr_size, "incident schema: %zu fields, common/incident_fields.h has %d",
                avro_schema_record_size(codec->schema), (int)INCIDENT_N_FIELDS);
        goto fail;
    }
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        const char *name = avro_schema_record_field_name(codec->schema, (int)i);
        if (!name || strcmp(name, incident_fields[i].name) != 0) {
            err_set(errstr, errstr_size, "incident schema: field %zu is %s, expected %s", i,
                    name ? name : "missing", incident_fields[i].name);
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

/* Whether field f of inc holds a value. */
static bool present(const struct incident *inc, const struct incident_field *f)
{
    switch (f->kind) {
    case I_STR:
        return *INCIDENT_CAT(char *, inc, f) != NULL;
    case I_TS:
        return *INCIDENT_CAT(int64_t, inc, f) != TS_NULL;
    case I_COORD:
        return inc->has_coords;
    case I_TRI:
        return *INCIDENT_CAT(int8_t, inc, f) != TRI_NULL;
    case I_ATTRS:
        return true;
    }
    return false;
}

/* Set the Avro value of field f (the union's branch for an I_OPT field). */
static int encode_field(avro_value_t *rec, size_t idx, const struct incident_field *f,
                        const struct incident *inc)
{
    avro_value_t field, v;
    if (avro_value_get_by_index(rec, idx, &field, NULL)) {
        return -1;
    }
    bool has = present(inc, f);
    if (f->flags & I_OPT) {
        if (avro_value_set_branch(&field, has ? 1 : 0, &v)) {
            return -1;
        }
        if (!has) {
            return avro_value_set_null(&v);
        }
    } else {
        v = field;
    }
    switch (f->kind) {
    case I_STR:
        return avro_value_set_string(&v, *INCIDENT_CAT(char *, inc, f));
    case I_TS:
        return avro_value_set_long(&v, *INCIDENT_CAT(int64_t, inc, f));
    case I_COORD:
        return avro_value_set_double(&v, *INCIDENT_CAT(double, inc, f));
    case I_TRI:
        return avro_value_set_boolean(&v, *INCIDENT_CAT(int8_t, inc, f) == TRI_TRUE);
    case I_ATTRS:
        for (size_t i = 0; i < inc->n_attrs; i++) {
            avro_value_t elem;
            if (avro_value_add(&v, inc->attrs[i].key, &elem, NULL, NULL) ||
                avro_value_set_string(&elem, inc->attrs[i].value)) {
                return -1;
            }
        }
        return 0;
    }
    return -1;
}

/* The framing header (5 or 10 bytes) into buf. */
static size_t put_header(const struct codec *codec, unsigned char *buf)
{
    if (codec->schema_id) {
        uint32_t id = (uint32_t)codec->schema_id;
        buf[0] = 0x00;
        buf[1] = (unsigned char)(id >> 24);
        buf[2] = (unsigned char)(id >> 16);
        buf[3] = (unsigned char)(id >> 8);
        buf[4] = (unsigned char)id;
        return 5;
    }
    buf[0] = 0xC3;
    buf[1] = 0x01;
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = (unsigned char)(codec->fingerprint >> (8 * i));
    }
    return 10;
}

/* What every encoding checks first: the rulebook, and the stamp. */
static enum err_class encodable(const struct incident *inc, char *errstr, size_t errstr_size)
{
    if (incident_check(inc, errstr, errstr_size) != ERR_OK) {
        return ERR_PERMANENT;
    }
    if (inc->ingested_at == TS_NULL) { /* the one field the rulebook lets be null for a while */
        err_set(errstr, errstr_size, "ingested_at is missing: the record was never stamped");
        return ERR_PERMANENT;
    }
    return ERR_OK;
}

/* A zig-zag varint. */
static void put_long(struct buf *b, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char tmp[10];
    int n = 0;
    do {
        tmp[n] = (unsigned char)(u & 0x7f);
        u >>= 7;
        tmp[n++] |= u ? 0x80 : 0;
    } while (u);
    buf_put(b, tmp, (size_t)n);
}

static void put_str(struct buf *b, const char *s, size_t n)
{
    put_long(b, (int64_t)n);
    buf_put(b, s, n);
}

/* The attribute keys of one record, for finding a key given twice in time proportional to the
 * keys (a hostile map may hold hundreds of thousands): open addressing over attribute indices
 * (+1; 0 is empty), at most INCIDENT_ATTRS_MAX of them, so the table stays under half full. */
#define KEYSET_SLOTS 2048
struct keyset {
    uint16_t slot[KEYSET_SLOTS];
};

/* The index of the attribute among attrs whose key is k[0..n), or its free slot in *free_slot
 * and -1. */
static long keyset_find(const struct keyset *ks, const struct attr *attrs, const char *k, size_t n,
                        size_t *free_slot)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    }
    for (size_t s = h & (KEYSET_SLOTS - 1);; s = (s + 1) & (KEYSET_SLOTS - 1)) {
        if (!ks->slot[s]) {
            *free_slot = s;
            return -1;
        }
        const char *key = attrs[ks->slot[s] - 1].key;
        if (strncmp(key, k, n) == 0 && key[n] == '\0') {
            return ks->slot[s] - 1;
        }
    }
}

/* The attributes map in one block. A key given twice is written once, in its first place with
 * its last value, as libavro's generic map does. incident_check allows at most
 * INCIDENT_ATTRS_MAX. */
static void put_attrs(struct buf *b, const struct incident *inc)
{
    size_t n = inc->n_attrs, kept = 0, free_slot;
    uint16_t first[INCIDENT_ATTRS_MAX]; /* the index of each key's first occurrence */
    size_t klen[INCIDENT_ATTRS_MAX];
    bool twice = false;
    struct keyset ks;
    memset(&ks, 0, sizeof(ks));
    for (size_t i = 0; i < n; i++) {
        klen[i] = strlen(inc->attrs[i].key);
        long at = keyset_find(&ks, inc->attrs, inc->attrs[i].key, klen[i], &free_slot);
        if (at >= 0) {
            first[i] = (uint16_t)at;
            twice = true;
        } else {
            first[i] = (uint16_t)i;
            ks.slot[free_slot] = (uint16_t)(i + 1);
            kept++;
        }
    }
    if (kept) {
        put_long(b, (int64_t)kept);
        for (size_t i = 0; i < n; i++) {
            if (first[i] != i) {
                continue;
            }
            size_t last = i;
            for (size_t j = i + 1; twice && j < n; j++) {
                last = first[j] == i ? j : last;
            }
            put_str(b, inc->attrs[i].key, klen[i]);
            put_str(b, inc->attrs[last].value, strlen(inc->attrs[last].value));
        }
    }
    put_long(b, 0);
}

/* The record's fields straight into b, in the schema's order: byte for byte what libavro writes
 * for the same incident (test_codec and fuzz_codec hold it to that). */
static void put_fields(struct buf *b, const struct incident *inc)
{
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        const struct incident_field *f = &incident_fields[i];
        if (f->flags & I_OPT) {
            bool has = present(inc, f);
            put_long(b, has ? 1 : 0);
            if (!has) {
                continue;
            }
        }
        switch (f->kind) {
        case I_STR: {
            const char *v = *INCIDENT_CAT(char *, inc, f);
            put_str(b, v, strlen(v));
            break;
        }
        case I_TS:
            put_long(b, *INCIDENT_CAT(int64_t, inc, f));
            break;
        case I_COORD: {
            uint64_t u;
            unsigned char le[8];
            memcpy(&u, INCIDENT_CAT(double, inc, f), sizeof(u));
            for (int k = 0; k < 8; k++) {
                le[k] = (unsigned char)(u >> (8 * k));
            }
            buf_put(b, le, sizeof(le));
            break;
        }
        case I_TRI:
            buf_putc(b, *INCIDENT_CAT(int8_t, inc, f) == TRI_TRUE ? 1 : 0);
            break;
        case I_ATTRS:
            put_attrs(b, inc);
            break;
        }
    }
}

enum err_class codec_encode(struct codec *codec, const struct incident *inc, void **out,
                            size_t *out_len, char *errstr, size_t errstr_size)
{
    *out = NULL;
    *out_len = 0;
    if (encodable(inc, errstr, errstr_size) != ERR_OK) {
        return ERR_PERMANENT;
    }
    struct buf *b = &codec->enc;
    buf_reset(b);
    unsigned char header[10];
    buf_put(b, header, put_header(codec, header));
    put_fields(b, inc);
    void *copy = b->oom ? NULL : malloc(b->len);
    if (!copy) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    memcpy(copy, b->p, b->len);
    *out = copy;
    *out_len = b->len;
    return ERR_OK;
}

enum err_class codec_encode_libavro(struct codec *codec, const struct incident *inc, void **out,
                                    size_t *out_len, char *errstr, size_t errstr_size)
{
    avro_value_t *rec = &codec->value;
    size_t body_len = 0, header_len = codec->schema_id ? 5 : 10;
    unsigned char *buf = NULL;
    avro_writer_t w = NULL;

    *out = NULL;
    *out_len = 0;
    if (encodable(inc, errstr, errstr_size) != ERR_OK) {
        return ERR_PERMANENT;
    }
    avro_value_reset(rec);
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        if (encode_field(rec, i, &incident_fields[i], inc) != 0) {
            goto avro_fail;
        }
    }
    /* One pass into the codec's scratch buffer; only a record larger than that is measured (a
     * second walk of the record) and written straight into its own buffer. */
    avro_writer_memory_set_dest(codec->scratch_w, codec->scratch, SCRATCH_BYTES);
    bool in_scratch = avro_value_write(codec->scratch_w, rec) == 0;
    if (in_scratch) {
        body_len = (size_t)avro_writer_tell(codec->scratch_w);
    } else if (avro_value_sizeof(rec, &body_len)) {
        goto avro_fail;
    }
    buf = malloc(header_len + body_len);
    if (!buf) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    put_header(codec, buf);
    if (in_scratch) {
        memcpy(buf + header_len, codec->scratch, body_len);
    } else {
        w = avro_writer_memory((char *)buf + header_len, (int64_t)body_len);
        if (!w || avro_value_write(w, rec)) {
            goto avro_fail;
        }
        avro_writer_free(w);
    }
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

/* ---- The length walk: a body's declared lengths against the bytes it has ---- */

struct walk {
    const unsigned char *p, *end;
    char *errstr;
    size_t errstr_size;
};

/* A zig-zag varint: 0, or -1 with errstr. */
static int walk_long(struct walk *w, int64_t *v)
{
    uint64_t u = 0;
    for (int shift = 0;; shift += 7) {
        if (w->p >= w->end) {
            err_set(w->errstr, w->errstr_size, "avro body is truncated");
            return -1;
        }
        if (shift > 63) {
            err_set(w->errstr, w->errstr_size, "avro varint is longer than 10 bytes");
            return -1;
        }
        unsigned char b = *w->p++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            break;
        }
    }
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

/* Skip n bytes that a length said follow. */
static int walk_skip(struct walk *w, int64_t n, const char *what)
{
    if (n < 0 || n > w->end - w->p) {
        err_set(w->errstr, w->errstr_size,
                "avro %s length %lld is negative or past the %lld bytes left", what, (long long)n,
                (long long)(w->end - w->p));
        return -1;
    }
    w->p += n;
    return 0;
}

static int walk_value(struct walk *w, avro_schema_t s, int depth);

/* The blocks of a map or an array: counts, each item, a zero count at the end. */
static int walk_blocks(struct walk *w, avro_schema_t items, bool map, int depth)
{
    for (;;) {
        int64_t count;
        if (walk_long(w, &count) != 0) {
            return -1;
        }
        if (count == 0) {
            return 0;
        }
        if (count < 0) { /* a negative count is followed by the block's size in bytes */
            int64_t size;
            if (count == INT64_MIN || walk_long(w, &size) != 0) {
                err_set(w->errstr, w->errstr_size, "avro block count is invalid");
                return -1;
            }
            if (size < 0 || size > w->end - w->p) {
                err_set(w->errstr, w->errstr_size, "avro block size %lld is past the bytes left",
                        (long long)size);
                return -1;
            }
            count = -count;
        }
        /* Each item takes at least a byte (a map's key is a string with its length). */
        if (count > w->end - w->p) {
            err_set(w->errstr, w->errstr_size, "avro %s count %lld is past the %lld bytes left",
                    map ? "map" : "array", (long long)count, (long long)(w->end - w->p));
            return -1;
        }
        for (int64_t i = 0; i < count; i++) {
            int64_t klen;
            if (map && (walk_long(w, &klen) != 0 || walk_skip(w, klen, "map key") != 0)) {
                return -1;
            }
            if (walk_value(w, items, depth + 1) != 0) {
                return -1;
            }
        }
    }
}

static int walk_value(struct walk *w, avro_schema_t s, int depth)
{
    int64_t v;
    if (depth > 32) {
        err_set(w->errstr, w->errstr_size, "avro schema nests too deep");
        return -1;
    }
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        return walk_skip(w, 1, "boolean");
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_ENUM:
        return walk_long(w, &v);
    case AVRO_FLOAT:
        return walk_skip(w, 4, "float");
    case AVRO_DOUBLE:
        return walk_skip(w, 8, "double");
    case AVRO_FIXED:
        return walk_skip(w, avro_schema_fixed_size(s), "fixed");
    case AVRO_STRING:
    case AVRO_BYTES:
        return walk_long(w, &v) != 0 ? -1 : walk_skip(w, v, "string");
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++) {
            if (walk_value(w, avro_schema_record_field_get_by_index(s, (int)i), depth + 1) != 0) {
                return -1;
            }
        }
        return 0;
    case AVRO_UNION:
        if (walk_long(w, &v) != 0) {
            return -1;
        }
        if (v < 0 || (size_t)v >= avro_schema_union_size(s)) {
            err_set(w->errstr, w->errstr_size, "avro union branch %lld does not exist",
                    (long long)v);
            return -1;
        }
        return walk_value(w, avro_schema_union_branch(s, (int)v), depth + 1);
    case AVRO_MAP:
        return walk_blocks(w, avro_schema_map_values(s), true, depth);
    case AVRO_ARRAY:
        return walk_blocks(w, avro_schema_array_items(s), false, depth);
    case AVRO_LINK:
        return walk_value(w, avro_schema_link_target(s), depth + 1);
    }
    err_set(w->errstr, w->errstr_size, "avro schema type %d is not supported", (int)avro_typeof(s));
    return -1;
}

int codec_walk(avro_schema_t schema, const void *body, size_t len, char *errstr, size_t errstr_size)
{
    struct walk w = {body, (const unsigned char *)body + len, errstr, errstr_size};
    if (walk_value(&w, schema, 0) != 0) {
        return -1;
    }
    if (w.p != w.end) {
        err_set(errstr, errstr_size, "avro body has trailing bytes");
        return -1;
    }
    return 0;
}

/* ---- Decoding ---- */

/* Read field f of rec into inc. A present coordinate counts in *coords. */
static int decode_field(avro_value_t *rec, size_t idx, const struct incident_field *f,
                        struct incident *inc, int *coords)
{
    avro_value_t field, v;
    const char *s;
    size_t n;
    if (avro_value_get_by_index(rec, idx, &field, NULL)) {
        return -1;
    }
    if (f->flags & I_OPT) {
        int disc;
        if (avro_value_get_discriminant(&field, &disc) ||
            avro_value_get_current_branch(&field, &v)) {
            return -1;
        }
        if (disc != 1) {
            return 0; /* null: incident_clear left the member null */
        }
    } else {
        v = field;
    }
    switch (f->kind) {
    case I_STR:
        if (avro_value_get_string(&v, &s, &n)) {
            return -1;
        }
        if (n > 1 && memchr(s, 0, n - 1)) {
            return -2; /* PostgreSQL text cannot hold it */
        }
        return incident_set_strn(INCIDENT_AT(char *, inc, f), s, n ? n - 1 : 0);
    case I_TS:
        return avro_value_get_long(&v, INCIDENT_AT(int64_t, inc, f));
    case I_COORD:
        ++*coords;
        return avro_value_get_double(&v, INCIDENT_AT(double, inc, f));
    case I_TRI: {
        int b = 0;
        if (avro_value_get_boolean(&v, &b)) {
            return -1;
        }
        *INCIDENT_AT(int8_t, inc, f) = b ? TRI_TRUE : TRI_FALSE;
        return 0;
    }
    case I_ATTRS: {
        size_t count;
        if (avro_value_get_size(&v, &count)) {
            return -1;
        }
        for (size_t i = 0; i < count; i++) {
            avro_value_t elem;
            const char *key;
            if (avro_value_get_by_index(&v, i, &elem, &key) ||
                avro_value_get_string(&elem, &s, &n)) {
                return -1;
            }
            if (n > 1 && memchr(s, 0, n - 1)) {
                return -2;
            }
            if (incident_add_attr(inc, key, s)) {
                return -1;
            }
        }
        return 0;
    }
    }
    return -1;
}

/* The framing of a message: the length of its header, or 0 with errstr when the framing, the
 * fingerprint or the schema id is not this codec's. */
static size_t read_header(const struct codec *codec, const unsigned char *p, size_t len,
                          char *errstr, size_t errstr_size)
{
    if (len >= 10 && p[0] == 0xC3 && p[1] == 0x01) {
        uint64_t fp = 0;
        for (int i = 0; i < 8; i++) {
            fp |= (uint64_t)p[2 + i] << (8 * i);
        }
        if (fp != codec->fingerprint) {
            err_set(errstr, errstr_size,
                    "unknown schema fingerprint 0x%016llx (this build knows 0x%016llx)",
                    (unsigned long long)fp, (unsigned long long)codec->fingerprint);
            return 0;
        }
        return 10;
    }
    if (len >= 5 && p[0] == 0x00) {
        int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
                               ((uint32_t)p[3] << 8) | p[4]);
        if (codec->schema_id == 0 || id != codec->schema_id) {
            err_set(errstr, errstr_size, "unknown schema id %d (configured: %d)", id,
                    codec->schema_id);
            return 0;
        }
        return 5;
    }
    err_set(errstr, errstr_size,
            "not an Avro single-object or Confluent-framed message (%zu bytes)", len);
    return 0;
}

/* A string's bytes: *s points into the body, *n is its length. */
static int read_str(struct walk *w, const char **s, size_t *n)
{
    int64_t len;
    if (walk_long(w, &len) != 0) {
        return -1;
    }
    const unsigned char *at = w->p;
    if (walk_skip(w, len, "string") != 0) {
        return -1;
    }
    *s = (const char *)at;
    *n = (size_t)len;
    return 0;
}

/* The attributes map: blocks of string keys and values. A key given twice keeps its first place
 * and its last value, as libavro's generic map does. -3 past INCIDENT_ATTRS_MAX distinct keys. */
static int read_attrs(struct walk *w, struct incident *inc)
{
    struct keyset ks;
    memset(&ks, 0, sizeof(ks));
    for (;;) {
        int64_t count, size;
        if (walk_long(w, &count) != 0) {
            return -1;
        }
        if (count == 0) {
            return 0;
        }
        if (count < 0 && (count == INT64_MIN || walk_long(w, &size) != 0)) {
            return -1;
        }
        for (int64_t i = count < 0 ? count : -count; i < 0; i++) {
            const char *k, *v;
            size_t kn, vn;
            if (read_str(w, &k, &kn) != 0 || read_str(w, &v, &vn) != 0) {
                return -1;
            }
            if (memchr(k, 0, kn) || memchr(v, 0, vn)) {
                return -2;
            }
            size_t free_slot;
            long at = keyset_find(&ks, inc->attrs, k, kn, &free_slot);
            if (at >= 0) {
                if (incident_set_strn(&inc->attrs[at].value, v, vn) != 0) {
                    return -1;
                }
                continue;
            }
            if (inc->n_attrs == INCIDENT_ATTRS_MAX) {
                return -3; /* the rulebook would refuse it: no need to read on */
            }
            if (incident_add_attrn(inc, k, kn, v, vn) != 0) {
                return -1;
            }
            ks.slot[free_slot] = (uint16_t)inc->n_attrs;
        }
    }
}

/* The record's fields straight from the body, in the schema's order (incident_fields), strings
 * copied once into inc: 0, -1 (malformed), -2 (a NUL byte in a string of *field) or -3 (too many
 * attributes). The body has
 * passed codec_walk; the bounds are checked again all the same. */
static int read_fields(struct walk *w, struct incident *inc, int *coords, const char **field)
{
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        const struct incident_field *f = &incident_fields[i];
        *field = f->name;
        if (f->flags & I_OPT) {
            int64_t branch;
            if (walk_long(w, &branch) != 0 || branch < 0 || branch > 1) {
                return -1;
            }
            if (branch == 0) {
                continue; /* null: incident_clear left the member null */
            }
        }
        const char *s;
        size_t n;
        int rc = 0;
        switch (f->kind) {
        case I_STR:
            if (read_str(w, &s, &n) != 0) {
                return -1;
            }
            if (memchr(s, 0, n)) {
                return -2; /* PostgreSQL text cannot hold it */
            }
            rc = incident_set_strn(INCIDENT_AT(char *, inc, f), s, n);
            break;
        case I_TS:
            rc = walk_long(w, INCIDENT_AT(int64_t, inc, f));
            break;
        case I_COORD: {
            const unsigned char *b = w->p;
            if (walk_skip(w, 8, "double") != 0) {
                return -1;
            }
            uint64_t u = 0;
            for (int k = 7; k >= 0; k--) {
                u = u << 8 | b[k]; /* little-endian */
            }
            memcpy(INCIDENT_AT(double, inc, f), &u, sizeof(double));
            ++*coords;
            break;
        }
        case I_TRI: {
            const unsigned char *b = w->p;
            if (walk_skip(w, 1, "boolean") != 0) {
                return -1;
            }
            *INCIDENT_AT(int8_t, inc, f) = *b ? TRI_TRUE : TRI_FALSE;
            break;
        }
        case I_ATTRS:
            rc = read_attrs(w, inc);
            break;
        default:
            return -1;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return w->p == w->end ? 0 : -1;
}

/* The framing, the length walk, one of the two readers, then the rulebook. */
static enum err_class decode(struct codec *codec, const void *data, size_t len,
                             struct incident *inc, bool with_libavro, char *errstr,
                             size_t errstr_size)
{
    const unsigned char *p = data;
    incident_clear(inc);
    size_t header_len = read_header(codec, p, len, errstr, errstr_size);
    if (!header_len) {
        return ERR_PERMANENT;
    }
    /* Every declared length checked against the bytes left before anything is read: libavro
     * would allocate what a length claims (and leak it on a truncated string). */
    const char *body = (const char *)p + header_len;
    if (codec_walk(codec->schema, body, len - header_len, errstr, errstr_size) != 0) {
        return ERR_PERMANENT;
    }
    int coords = 0, rc;
    const char *field = "a field";
    if (with_libavro) {
        avro_value_t *rec = &codec->value;
        avro_reader_t r = avro_reader_memory(body, (int64_t)(len - header_len));
        if (!r) {
            err_set(errstr, errstr_size, "out of memory");
            return ERR_FATAL;
        }
        rc = avro_value_read(r, rec);
        avro_reader_free(r);
        if (rc != 0) {
            err_set(errstr, errstr_size, "avro body does not decode: %s", avro_strerror());
            return ERR_PERMANENT;
        }
        for (size_t i = 0; i < INCIDENT_N_FIELDS && rc == 0; i++) {
            rc = decode_field(rec, i, &incident_fields[i], inc, &coords);
            field = incident_fields[i].name;
        }
    } else {
        struct walk w = {(const unsigned char *)body, (const unsigned char *)p + len, errstr,
                         errstr_size};
        rc = read_fields(&w, inc, &coords, &field);
    }
    if (rc == -2) {
        err_set(errstr, errstr_size, "%s holds a NUL byte", field);
        incident_clear(inc);
        return ERR_PERMANENT;
    }
    if (rc == -3) {
        err_set(errstr, errstr_size, "more than %d attributes (limit %d)", INCIDENT_ATTRS_MAX,
                INCIDENT_ATTRS_MAX);
        incident_clear(inc);
        return ERR_PERMANENT;
    }
    if (rc != 0) {
        err_set(errstr, errstr_size, "avro body does not decode");
        incident_clear(inc);
        return ERR_PERMANENT;
    }
    inc->has_coords = coords == 2;
    if (!inc->has_coords) {
        inc->latitude = inc->longitude = 0;
    }
    /* A record off the wire is judged by the same rules as one about to be written. */
    if (incident_check(inc, errstr, errstr_size) != ERR_OK) {
        incident_clear(inc);
        return ERR_PERMANENT;
    }
    return ERR_OK;
}

enum err_class codec_decode(struct codec *codec, const void *data, size_t len, struct incident *inc,
                            char *errstr, size_t errstr_size)
{
    return decode(codec, data, len, inc, false, errstr, errstr_size);
}

enum err_class codec_decode_libavro(struct codec *codec, const void *data, size_t len,
                                    struct incident *inc, char *errstr, size_t errstr_size)
{
    return decode(codec, data, len, inc, true, errstr, errstr_size);
}
