/* The checkpoint decoder (producers/checkpoint.c): the state topic's JSON values; what decodes
 * must encode and decode again to the same position (saved_at is written to the millisecond and
 * state re-serialised, so those two are not compared). */
#include "producers/checkpoint.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct checkpoint_value v, again;
    memset(&v, 0, sizeof(v));
    memset(&again, 0, sizeof(again));
    if (checkpoint_decode((const char *)data, size, &v) != 0) {
        return 0;
    }
    char *text = checkpoint_encode(&v);
    if (text) {
        if (checkpoint_decode(text, strlen(text), &again) != 0 || again.rows != v.rows ||
            again.ks.set != v.ks.set || strcmp(again.ks.updated_at, v.ks.updated_at) != 0 ||
            strcmp(again.ks.id, v.ks.id) != 0) {
            abort(); /* what we wrote, we must read back */
        }
        free(text);
    }
    return 0;
}
