/* The ArcGIS FeatureServer query API, the parts the ArcGIS kind needs: the URLs of a layer's
 * description, count and pages (resultOffset/resultRecordCount in a deterministic
 * orderByFields), and reading what comes back: a page's features as flat rows, the
 * exceededTransferLimit flag, the field list, and the error envelope that ArcGIS sends with
 * HTTP 200 ({"error": {"code": 400, "message": ..., "details": [...]}}). Pure: no I/O, so unit
 * tests and fuzz harnesses can call every function. */
#ifndef BLOTTER_ARCGIS_H
#define BLOTTER_ARCGIS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "producers/city.h"

/* <base><path>?f=json: the layer's description (maxRecordCount, editingInfo, fields). */
int arcgis_layer_url(char *buf, size_t n, const char *base, const struct city *city);
/* <base><path>/query?where=..&returnCountOnly=true&f=json */
int arcgis_count_url(char *buf, size_t n, const char *base, const struct city *city);
/* <base><path>/query?where=..&outFields=*&outSR=4326&orderByFields=..&resultOffset=..
 * &resultRecordCount=..&f=json. -1 when it does not fit. */
int arcgis_page_url(char *buf, size_t n, const char *base, const struct city *city, int64_t offset,
                    int count);

/* An error envelope in body: its class (as the same HTTP status would be: 429, 5xx, 408 and
 * 202 transient; anything else fatal) with "ArcGIS error CODE: message (details)" in errstr;
 * ERR_OK when body is not one. */
enum err_class arcgis_error(const json_t *body, char *errstr, size_t errstr_size);

struct arcgis_layer {
    long max_record_count; /* 0 when the layer does not say */
    int64_t last_edit_ms;  /* editingInfo.lastEditDate (or dataLastEditDate), -1 when absent */
    json_t *fields;        /* the field names (array of strings, owned), or NULL */
};
/* Read a layer description. ERR_OK, or the error envelope's class, or ERR_TRANSIENT when the
 * text is not a JSON object (a proxy's page, a cut body). */
enum err_class arcgis_layer_parse(const char *body, size_t len, struct arcgis_layer *layer,
                                  char *errstr, size_t errstr_size);
void arcgis_layer_clear(struct arcgis_layer *layer);
/* {"count": N}: N, or -1. */
int64_t arcgis_count_parse(const char *body, size_t len);

struct arcgis_page {
    json_t *rows;   /* flat rows (owned): a feature's attributes, plus "::x"/"::y" from a point
                       geometry; in the order of the page */
    bool exceeded;  /* exceededTransferLimit: more rows follow */
    json_t *fields; /* field names when the page lists them (owned), or NULL */
};
/* Read a query page (f=json). ERR_OK; the error envelope's class; ERR_TRANSIENT when the text
 * is not a page (not JSON, no features array: a cut or foreign body). */
enum err_class arcgis_page_parse(const char *body, size_t len, struct arcgis_page *page,
                                 char *errstr, size_t errstr_size);
void arcgis_page_clear(struct arcgis_page *page);

/* Number the rows that repeat: within each run of rows with the same value of group_field,
 * the k-th row (k >= 2) whose id fields equal an earlier row's gets "::repeat": k. Returns
 * the index where the last run begins (the rows of a run that may continue on the next page),
 * 0 when every row is in one run. group_field NULL: no numbering, returns the row count. */
size_t arcgis_number_repeats(json_t *rows, const char *group_field, char *const *id_fields,
                             size_t n_id_fields);

#endif
