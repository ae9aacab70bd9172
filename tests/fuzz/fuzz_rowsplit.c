/* The row splitter (producers/rowsplit.c): a page body fed in pieces of the sizes the first
 * byte picks, every element parsed; and row_parse on the whole input. */
#include <jansson.h>

#include "producers/rowsplit.h"
#include "tests/fuzz/fuzz.h"

static int on_row(void *ctx, json_t *row, const char *raw, size_t raw_len)
{
    size_t *n = ctx;
    *n += raw_len + (row != NULL);
    (void)raw;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t chunk = (size_t)data[0] % 17 + 1, n = 0;
    data++;
    size--;
    struct rowsplit *rs = rowsplit_new(on_row, &n, true);
    for (size_t o = 0; rs && o < size; o += chunk) {
        size_t len = size - o < chunk ? size - o : chunk;
        if (rowsplit_feed(rs, (const char *)data + o, len) != 0) {
            break;
        }
    }
    (void)rowsplit_done(rs);
    (void)rowsplit_rows(rs);
    rowsplit_destroy(rs);

    char *scrubbed = NULL;
    size_t scrubbed_len = 0;
    json_t *row = row_parse((const char *)data, size, &scrubbed, &scrubbed_len);
    json_decref(row);
    free(scrubbed);
    return 0;
}
