/* Avro schema identity: the Parsing Canonical Form and its CRC-64-AVRO (Rabin) fingerprint,
 * as the Avro specification defines them. Pure functions. */
#ifndef BLOTTER_CANONICAL_H
#define BLOTTER_CANONICAL_H

#include <stddef.h>
#include <stdint.h>

/* Fingerprint of a byte string (for a schema, of its canonical form). */
uint64_t avro_crc64(const void *data, size_t len);
/* The same, a byte at a time (the reference the tests hold avro_crc64 to). */
uint64_t avro_crc64_bytewise(const void *data, size_t len);

/* The Parsing Canonical Form of a schema given as JSON text. Returns a malloc'ed string the
 * caller frees, or NULL with errstr filled when the text is not a valid schema. */
char *avro_canonical_form(const char *schema_json, char *errstr, size_t errstr_size);

#endif
