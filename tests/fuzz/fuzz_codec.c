/* The Avro decoder (common/codec.c) in both framings, held to libavro's reading; what decodes is
 * encoded again by both writers, which must agree byte for byte. The first byte
 * picks: 0 the input as it is against single-object framing, 1 as it is against Confluent framing
 * (schema id 17), 2 and 3 the rest of the input behind a valid single-object or Confluent header
 * (to reach the body). */
#include "common/codec.h"
#include "common/incident.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"

static struct codec *single, *confluent;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    log_setup(LOG_OFF, LOG_FORMAT_LOGFMT, "fuzz");
    single = codec_new(0, err, sizeof(err));
    confluent = codec_new(17, err, sizeof(err));
    if (!single || !confluent) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int mode = data[0] & 3;
    data++;
    size--;
    struct codec *codec = mode & 1 ? confluent : single;
    uint8_t *msg = malloc(size + 10);
    if (!msg) {
        return 0;
    }
    size_t len = 0;
    if (mode == 2) {
        uint64_t fp = codec_fingerprint(single);
        msg[0] = 0xC3;
        msg[1] = 0x01;
        for (int i = 0; i < 8; i++) {
            msg[2 + i] = (uint8_t)(fp >> (8 * i));
        }
        len = 10;
    } else if (mode == 3) {
        const uint8_t h[5] = {0, 0, 0, 0, 17};
        memcpy(msg, h, 5);
        len = 5;
    }
    memcpy(msg + len, data, size);
    len += size;
    struct incident inc, ref;
    char err[512], ref_err[512];
    incident_init(&inc);
    incident_init(&ref);
    enum err_class cls = codec_decode(codec, msg, len, &inc, err, sizeof(err));
    /* codec_decode's own reader against libavro's generic value: the same outcome and the same
     * incident, except that a map key with a NUL byte is refused where libavro cuts it short. */
    enum err_class ref_cls = codec_decode_libavro(codec, msg, len, &ref, ref_err, sizeof(ref_err));
    if (cls == ERR_OK ? ref_cls != ERR_OK || !incident_equal(&inc, &ref)
                      : ref_cls == ERR_OK && strcmp(err, "attributes holds a NUL byte") != 0) {
        abort();
    }
    /* What decodes encodes again, to the same bytes by both writers. */
    void *enc = NULL, *ref_enc = NULL;
    size_t enc_len = 0, ref_len = 0;
    if (cls == ERR_OK &&
        (codec_encode(codec, &inc, &enc, &enc_len, err, sizeof(err)) !=
             codec_encode_libavro(codec, &inc, &ref_enc, &ref_len, ref_err, sizeof(ref_err)) ||
         enc_len != ref_len || (enc_len && memcmp(enc, ref_enc, enc_len) != 0))) {
        abort();
    }
    free(enc);
    free(ref_enc);
    incident_clear(&inc);
    incident_clear(&ref);
    free(msg);
    return 0;
}
