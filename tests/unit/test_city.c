/* City files and the mapping of real sample rows (../shared/sources.md section 3) to incidents,
 * with the expected canonical values; daylight-saving edges; every location shape; malformed
 * rows rejected with a reason; schema drift. Runs from the repository root. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/cmocka_all.h"

#include "producers/city.h"
#include "producers/city_map.h"

#define CITIES "producers/cities"
#define NOW_US 1800000000000000LL /* 2027-01-15, "now" for plausibility checks */
#define SYS                                                                                        \
    ",\":id\":\"row-0001\",\":created_at\":\"2026-01-01T00:00:00.000Z\","                          \
    "\":updated_at\":\"2026-01-02T03:04:05.678Z\"}"

static struct city *load(const char *name)
{
    char err[512] = "";
    struct city *city = city_load(CITIES, name, err, sizeof(err));
    if (!city) {
        fail_msg("%s", err);
    }
    return city;
}

/* Map one row (JSON text; the system fields are appended by the caller via SYS). */
static enum err_class map(const struct city *city, const char *text, struct incident *inc,
                          struct map_stats *stats, char *err, size_t n)
{
    json_error_t jerr;
    json_t *row = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!row) {
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    }
    enum err_class cls = city_map_row(city, row, NOW_US, inc, stats, err, n);
    json_decref(row);
    return cls;
}

static void assert_time(int64_t us, const char *iso)
{
    char buf[40];
    us_format(us, false, buf, sizeof(buf));
    assert_string_equal(buf, iso);
}

static void assert_coords(const struct incident *inc, double lat, double lon)
{
    assert_true(inc->has_coords);
    assert_true(fabs(inc->latitude - lat) < 1e-9);
    assert_true(fabs(inc->longitude - lon) < 1e-9);
}

static void test_every_city_file_loads(void **state)
{
    (void)state;
    char err[256];
    char **names = city_names(CITIES, err, sizeof(err));
    assert_non_null(names);
    size_t count = 0;
    for (; names[count]; count++) {
        struct city *city = load(names[count]);
        assert_string_equal(city->name, names[count]);
        city_destroy(city);
    }
    assert_int_equal(count, 10);
    city_names_free(names);
}

static void test_vocabulary(void **state)
{
    (void)state;
    for (size_t i = 0; vocab_categories[i]; i++) {
        assert_non_null(vocab_crime_against(vocab_categories[i]));
    }
    assert_string_equal(vocab_crime_against("assault"), "person");
    assert_string_equal(vocab_crime_against("drugs"), "society");
    assert_null(vocab_crime_against("jaywalking"));
}

static void test_chicago_2017_point(void **state)
{
    (void)state;
    struct city *city = load("chicago");
    struct incident inc;
    struct map_stats stats = {0};
    char err[256] = "";
    incident_init(&inc);
    const char *row =
        "{\":@computed_region_43wa_7qmu\":\"45\",\"arrest\":true,\"beat\":\"1524\",\"block\":"
        "\"054XX "
        "W RICE "
        "ST\",\"case_number\":\"JA526401\",\"community_area\":\"25\",\"date\":\"2017-11-26T23:"
        "53:00.000\",\"description\":\"SIMPLE\",\"district\":\"015\",\"domestic\":false,\"fbi_"
        "code\":"
        "\"08B\",\"id\":\"11160347\",\"iucr\":\"0460\",\"latitude\":\"41.895796081\",\"location\":{"
        "\"type\":\"Point\",\"coordinates\":[-87.761401563,41.895796081]},\"location_description\":"
        "\"ALLEY\",\"longitude\":\"-87.761401563\",\"primary_type\":\"BATTERY\",\"updated_on\":"
        "\"2017-"
        "12-03T15:49:45.000\",\"ward\":\"37\",\"x_coordinate\":\"1139962\",\"y_coordinate\":"
        "\"1905137\",\"year\":\"2017\"" SYS;
    assert_int_equal(map(city, row, &inc, &stats, err, sizeof(err)), ERR_OK);
    assert_string_equal(inc.city, "chicago");
    assert_string_equal(inc.incident_id, "11160347");
    assert_string_equal(inc.report_id, "JA526401");
    assert_time(inc.occurred_at, "2017-11-27T05:53:00.000Z"); /* CST, UTC-6 */
    assert_true(inc.reported_at == TS_NULL);
    assert_time(inc.source_updated_at, "2026-01-02T03:04:05.678Z");
    assert_string_equal(inc.offense_code, "0460");
    assert_string_equal(inc.offense, "BATTERY: SIMPLE");
    assert_string_equal(inc.category, "assault");
    assert_string_equal(inc.crime_against, "person");
    assert_string_equal(inc.area, "015");
    assert_string_equal(inc.beat, "1524");
    assert_string_equal(inc.address, "054XX W RICE ST");
    assert_coords(&inc, 41.895796081, -87.761401563);
    assert_int_equal(inc.arrest, TRI_TRUE);
    assert_int_equal(inc.domestic, TRI_FALSE);
    assert_true(inc.ingested_at == NOW_US);
    /* Every source field is kept, the location object as compact JSON. */
    assert_int_equal(inc.n_attrs, 23 + 3);
    assert_string_equal(incident_attr(&inc, "ward"), "37");
    assert_string_equal(incident_attr(&inc, "arrest"), "true");
    assert_string_equal(incident_attr(&inc, ":id"), "row-0001");
    assert_non_null(strstr(incident_attr(&inc, "location"), "\"Point\""));
    assert_int_equal(stats.unmapped_offense, 0);
    incident_clear(&inc);
    city_destroy(city);
}

static void test_chicago_2013_legacy_and_2026_latlon(void **state)
{
    (void)state;
    struct city *city = load("chicago");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    /* 2.0-era: no milliseconds, the legacy location shape, and no latitude/longitude columns. */
    const char *legacy =
        "{\"case_number\":\"HW476670\",\"beat\":\"1421\",\"location\":{\"needs_recoding\":false,"
        "\"longitude\":\"-87.70455437538006\",\"latitude\":\"41.91379196070432\"},\"block\":"
        "\"031XX "
        "W BLOOMINGDALE AVE\",\"primary_type\":\"MOTOR VEHICLE THEFT\",\"date\":\"2013-10-01T23:55:"
        "00\",\"iucr\":\"0910\",\"domestic\":false,\"id\":\"9332907\",\"arrest\":false,"
        "\"description\":\"AUTOMOBILE\",\"district\":\"014\"" SYS;
    assert_int_equal(map(city, legacy, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2013-10-02T04:55:00.000Z"); /* CDT, UTC-5 */
    assert_string_equal(inc.category, "motor_vehicle_theft");
    assert_string_equal(inc.crime_against, "property");
    assert_coords(&inc, 41.91379196070432, -87.70455437538006);
    /* 2026 fixture: location as {latitude, longitude}. */
    const char *modern =
        "{\"id\":\"14295750\",\"case_number\":\"JK375546\",\"date\":\"2026-08-16T00:00:00.000\","
        "\"iucr\":\"0820\",\"primary_type\":\"THEFT\",\"arrest\":false,\"beat\":\"0614\","
        "\"district\":\"006\",\"updated_on\":\"2026-08-23T15:41:51.000\",\"location\":{"
        "\"latitude\":"
        "\"41.744201882\",\"longitude\":\"-87.665713523\"}" SYS;
    assert_int_equal(map(city, modern, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2026-08-16T05:00:00.000Z");
    assert_string_equal(inc.offense, "THEFT");
    assert_coords(&inc, 41.744201882, -87.665713523);
    incident_clear(&inc);
    city_destroy(city);
}

static void test_los_angeles_hhmm_and_padding(void **state)
{
    (void)state;
    struct city *city = load("los-angeles");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    const char *row =
        "{\"dr_no\":\"201305761\",\"date_rptd\":\"2020-01-31T00:00:00.000\",\"date_occ\":\"2020-01-"
        "31T00:00:00.000\",\"time_occ\":\"2015\",\"area\":\"13\",\"area_name\":\"Newton\","
        "\"rpt_dist_no\":\"1377\",\"part_1_2\":\"1\",\"crm_cd\":\"230\",\"crm_cd_desc\":\"ASSAULT "
        "WITH "
        "DEADLY WEAPON, AGGRAVATED ASSAULT\",\"mocodes\":\"1822 0416 1218\",\"vict_age\":\"69\","
        "\"vict_sex\":\"F\",\"vict_descent\":\"H\",\"premis_cd\":\"101\",\"premis_desc\":"
        "\"STREET\","
        "\"weapon_used_cd\":\"500\",\"weapon_desc\":\"UNKNOWN WEAPON/OTHER "
        "WEAPON\",\"status\":\"IC\","
        "\"status_desc\":\"Invest Cont\",\"crm_cd_1\":\"230\",\"location\":\"5700    DUARTE        "
        " "
        "              ST\",\"lat\":\"33.9907\",\"lon\":\"-118.2422\"" SYS;
    assert_int_equal(map(city, row, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_string_equal(inc.incident_id, "201305761");
    assert_time(inc.occurred_at, "2020-02-01T04:15:00.000Z"); /* 20:15 PST */
    assert_time(inc.reported_at, "2020-01-31T08:00:00.000Z");
    assert_string_equal(inc.category, "assault");
    assert_string_equal(inc.area, "Newton");
    assert_string_equal(inc.beat, "1377");
    assert_string_equal(inc.address, "5700 DUARTE ST");
    assert_string_equal(incident_attr(&inc, "location"),
                        "5700    DUARTE                       ST"); /* raw kept as is */
    assert_coords(&inc, 33.9907, -118.2422);
    assert_int_equal(inc.arrest, TRI_NULL);
    /* LA drops leading zeros: "5" is 00:05. A zero coordinate is no coordinate. */
    const char *early = "{\"dr_no\":\"1\",\"date_occ\":\"2020-07-04T00:00:00.000\",\"time_occ\":"
                        "\"5\",\"crm_cd_desc\":\"ROBBERY\",\"lat\":\"0\",\"lon\":\"0\"" SYS;
    assert_int_equal(map(city, early, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2020-07-04T07:05:00.000Z"); /* PDT */
    assert_false(inc.has_coords);
    incident_clear(&inc);
    city_destroy(city);
}

static void test_austin_legacy_location_and_yn(void **state)
{
    (void)state;
    struct city *city = load("austin");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    const char *row =
        "{\"incident_report_number\":\"20212171325\",\"crime_type\":\"THEFT\",\"ucr_code\":\"600\","
        "\"family_violence\":\"N\",\"occ_date_time\":\"2021-06-07T10:24:00.000\",\"occ_date\":"
        "\"2021-06-07T00:00:00.000\",\"occ_time\":\"1024\",\"rep_date_time\":\"2021-06-07T10:24:00."
        "000\",\"rep_date\":\"2021-06-07T00:00:00.000\",\"rep_time\":\"1024\",\"location_type\":"
        "\"RESIDENCE / HOME\",\"address\":\"500 BLOCK NATALI ST\",\"zip_code\":\"78748\","
        "\"council_district\":\"2\",\"sector\":\"FR\",\"district\":\"3\",\"pra\":\"537\","
        "\"census_tract\":\"24.37\",\"clearance_status\":\"N\",\"clearance_date\":\"2021-09-06T00:"
        "00:"
        "00.000\",\"ucr_category\":\"23H\",\"category_description\":\"Theft\",\"x_coordinate\":"
        "\"0\","
        "\"y_coordinate\":\"0\"" SYS;
    assert_int_equal(map(city, row, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2021-06-07T15:24:00.000Z"); /* CDT */
    assert_string_equal(inc.category, "theft");
    assert_string_equal(inc.area, "FR");
    assert_int_equal(inc.domestic, TRI_FALSE);
    assert_false(inc.has_coords); /* not geocoded */
    const char *geocoded =
        "{\"incident_report_number\":\"2\",\"crime_type\":\"AGG "
        "ASSAULT\",\"family_violence\":\"Y\","
        "\"occ_date_time\":\"2021-06-07T10:24:00.000\",\"location\":{\"latitude\":\"30.2672\","
        "\"longitude\":\"-97.7431\",\"human_address\":\"{\\\"address\\\": \\\"\\\", \\\"city\\\": "
        "\\\"\\\", \\\"state\\\": \\\"\\\", \\\"zip\\\": \\\"\\\"}\"}" SYS;
    assert_int_equal(map(city, geocoded, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_coords(&inc, 30.2672, -97.7431);
    assert_int_equal(inc.domestic, TRI_TRUE);
    assert_string_equal(inc.crime_against, "person");
    incident_clear(&inc);
    city_destroy(city);
}

static void test_seattle_nibrs_and_redacted(void **state)
{
    (void)state;
    struct city *city = load("seattle");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    const char *row =
        "{\"report_number\":\"2020-033090\",\"report_date_time\":\"2020-01-27T17:32:26.000\","
        "\"offense_id\":\"12338382264\",\"offense_date\":\"2020-01-27T00:00:00.000\","
        "\"nibrs_group_a_b\":\"A\",\"nibrs_crime_against_category\":\"PROPERTY\","
        "\"offense_sub_category\":\"EXTORTION/FRAUD/FORGERY/BRIBERY (INCLUDES BAD CHECKS)\","
        "\"block_address\":\"7XX BLOCK OF 19TH AVE E\",\"latitude\":\"47.62604294\",\"longitude\":"
        "\"-122.307308241278\",\"beat\":\"C2\",\"precinct\":\"East\",\"sector\":\"C\","
        "\"neighborhood\":\"MILLER PARK\",\"reporting_area\":\"4887\",\"offense_category\":\"ALL "
        "OTHER\",\"nibrs_offense_code_description\":\"False Pretenses/Swindle/Confidence Game\","
        "\"nibrs_offense_code\":\"26A\",\"census_block_2020\":\"6400.3016\"" SYS;
    assert_int_equal(map(city, row, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_string_equal(inc.incident_id, "12338382264");
    assert_string_equal(inc.report_id, "2020-033090");
    assert_time(inc.occurred_at, "2020-01-27T08:00:00.000Z"); /* PST */
    assert_time(inc.reported_at, "2020-01-28T01:32:26.000Z");
    assert_string_equal(inc.category, "fraud");
    assert_string_equal(inc.crime_against, "property");
    assert_string_equal(inc.offense_code, "26A");
    assert_string_equal(inc.area, "East");
    assert_coords(&inc, 47.62604294, -122.307308241278);
    const char *redacted = "{\"offense_id\":\"1\",\"offense_date\":\"2026-09-23T21:46:00.000\","
                           "\"nibrs_offense_code_description\":\"Simple Assault\","
                           "\"nibrs_crime_against_category\":\"PERSON\",\"latitude\":\"REDACTED\","
                           "\"longitude\":\"REDACTED\"" SYS;
    assert_int_equal(map(city, redacted, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_false(inc.has_coords);
    assert_string_equal(inc.crime_against, "person");
    /* Out of the city's box (a geocoding slip to another state). */
    const char *far = "{\"offense_id\":\"2\",\"offense_date\":\"2026-09-23T21:46:00.000\","
                      "\"nibrs_offense_code_description\":\"Simple Assault\",\"latitude\":\"40.7\","
                      "\"longitude\":\"-74.0\"" SYS;
    assert_int_equal(map(city, far, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_false(inc.has_coords);
    incident_clear(&inc);
    city_destroy(city);
}

static void test_san_francisco_point(void **state)
{
    (void)state;
    struct city *city = load("san-francisco");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    const char *row =
        "{\"incident_datetime\":\"2024-02-15T00:00:00.000\",\"incident_date\":\"2024-02-15T00:00:"
        "00."
        "000\",\"incident_time\":\"00:00\",\"incident_year\":\"2024\",\"incident_day_of_week\":"
        "\"Thursday\",\"report_datetime\":\"2024-02-15T07:09:00.000\",\"row_id\":\"136484905151\","
        "\"incident_id\":\"1364849\",\"incident_number\":\"240101157\",\"cad_number\":"
        "\"240460461\","
        "\"report_type_code\":\"II\",\"report_type_description\":\"Initial\",\"incident_code\":"
        "\"05151\",\"incident_category\":\"Burglary\",\"incident_subcategory\":\"Burglary - "
        "Other\","
        "\"incident_description\":\"Burglary, Non-residential, Forcible Entry\",\"resolution\":"
        "\"Open or Active\",\"intersection\":\"VALLEJO ST \\\\ POLK ST\",\"cnn\":\"25317000\","
        "\"police_district\":\"Northern\",\"analysis_neighborhood\":\"Russian Hill\","
        "\"supervisor_district\":\"3\",\"supervisor_district_2012\":\"3\",\"point\":{\"type\":"
        "\"Point\",\"coordinates\":[-122.42195892333984,37.796897888183594]}" SYS;
    assert_int_equal(map(city, row, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_string_equal(inc.incident_id, "136484905151");
    assert_string_equal(inc.report_id, "240101157");
    assert_time(inc.occurred_at, "2024-02-15T08:00:00.000Z");
    assert_time(inc.reported_at, "2024-02-15T15:09:00.000Z");
    assert_string_equal(inc.category, "burglary");
    assert_string_equal(inc.offense, "Burglary, Non-residential, Forcible Entry");
    assert_string_equal(inc.area, "Northern");
    assert_string_equal(inc.address, "VALLEJO ST \\ POLK ST");
    assert_coords(&inc, 37.796897888183594, -122.42195892333984); /* from the Point */
    incident_clear(&inc);
    city_destroy(city);
}

static void test_nyc_split_time(void **state)
{
    (void)state;
    struct city *city = load("nyc");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    const char *historic =
        "{\"addr_pct_cd\":\"43\",\"boro_nm\":\"BRONX\",\"cmplnt_fr_dt\":\"2006-08-29T00:00:00."
        "000\","
        "\"cmplnt_fr_tm\":\"13:00:00\",\"cmplnt_num\":\"522575447\",\"ky_cd\":\"578\",\"lat_lon\":{"
        "\"type\":\"Point\",\"coordinates\":[-73.877945775,40.827414051]},\"law_cat_cd\":"
        "\"VIOLATION\",\"ofns_desc\":\"HARRASSMENT 2\",\"pd_desc\":\"HARASSMENT,SUBD 3,4,5\","
        "\"rpt_dt\":\"2006-08-30T00:00:00.000\"" SYS;
    assert_int_equal(map(city, historic, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2006-08-29T17:00:00.000Z"); /* EDT */
    assert_time(inc.reported_at, "2006-08-30T04:00:00.000Z");
    assert_string_equal(inc.offense, "HARRASSMENT 2: HARASSMENT,SUBD 3,4,5");
    assert_string_equal(inc.category, "assault");
    assert_string_equal(inc.area, "43");
    assert_coords(&inc, 40.827414051, -73.877945775);
    const char *ytd =
        "{\"cmplnt_num\":\"321141941\",\"addr_pct_cd\":\"123\",\"boro_nm\":\"STATEN ISLAND\","
        "\"cmplnt_fr_dt\":\"2026-03-02T00:00:00.000\",\"cmplnt_fr_tm\":\"00:08:00\",\"law_cat_cd\":"
        "\"FELONY\",\"ofns_desc\":\"FELONY ASSAULT\",\"rpt_dt\":\"2026-03-02T00:00:00.000\","
        "\"latitude\":\"40.526814\",\"longitude\":\"-74.177565\",\"lat_lon\":{\"latitude\":\"40."
        "526814\",\"longitude\":\"-74.177565\"}" SYS;
    assert_int_equal(map(city, ytd, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2026-03-02T05:08:00.000Z"); /* EST */
    assert_coords(&inc, 40.526814, -74.177565);
    /* 24:00:00 is the end of the day. */
    const char *midnight = "{\"cmplnt_num\":\"3\",\"cmplnt_fr_dt\":\"2026-03-02T00:00:00.000\","
                           "\"cmplnt_fr_tm\":\"24:00:00\",\"ofns_desc\":\"ROBBERY\"" SYS;
    assert_int_equal(map(city, midnight, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2026-03-03T05:00:00.000Z");
    incident_clear(&inc);
    city_destroy(city);
}

static void test_dallas_hh_mm_and_geocoded(void **state)
{
    (void)state;
    struct city *city = load("dallas");
    struct incident inc;
    char err[256] = "";
    incident_init(&inc);
    const char *row = "{\"incidentnum\":\"012345-2024\",\"date1\":\"2024-07-04T00:00:00.000\","
                      "\"time1\":\"21:30\",\"offincident\":\"BURGLARY OF HABITATION\","
                      "\"nibrs_crime_category\":\"BURGLARY/ BREAKING & ENTERING\","
                      "\"nibrs_crimeagainst\":\"PROPERTY\",\"division\":\"CENTRAL\","
                      "\"geocoded_column\":{\"latitude\":\"32.78\",\"longitude\":\"-96.80\"}" SYS;
    assert_int_equal(map(city, row, &inc, NULL, err, sizeof(err)), ERR_OK);
    assert_time(inc.occurred_at, "2024-07-05T02:30:00.000Z"); /* CDT */
    assert_string_equal(inc.category, "burglary");
    assert_coords(&inc, 32.78, -96.80);
    incident_clear(&inc);
    city_destroy(city);
}

/* Wall times across the daylight-saving changes of every zone the cities use. */
static void test_dst_edges(void **state)
{
    (void)state;
    static const struct {
        const char *city, *local, *utc;
    } cases[] = {
        /* spring gap: read with the offset before the change */
        {"chicago", "2024-03-10T02:30:00.000", "2024-03-10T08:30:00.000Z"},
        {"seattle", "2024-03-10T02:30:00.000", "2024-03-10T10:30:00.000Z"},
        /* autumn overlap: the first of the two */
        {"chicago", "2024-11-03T01:30:00.000", "2024-11-03T06:30:00.000Z"},
        {"seattle", "2024-11-03T01:30:00.000", "2024-11-03T08:30:00.000Z"},
        /* just outside the changes */
        {"chicago", "2024-03-10T01:59:00.000", "2024-03-10T07:59:00.000Z"},
        {"chicago", "2024-03-10T03:00:00.000", "2024-03-10T08:00:00.000Z"},
        {"chicago", "2024-11-03T02:00:00.000", "2024-11-03T08:00:00.000Z"},
    };
    char err[256] = "", row[512];
    struct incident inc;
    incident_init(&inc);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct city *city = load(cases[i].city);
        const char *idf = strcmp(cases[i].city, "chicago") == 0 ? "id" : "offense_id";
        const char *df = strcmp(cases[i].city, "chicago") == 0 ? "date" : "offense_date";
        snprintf(row, sizeof(row), "{\"%s\":\"1\",\"%s\":\"%s\"" SYS, idf, df, cases[i].local);
        assert_int_equal(map(city, row, &inc, NULL, err, sizeof(err)), ERR_OK);
        assert_time(inc.occurred_at, cases[i].utc);
        city_destroy(city);
    }
    /* New York and LA's split columns at the spring change. */
    struct city *nyc = load("nyc");
    assert_int_equal(map(nyc,
                         "{\"cmplnt_num\":\"1\",\"cmplnt_fr_dt\":\"2024-03-10T00:00:00.000\","
                         "\"cmplnt_fr_tm\":\"02:30:00\"" SYS,
                         &inc, NULL, err, sizeof(err)),
                     ERR_OK);
    assert_time(inc.occurred_at, "2024-03-10T07:30:00.000Z");
    city_destroy(nyc);
    struct city *la = load("los-angeles");
    assert_int_equal(map(la,
                         "{\"dr_no\":\"1\",\"date_occ\":\"2024-11-03T00:00:00.000\",\"time_occ\":"
                         "\"0130\"" SYS,
                         &inc, NULL, err, sizeof(err)),
                     ERR_OK);
    assert_time(inc.occurred_at, "2024-11-03T08:30:00.000Z");
    city_destroy(la);
    incident_clear(&inc);
}

static void test_unmapped_offense_is_other(void **state)
{
    (void)state;
    struct city *city = load("chicago");
    struct incident inc;
    struct map_stats stats = {0};
    char err[256] = "";
    incident_init(&inc);
    assert_int_equal(map(city,
                         "{\"id\":\"1\",\"date\":\"2024-01-01T00:00:00.000\",\"primary_type\":"
                         "\"CONCEALED CARRY LICENSE VIOLATION\"" SYS,
                         &inc, &stats, err, sizeof(err)),
                     ERR_OK);
    assert_string_equal(inc.category, "other");
    assert_string_equal(inc.crime_against, "other");
    assert_int_equal(stats.unmapped_offense, 1);
    /* Case-insensitive lookup. */
    assert_int_equal(map(city,
                         "{\"id\":\"1\",\"date\":\"2024-01-01T00:00:00.000\",\"primary_type\":"
                         "\"battery\"" SYS,
                         &inc, &stats, err, sizeof(err)),
                     ERR_OK);
    assert_string_equal(inc.category, "assault");
    assert_int_equal(stats.unmapped_offense, 1);
    incident_clear(&inc);
    city_destroy(city);
}

static void test_malformed_rows_rejected_with_reason(void **state)
{
    (void)state;
    struct city *city = load("chicago");
    struct incident inc;
    incident_init(&inc);
    char *huge = malloc(200000);
    int w =
        snprintf(huge, 200000, "{\"id\":\"1\",\"date\":\"2024-01-01T00:00:00.000\",\"block\":\"");
    memset(huge + w, 'x', 100000);
    strcpy(huge + w + 100000, "\"" SYS);
    static const struct {
        const char *row, *reason;
    } cases[] = {
        {"{\"date\":\"2024-01-01T00:00:00.000\"" SYS, "missing id field id"},
        {"{\"id\":\"1\"" SYS, "missing occurred time"},
        {"{\"id\":\"1\",\"date\":\"not a date\"" SYS, "is not a timestamp"},
        {"{\"id\":\"1\",\"date\":\"2024-02-30T00:00:00.000\"" SYS, "is not a timestamp"},
        {"{\"id\":\"1\",\"date\":\"1850-01-01T00:00:00.000\"" SYS, "implausible"},
        {"{\"id\":\"1\",\"date\":\"2999-01-01T00:00:00.000\"" SYS, "implausible"},
        {"{\"id\":{\"x\":1},\"date\":\"2024-01-01T00:00:00.000\"" SYS, "expected text"},
        {"{\"id\":\"1\",\"date\":\"2024-01-01T00:00:00.000\",\"primary_type\":[\"THEFT\"]" SYS,
         "expected text"},
        {"{\"id\":\"1\",\"date\":\"2024-01-01T00:00:00.000\",\"arrest\":\"maybe\"" SYS,
         "expected a boolean"},
        {"{\"id\":\"1\",\"date\":\"2024-01-01T00:00:00.000\",\"block\":\"bad \\u0000 byte\"" SYS,
         "not valid UTF-8"},
        {"{\"id\":\"1\",\"date\":\"2024-01-01T00:00:00.000\"}", ":updated_at"},
        {"[1, 2]", "not an object"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = 0;
        assert_int_equal(map(city, cases[i].row, &inc, NULL, err, sizeof(err)), ERR_PERMANENT);
        if (!strstr(err, cases[i].reason)) {
            fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, err, cases[i].reason);
        }
        assert_null(inc.incident_id); /* nothing half-mapped is left behind */
    }
    err[0] = 0;
    assert_int_equal(map(city, huge, &inc, NULL, err, sizeof(err)), ERR_PERMANENT);
    assert_non_null(strstr(err, "bytes (limit"));
    free(huge);
    incident_clear(&inc);
    city_destroy(city);
}

static void test_bad_city_files(void **state)
{
    (void)state;
    char err[512];
    assert_null(city_load(CITIES, "atlantis", err, sizeof(err)));
    assert_non_null(strstr(err, "atlantis.json"));
    /* A category outside the vocabulary, an unknown zone. */
    char dir[] = "/tmp/blotter-test-cities-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/x.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"name\":\"x\",\"domain\":\"d\",\"dataset\":\"a-b\",\"time_zone\":\"America/Chicago\","
          "\"bbox\":[0,0,1,1],\"incident_id\":\"id\",\"occurred_at\":{\"field\":\"d\"},"
          "\"category_from\":\"t\",\"categories\":{\"THEFT\":\"stealing\"}}",
          f);
    fclose(f);
    assert_null(city_load(dir, "x", err, sizeof(err)));
    assert_non_null(strstr(err, "stealing is not in the vocabulary"));
    f = fopen(path, "w");
    fputs("{\"name\":\"x\",\"domain\":\"d\",\"dataset\":\"a-b\",\"time_zone\":\"Mars/Olympus\","
          "\"bbox\":[0,0,1,1],\"incident_id\":\"id\",\"occurred_at\":{\"field\":\"d\"},"
          "\"category_from\":\"t\",\"categories\":{}}",
          f);
    fclose(f);
    assert_null(city_load(dir, "x", err, sizeof(err)));
    assert_non_null(strstr(err, "unknown time zone"));
    remove(path);
    rmdir(dir);
}

static void test_drift(void **state)
{
    (void)state;
    struct city *city = load("seattle");
    json_t *present = json_array();
    for (size_t i = 0; i < city->n_fields; i++) {
        if (strcmp(city->fields[i], "beat") != 0) {
            json_array_append_new(present, json_string(city->fields[i]));
        }
    }
    const char **missing, **unknown;
    assert_int_equal(city_drift(city, present, &missing, &unknown), 1);
    free(missing);
    free(unknown);
    json_array_append_new(present, json_string("offense_start_datetime"));
    json_array_append_new(present, json_string(":@computed_region_x"));
    /* beat was left out above; one unknown field; computed regions are not drift. */
    assert_int_equal(city_drift(city, present, &missing, &unknown), 2);
    assert_string_equal(missing[0], "beat");
    assert_string_equal(unknown[0], "offense_start_datetime");
    assert_null(unknown[1]);
    free(missing);
    free(unknown);
    json_decref(present);
    city_destroy(city);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_city_file_loads),
        cmocka_unit_test(test_vocabulary),
        cmocka_unit_test(test_chicago_2017_point),
        cmocka_unit_test(test_chicago_2013_legacy_and_2026_latlon),
        cmocka_unit_test(test_los_angeles_hhmm_and_padding),
        cmocka_unit_test(test_austin_legacy_location_and_yn),
        cmocka_unit_test(test_seattle_nibrs_and_redacted),
        cmocka_unit_test(test_san_francisco_point),
        cmocka_unit_test(test_nyc_split_time),
        cmocka_unit_test(test_dallas_hh_mm_and_geocoded),
        cmocka_unit_test(test_dst_edges),
        cmocka_unit_test(test_unmapped_offense_is_other),
        cmocka_unit_test(test_malformed_rows_rejected_with_reason),
        cmocka_unit_test(test_bad_city_files),
        cmocka_unit_test(test_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
