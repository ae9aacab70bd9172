/* The local server's other kinds of source, rendered from the same generated rows: an ArcGIS
 * FeatureServer layer (layer description, count, pages of features in f=json) and yearly CSV
 * files (one per year of the occurred date, RFC 4180 quoting, a UTF-8 byte-order mark, header
 * names optionally in capitals). Pure: no I/O. */
#ifndef BLOTTER_SERVER_LAYERS_H
#define BLOTTER_SERVER_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "tests/server/gen.h"

/* {"name", "type": "Feature Layer", "maxRecordCount", "editingInfo": {"lastEditDate"},
 *  "fields": [...]} */
void layers_arcgis_info(const struct gen_city *g, long max_records, int64_t edit_ms,
                        struct buf *out);
/* The "fields" array of the layer (also in every page). */
void layers_arcgis_fields(const struct gen_city *g, struct buf *out);
/* One feature: {"attributes": {...}} (dates as epoch milliseconds, coordinates as numbers,
 * the OBJECTID field as objectid), with a point geometry when the row has coordinates. */
void layers_arcgis_feature(const struct gen_city *g, const struct gen_row *r, uint64_t objectid,
                           struct buf *out);

/* The year of the row's occurred date (the file it belongs to), 0 when it has none. */
int layers_row_year(const struct gen_city *g, const struct gen_row *r);
/* A UTF-8 BOM and the header line; names in capitals when upper. */
void layers_csv_header(const struct gen_city *g, bool upper, struct buf *out);
/* One record (CRLF-terminated); dates as "YYYY-MM-DD HH:MM:SS". */
void layers_csv_row(const struct gen_city *g, const struct gen_row *r, uint64_t objectid,
                    struct buf *out);

#endif
