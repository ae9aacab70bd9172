/* The CSV kind's reader (producers/csv.c): a file fed in pieces of the sizes the first byte picks,
 * each record turned into a JSON object's text, parsed as the producer parses it (row_parse). */
#include <jansson.h>

#include "producers/csv.h"
#include "producers/rowsplit.h"
#include "tests/fuzz/fuzz.h"

static int on_row(void *ctx, const char *json, size_t len, size_t record)
{
    (void)ctx;
    (void)record;
    char *scrubbed = NULL;
    size_t scrubbed_len = 0;
    json_t *row = row_parse(json, len, &scrubbed, &scrubbed_len);
    /* NULL: not JSON even scrubbed (a header name that is not UTF-8: a key cannot hold the
     * \u0000 that replaces its bad bytes); the producer dead-letters such a row. Anything that
     * parses must be an object. */
    if (row && !json_is_object(row)) {
        abort();
    }
    json_decref(row);
    free(scrubbed);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t chunk = (size_t)data[0] % 31 + 1;
    data++;
    size--;
    char *known[] = {"ID", "Date Occurred", "Crime Code", "LAT", "LON"};
    struct csv_rows *r = csv_rows_new(known, 5, "\"::unit\":\"2024\"", on_row, NULL);
    int rc = 0;
    for (size_t o = 0; r && rc == 0 && o < size; o += chunk) {
        size_t len = size - o < chunk ? size - o : chunk;
        rc = csv_rows_feed(r, (const char *)data + o, len);
    }
    if (r && rc == 0) {
        (void)csv_rows_finish(r);
    }
    if (r) {
        (void)csv_rows_error(r);
        json_decref(csv_rows_header(r));
        (void)csv_rows_records(r);
    }
    csv_rows_destroy(r);
    return 0;
}
