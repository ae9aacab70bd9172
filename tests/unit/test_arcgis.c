/* The ArcGIS query API (producers/arcgis.c) and the Toronto city files: URLs, pages, the error
 * envelope of an HTTP 200, repeated EVENT_UNIQUE_ID numbered the same way whatever the
 * OBJECTIDs, and the mapping of real-shaped rows (../shared/sources-non-socrata.md 1.3): epoch
 * milliseconds at local midnight in summer and winter, OCC_HOUR, unpadded HHMM, 0,0
 * coordinates, CSI_CATEGORY or the older MCI_CATEGORY. Runs from the repository root. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/arcgis.h"
#include "producers/city.h"
#include "producers/city_map.h"

#define NOW_US 1800000000000000LL
#define STAMP  ",\"::unit\":\"L\",\"::stamp\":\"2026-01-01T00:00:00.000Z\"}"

static struct city *load(const char *name)
{
    char err[512] = "";
    struct city *city = city_load("producers/cities", name, err, sizeof(err));
    if (!city) {
        fail_msg("%s", err);
    }
    return city;
}

static enum err_class map(const struct city *city, const char *text, struct incident *inc,
                          char *err, size_t n)
{
    json_t *row = json_loads(text, 0, NULL);
    if (!row) {
        fail_msg("bad test JSON: %s", text);
    }
    struct map_stats stats = {0};
    enum err_class cls = city_map_row(city, row, NOW_US, inc, &stats, err, n);
    json_decref(row);
    return cls;
}

static void assert_time(int64_t us, const char *iso)
{
    char buf[40];
    us_format(us, false, buf, sizeof(buf));
    assert_string_equal(buf, iso);
}

/* A TPS assault row, as the layer returns it (f=json, attributes), OCC_DATE and time varied. */
static char *mci_row(const char *occ_date_ms, const char *occ_hour, const char *category_field,
                     const char *lat, const char *lon)
{
    char *s;
    if (asprintf(
            &s,
            "{\"OBJECTID\":1,\"EVENT_UNIQUE_ID\":\"GO-20141260537\",\"REPORT_DATE\":"
            "1388552400000,\"OCC_DATE\":%s,\"REPORT_YEAR\":\"2014\",\"REPORT_MONTH\":"
            "\"January\",\"REPORT_DAY\":\"1\",\"REPORT_DOY\":\"1\",\"REPORT_DOW\":\"Wednesday "
            "\",\"REPORT_HOUR\":\"4\",\"OCC_YEAR\":\"2014\",\"OCC_MONTH\":\"January\","
            "\"OCC_DAY\":\"1\",\"OCC_DOY\":\"1\",\"OCC_DOW\":\"Wednesday \",\"OCC_HOUR\":\"%s\","
            "\"DIVISION\":\"D14\",\"LOCATION_TYPE\":\"Apartment (Rooming House, Condo)\","
            "\"PREMISES_TYPE\":\"Apartment\",\"UCR_CODE\":\"1430\",\"UCR_EXT\":\"100\","
            "\"OFFENCE\":\"Assault\",\"%s\":\"Assault\",\"HOOD_158\":\"098\","
            "\"NEIGHBOURHOOD_158\":\"Rosedale-Moore Park (98)\",\"HOOD_140\":\"098\","
            "\"NEIGHBOURHOOD_140\":\"Rosedale-Moore Park (98)\",\"LONG_WGS84\":%s,"
            "\"LAT_WGS84\":%s" STAMP,
            occ_date_ms, occ_hour, category_field, lon, lat) < 0) {
        fail();
    }
    return s;
}

static void test_toronto_epoch_dates_summer_and_winter(void **state)
{
    (void)state;
    struct city *city = load("toronto");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    /* 2014-01-01, local midnight EST = 05:00Z; OCC_HOUR 23 local = 04:00Z the next day. */
    char *row = mci_row("1388552400000", "23", "CSI_CATEGORY", "43.679", "-79.385");
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    free(row);
    assert_time(inc.occurred_at, "2014-01-02T04:00:00.000Z");
    assert_time(inc.reported_at, "2014-01-01T09:00:00.000Z"); /* REPORT_HOUR 4 EST */
    assert_string_equal(inc.incident_id, "GO-20141260537-1430-100");
    assert_string_equal(inc.report_id, "GO-20141260537");
    assert_string_equal(inc.category, "assault");
    assert_string_equal(inc.crime_against, "person");
    assert_string_equal(inc.area, "D14");
    assert_string_equal(inc.offense_code, "1430");
    assert_true(inc.has_coords);
    assert_true(fabs(inc.latitude - 43.679) < 1e-9);
    assert_null(incident_attr(&inc, "OBJECTID")); /* renumbered by the publisher: not content */
    assert_null(incident_attr(&inc, "::stamp"));
    assert_string_equal(incident_attr(&inc, "REPORT_DOW"), "Wednesday ");
    assert_time(inc.source_updated_at, "2026-01-01T00:00:00.000Z"); /* the walk's stamp */
    /* 2014-07-10, local midnight EDT = 04:00Z; OCC_HOUR 4 local = 08:00Z. */
    row = mci_row("1404964800000", "4", "CSI_CATEGORY", "43.679", "-79.385");
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    free(row);
    assert_time(inc.occurred_at, "2014-07-10T08:00:00.000Z");
    /* The spring-forward day: midnight is still EST (05:00Z); noon is EDT (16:00Z). */
    row = mci_row("1394341200000", "12", "CSI_CATEGORY", "43.679", "-79.385");
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    free(row);
    assert_time(inc.occurred_at, "2014-03-09T16:00:00.000Z");
    incident_clear(&inc);
    city_destroy(city);
}

static void test_toronto_old_category_field_and_zero_coordinates(void **state)
{
    (void)state;
    struct city *city = load("toronto");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    /* Before the rename the field was MCI_CATEGORY; "NSA" rows come at 0,0. */
    char *row = mci_row("1388552400000", "0", "MCI_CATEGORY", "0", "0");
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    free(row);
    assert_string_equal(inc.category, "assault");
    assert_false(inc.has_coords);
    /* Outside the city's box: null too. */
    row = mci_row("1388552400000", "0", "CSI_CATEGORY", "45.5", "-73.6");
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    free(row);
    assert_false(inc.has_coords);
    /* A bad hour is a dead letter with a reason. */
    row = mci_row("1388552400000", "25", "CSI_CATEGORY", "0", "0");
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_PERMANENT);
    free(row);
    assert_non_null(strstr(err, "OCC_HOUR"));
    /* Drift: the layer lists MCI_CATEGORY where the file expects CSI_CATEGORY. */
    json_t *present = json_array();
    for (size_t i = 0; i < city->n_fields; i++) {
        const char *f = city->fields[i];
        json_array_append_new(present, json_string(strcmp(f, "CSI_CATEGORY") ? f : "MCI_CATEGORY"));
    }
    const char **missing, **unknown;
    assert_int_equal(city_drift(city, present, &missing, &unknown), 2);
    assert_string_equal(missing[0], "CSI_CATEGORY");
    assert_string_equal(unknown[0], "MCI_CATEGORY");
    free(missing);
    free(unknown);
    json_decref(present);
    incident_clear(&inc);
    city_destroy(city);
}

static void test_hate_crimes_hhmm_bias_and_arrest(void **state)
{
    (void)state;
    struct city *city = load("toronto-hate-crimes");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    const char *row =
        "{\"OBJECTID\":1,\"EVENT_UNIQUE_ID\":\"GO-2020813480\",\"OCCURRENCE_YEAR\":\"2014\","
        "\"OCCURRENCE_DATE\":1406865600000,\"OCCURRENCE_TIME\":\"1200\",\"REPORTED_YEAR\":\"2020\","
        "\"REPORTED_DATE\":1588219200000,\"REPORTED_TIME\":\"1904\",\"DIVISION\":\"D33\","
        "\"LOCATION_TYPE\":\"Religious Place of Worship/Cultural Centre\",\"RACE_BIAS\":null,"
        "\"RELIGION_BIAS\":\"Jewish\",\"MULTIPLE_BIAS\":\"NO\",\"PRIMARY_OFFENCE\":\"Wilful "
        "Promotion of Hatred\",\"HOOD_158\":\"053\",\"ARREST_MADE\":\"NO\"" STAMP;
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2014-08-01T16:00:00.000Z"); /* 12:00 EDT */
    assert_time(inc.reported_at, "2020-04-30T23:04:00.000Z"); /* 19:04 EDT */
    assert_string_equal(inc.incident_id, "GO-2020813480");
    assert_string_equal(inc.category, "public_order");
    assert_int_equal(inc.arrest, TRI_FALSE);
    assert_false(inc.has_coords);
    assert_string_equal(incident_attr(&inc, "RELIGION_BIAS"), "Jewish");
    assert_null(incident_attr(&inc, "RACE_BIAS"));
    /* Unpadded HHMM: "900" is 09:00 (EST in January), "0" midnight. */
    row = "{\"EVENT_UNIQUE_ID\":\"GO-1\",\"OCCURRENCE_DATE\":1451624400000,\"OCCURRENCE_TIME\":"
          "\"900\",\"PRIMARY_OFFENCE\":\"Assault\"" STAMP;
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2016-01-01T14:00:00.000Z");
    row = "{\"EVENT_UNIQUE_ID\":\"GO-1\",\"OCCURRENCE_DATE\":1451624400000,\"OCCURRENCE_TIME\":"
          "\"0\",\"PRIMARY_OFFENCE\":\"Assault\"" STAMP;
    assert_int_equal(map(city, row, &inc, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2016-01-01T05:00:00.000Z");
    incident_clear(&inc);
    city_destroy(city);
}

static void test_urls(void **state)
{
    (void)state;
    struct city *city = load("toronto");
    char url[4096];
    assert_int_equal(arcgis_page_url(url, sizeof(url), "http://127.0.0.1:1", city, 4000, 2000), 0);
    assert_string_equal(url, "http://127.0.0.1:1/S9th0jAJ7bqgIRjw/ArcGIS/rest/services/"
                             "Major_Crime_Indicators_Open_Data/FeatureServer/0/query?where=1%3D1"
                             "&outFields=%2A&outSR=4326&orderByFields=EVENT_UNIQUE_ID%2COBJECTID"
                             "&resultOffset=4000&resultRecordCount=2000&f=json");
    assert_int_equal(arcgis_count_url(url, sizeof(url), "https://services.arcgis.com", city), 0);
    assert_non_null(strstr(url, "/FeatureServer/0/query?where=1%3D1&returnCountOnly=true&f=json"));
    assert_int_equal(arcgis_layer_url(url, sizeof(url), "https://x", city), 0);
    assert_non_null(strstr(url, "/FeatureServer/0?f=json"));
    assert_int_equal(arcgis_page_url(url, 40, "http://127.0.0.1:1", city, 0, 1), -1);
    city_destroy(city);
}

static void test_pages_and_error_envelope(void **state)
{
    (void)state;
    char err[256];
    struct arcgis_page page;
    const char *body =
        "{\"objectIdFieldName\":\"OBJECTID\",\"fields\":[{\"name\":\"OBJECTID\",\"type\":"
        "\"esriFieldTypeOID\"},{\"name\":\"A\",\"type\":\"esriFieldTypeString\"}],"
        "\"exceededTransferLimit\":true,\"features\":[{\"attributes\":{\"OBJECTID\":1,\"A\":\"x\"},"
        "\"geometry\":{\"x\":-79.3,\"y\":43.7}},{\"attributes\":{\"OBJECTID\":2,\"A\":null}}]}";
    assert_int_equal(arcgis_page_parse(body, strlen(body), &page, err, sizeof(err)), ERR_OK);
    assert_true(page.exceeded);
    assert_int_equal(json_array_size(page.rows), 2);
    assert_true(fabs(json_real_value(json_object_get(json_array_get(page.rows, 0), "::y")) - 43.7) <
                1e-9);
    assert_int_equal(json_array_size(page.fields), 2);
    arcgis_page_clear(&page);
    /* f=geojson keeps the flag under properties */
    body = "{\"type\":\"FeatureCollection\",\"features\":[],\"properties\":"
           "{\"exceededTransferLimit\":true}}";
    assert_int_equal(arcgis_page_parse(body, strlen(body), &page, err, sizeof(err)), ERR_OK);
    assert_true(page.exceeded);
    arcgis_page_clear(&page);
    /* HTTP 200 with an error object: never an empty page */
    body = "{\"error\":{\"code\":400,\"message\":\"Unable to complete operation.\",\"details\":"
           "[\"Invalid field: GPIN\"]}}";
    assert_int_equal(arcgis_page_parse(body, strlen(body), &page, err, sizeof(err)), ERR_FATAL);
    assert_non_null(strstr(err, "Invalid field: GPIN"));
    body = "{\"error\":{\"code\":503,\"message\":\"busy\"}}";
    assert_int_equal(arcgis_page_parse(body, strlen(body), &page, err, sizeof(err)), ERR_TRANSIENT);
    body = "{\"error\":{\"code\":429,\"message\":\"Too many requests\"}}";
    assert_int_equal(arcgis_page_parse(body, strlen(body), &page, err, sizeof(err)), ERR_TRANSIENT);
    /* a cut body or a proxy's page: retry */
    body = "{\"features\":[{\"attributes\":";
    assert_int_equal(arcgis_page_parse(body, strlen(body), &page, err, sizeof(err)), ERR_TRANSIENT);
    body = "<html>gateway</html>";
    assert_int_equal(arcgis_page_parse(body, strlen(body), &page, err, sizeof(err)), ERR_TRANSIENT);
    body = "{\"count\":474819}";
    assert_int_equal(arcgis_count_parse(body, strlen(body)), 474819);
    struct arcgis_layer layer;
    body = "{\"maxRecordCount\":2000,\"editingInfo\":{\"lastEditDate\":1767225600000}}";
    assert_int_equal(arcgis_layer_parse(body, strlen(body), &layer, err, sizeof(err)), ERR_OK);
    assert_int_equal(layer.max_record_count, 2000);
    assert_true(layer.last_edit_ms == 1767225600000LL);
    arcgis_layer_clear(&layer);
}

/* Two walks of one event whose rows the publisher renumbered (and reordered among equals):
 * the same ids come out. */
static void test_repeats_numbered_whatever_the_objectids(void **state)
{
    (void)state;
    char *ids[] = {"E", "C"};
    json_t *walk1 = json_loads("[{\"OBJECTID\":1,\"E\":\"GO-1\",\"C\":\"1430\"},"
                               "{\"OBJECTID\":2,\"E\":\"GO-1\",\"C\":\"1430\"},"
                               "{\"OBJECTID\":3,\"E\":\"GO-1\",\"C\":\"2120\"},"
                               "{\"OBJECTID\":4,\"E\":\"GO-2\",\"C\":\"1430\"},"
                               "{\"OBJECTID\":5,\"E\":\"GO-2\",\"C\":\"1430\"}]",
                               0, NULL);
    json_t *walk2 = json_loads("[{\"OBJECTID\":91,\"E\":\"GO-1\",\"C\":\"1430\"},"
                               "{\"OBJECTID\":92,\"E\":\"GO-1\",\"C\":\"2120\"},"
                               "{\"OBJECTID\":97,\"E\":\"GO-1\",\"C\":\"1430\"},"
                               "{\"OBJECTID\":98,\"E\":\"GO-2\",\"C\":\"1430\"},"
                               "{\"OBJECTID\":99,\"E\":\"GO-2\",\"C\":\"1430\"}]",
                               0, NULL);
    /* the last run (GO-2) may go on in the next page: it starts at row 3 */
    assert_int_equal(arcgis_number_repeats(walk1, "E", ids, 2), 3);
    assert_int_equal(arcgis_number_repeats(walk2, "E", ids, 2), 3);
    int want1[] = {0, 2, 0, 0, 2}, want2[] = {0, 0, 2, 0, 2};
    for (size_t i = 0; i < 5; i++) {
        json_int_t got1 = json_integer_value(json_object_get(json_array_get(walk1, i), "::repeat"));
        json_int_t got2 = json_integer_value(json_object_get(json_array_get(walk2, i), "::repeat"));
        assert_int_equal(got1, want1[i]);
        assert_int_equal(got2, want2[i]);
    }
    /* one run fills the page: 0; no group field: every row */
    json_t *one =
        json_loads("[{\"E\":\"GO-1\",\"C\":\"1\"},{\"E\":\"GO-1\",\"C\":\"1\"}]", 0, NULL);
    assert_int_equal(arcgis_number_repeats(one, "E", ids, 2), 0);
    assert_int_equal(arcgis_number_repeats(one, NULL, ids, 2), 2);
    json_decref(walk1);
    json_decref(walk2);
    json_decref(one);
    /* the mapping turns ::repeat into the id's suffix */
    struct city *city = load("toronto");
    struct incident inc;
    char err[256];
    incident_init(&inc);
    assert_int_equal(map(city,
                         "{\"EVENT_UNIQUE_ID\":\"GO-1\",\"UCR_CODE\":\"1430\",\"UCR_EXT\":\"100\","
                         "\"OCC_DATE\":1388552400000,\"OCC_HOUR\":\"1\",\"CSI_CATEGORY\":"
                         "\"Assault\",\"::repeat\":2" STAMP,
                         &inc, err, sizeof(err)),
                     ERR_OK);
    assert_string_equal(inc.incident_id, "GO-1-1430-100-2");
    incident_clear(&inc);
    city_destroy(city);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_toronto_epoch_dates_summer_and_winter),
        cmocka_unit_test(test_toronto_old_category_field_and_zero_coordinates),
        cmocka_unit_test(test_hate_crimes_hhmm_bias_and_arrest),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_pages_and_error_envelope),
        cmocka_unit_test(test_repeats_numbered_whatever_the_objectids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
