/* The ArcGIS kind's parsers (producers/arcgis.c): a query page, a layer description and a count
 * answer; the page's rows are then numbered for repeats as the producer does. */
#include <jansson.h>

#include "producers/arcgis.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char err[512];
    struct arcgis_page page;
    memset(&page, 0, sizeof(page));
    if (arcgis_page_parse(body, size, &page, err, sizeof(err)) == ERR_OK && page.rows) {
        char *ids[] = {"OBJECTID", "case_number"};
        (void)arcgis_number_repeats(page.rows, "date", ids, 2);
        (void)arcgis_number_repeats(page.rows, NULL, ids, 1);
    }
    arcgis_page_clear(&page);
    struct arcgis_layer layer;
    memset(&layer, 0, sizeof(layer));
    (void)arcgis_layer_parse(body, size, &layer, err, sizeof(err));
    arcgis_layer_clear(&layer);
    (void)arcgis_count_parse(body, size);
    return 0;
}
