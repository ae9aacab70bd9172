/* The canonical incident record (schemas/incident.avsc) in memory, and the one rulebook of a
 * valid incident. The fields are declared once, in common/incident_fields.h. Every string is
 * owned by the incident (malloc'ed); NULL means null. Times are UTC microseconds; TS_NULL means
 * null. */
#ifndef BLOTTER_INCIDENT_H
#define BLOTTER_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/incident_fields.h"
#include "common/timeutil.h"

enum tribool { TRI_NULL = -1, TRI_FALSE = 0, TRI_TRUE = 1 };

struct attr {
    char *key;
    char *value;
};

enum incident_kind { I_STR, I_TS, I_COORD, I_TRI, I_ATTRS };
enum { I_OPT = 1, I_KEY = 2, I_STAMP = 4, I_IDX = 8 };

/* The most bytes a text field may hold: a field the warehouse indexes (I_IDX: a btree entry
 * must stay under about 2.7 KB, all its columns together) INCIDENT_INDEXED_MAX, any other text
 * and every attribute's value INCIDENT_TEXT_MAX; at most INCIDENT_ATTRS_MAX attributes. The
 * producer and the consumer both check them (incident_check). */
#define INCIDENT_INDEXED_MAX 512
#define INCIDENT_TEXT_MAX    65536
#define INCIDENT_ATTRS_MAX   1000

#define INCIDENT_CTYPE_I_STR   char *
#define INCIDENT_CTYPE_I_TS    int64_t
#define INCIDENT_CTYPE_I_COORD double
#define INCIDENT_CTYPE_I_TRI   int8_t
#define INCIDENT_CTYPE_I_ATTRS struct attr *

struct incident {
#define X(name, member, kind, flags) INCIDENT_CTYPE_##kind member;
    INCIDENT_FIELDS(X)
#undef X
    bool has_coords; /* latitude and longitude are both set or both null */
    size_t n_attrs, cap_attrs;
};

/* The field table, in schema order: INC_F_<name> indexes it. */
#define X(name, member, kind, flags) INC_F_##name,
enum incident_field_id { INCIDENT_FIELDS(X) INCIDENT_N_FIELDS };
#undef X

struct incident_field {
    const char *name; /* Avro field, warehouse column */
    enum incident_kind kind;
    unsigned flags;
    size_t offset; /* of the member in struct incident */
};
extern const struct incident_field incident_fields[INCIDENT_N_FIELDS];

/* The record's columns, comma-separated, each followed by ", " (for SQL column lists). */
#define INCIDENT_COLUMN_NAME(name, member, kind, flags) #name ", "
#define INCIDENT_COLUMN_LIST                            INCIDENT_FIELDS(INCIDENT_COLUMN_NAME)

/* The member of field f in inc, as a type * (INCIDENT_AT) or a const type * (INCIDENT_CAT). */
#define INCIDENT_AT(type, inc, f)  ((type *)(void *)((char *)(inc) + (f)->offset))
#define INCIDENT_CAT(type, inc, f) ((const type *)(const void *)((const char *)(inc) + (f)->offset))

/* A zeroed incident with null times and booleans. */
void incident_init(struct incident *inc);
/* Free what the incident owns and re-initialise it. */
void incident_clear(struct incident *inc);

/* Replace a string field (copying s; NULL sets null). Returns -1 on out of memory. */
int incident_set_str(char **field, const char *s);
int incident_set_strn(char **field, const char *s, size_t n);
/* Append an attribute (copies). Returns -1 on out of memory. */
int incident_add_attr(struct incident *inc, const char *key, const char *value);
/* The same from counted bytes (no NUL inside). */
int incident_add_attrn(struct incident *inc, const char *key, size_t key_len, const char *value,
                       size_t value_len);
const char *incident_attr(const struct incident *inc, const char *key);

/* ---- The rulebook ---- */

/* Whether inc is a valid incident; the producer's mapper, the codec and the consumer's writer
 * all ask this, so a record is judged the same way everywhere. ERR_PERMANENT with the reason:
 *   - city and incident_id present and not empty; category and crime_against present;
 *   - every text, attribute keys and values included, valid UTF-8;
 *   - occurred_at and source_updated_at present; every time within years 1..9999;
 *   - coordinates, when present, finite and on the globe;
 *   - once ingested_at is stamped: occurred_at no earlier than 1900 and no later than two days
 *     after ingested_at (a source's typo, not a crime; the reason says "implausible").
 * ingested_at itself may still be null (the producer stamps it before encoding; the writer
 * stamps an unstamped record with the batch's time). */
enum err_class incident_check(const struct incident *inc, char *errstr, size_t errstr_size);

/* ---- The shared category vocabulary ---- */

/* The crime_against of a vocabulary category, or NULL when category is not in the vocabulary. */
const char *vocab_crime_against(const char *category);
/* The vocabulary's own copy of category (a static string), or NULL when it is not in it. */
const char *vocab_intern(const char *category);
/* The vocabulary, NULL-terminated, in documentation order. */
extern const char *const vocab_categories[];

/* ---- Versions ---- */

/* 64-bit fingerprint of the incident's content (every field but the I_STAMP ones), the
 * tie-break of versions with equal source_updated_at and the seen-set's memory of a version.
 * Attribute order does not matter. Stored in deployed warehouses and seen-sets: its value for a
 * given record must never change (tests/unit/test_incident.c pins it). */
uint64_t incident_content_hash(const struct incident *inc);

/* Field-by-field equality (attributes compared as sets), for tests. */
bool incident_equal(const struct incident *a, const struct incident *b);

#endif
