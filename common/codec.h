/* The incident's Avro codec and its two framings on the wire.
 *   single-object: C3 01, 8-byte little-endian CRC-64-AVRO fingerprint of the schema's canonical
 *                  form, Avro binary body (when no registry schema id is configured)
 *   Confluent:     00, 4-byte big-endian registry schema id, Avro binary body
 * The schema (schemas/incident.avsc) is compiled into the binary and parsed once. */
#ifndef BLOTTER_CODEC_H
#define BLOTTER_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/incident.h"

extern const char incident_avsc[]; /* schemas/incident.avsc, generated into the build */

struct codec;

/* schema_id 0 selects single-object framing; any other value Confluent framing with that id. */
struct codec *codec_new(int32_t schema_id, char *errstr, size_t errstr_size);
void codec_destroy(struct codec *codec);

uint64_t codec_fingerprint(const struct codec *codec);
const char *codec_canonical_form(const struct codec *codec);

/* Encode into a malloc'ed buffer (*out, *out_len) the caller owns. ERR_PERMANENT when the
 * incident lacks a required field. */
enum err_class codec_encode(struct codec *codec, const struct incident *inc, void **out,
                            size_t *out_len, char *errstr, size_t errstr_size);
/* The same through libavro's generic value: the bytes codec_encode's own writer is held to by
 * test_codec and fuzz_codec. */
enum err_class codec_encode_libavro(struct codec *codec, const struct incident *inc, void **out,
                                    size_t *out_len, char *errstr, size_t errstr_size);

/* Decode a framed message into inc (cleared first). ERR_PERMANENT with a reason for unknown
 * framing, an unknown fingerprint or schema id, or a body that does not decode. */
enum err_class codec_decode(struct codec *codec, const void *data, size_t len, struct incident *inc,
                            char *errstr, size_t errstr_size);
/* The same through libavro's generic value (reads every field into it, then copies): what
 * codec_decode's own reader is held to by test_codec and fuzz_codec. It differs only where a
 * map key holds a NUL byte, which codec_decode refuses and libavro cuts short. */
enum err_class codec_decode_libavro(struct codec *codec, const void *data, size_t len,
                                    struct incident *inc, char *errstr, size_t errstr_size);

/* Walk an Avro binary body of schema (an avro_schema_t) checking every declared length (strings,
 * bytes, map and array block counts, union branches) against the bytes left, and that nothing
 * trails: 0, or -1 with errstr. Lengths are never allocated, so a lying one costs nothing. */
typedef struct avro_obj_t *codec_schema_t;
int codec_walk(codec_schema_t schema, const void *body, size_t len, char *errstr,
               size_t errstr_size);

#endif
