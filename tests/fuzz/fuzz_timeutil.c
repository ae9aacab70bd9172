/* Timestamps (common/timeutil.c): ISO 8601 parsing, and the conversions of what parses. */
#include "common/timeutil.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    if (!s) {
        return 0;
    }
    struct civil_time ct;
    bool has_zone = false;
    int offset_s = 0;
    if (iso8601_parse(s, &ct, &has_zone, &offset_s) == 0) {
        int64_t us = civil_to_us(&ct);
        struct civil_time back;
        us_to_civil(us, &back);
        char buf[64];
        us_format(us, true, buf, sizeof(buf));
        us_format(us, false, buf, sizeof(buf));
    }
    int64_t us = iso8601_to_us(s);
    if (us != TS_NULL) {
        char buf[64];
        us_format(us, true, buf, sizeof(buf));
        if (iso8601_to_us(buf) != us) {
            abort(); /* what we format, we must parse back to the same instant */
        }
    }
    free(s);
    return 0;
}
