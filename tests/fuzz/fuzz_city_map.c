/* The city mapping (producers/city_map.c) with every real city file of producers/cities (or
 * $BLOTTER_CITIES_DIR): the first byte picks the city, the rest is one row's JSON text, parsed
 * the way the producer parses it (row_parse) and mapped. */
#include <jansson.h>
#include <stdio.h>

#include "common/incident.h"
#include "common/log.h"
#include "producers/city.h"
#include "producers/city_map.h"
#include "producers/rowsplit.h"
#include "tests/fuzz/fuzz.h"

static struct city *cities[64];
static size_t n_cities;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    const char *dir =
        getenv("BLOTTER_CITIES_DIR") ? getenv("BLOTTER_CITIES_DIR") : "producers/cities";
    log_setup(LOG_OFF, LOG_FORMAT_LOGFMT, "fuzz");
    char **names = city_names(dir, err, sizeof(err));
    if (!names) {
        fprintf(stderr, "fuzz_city_map: %s (run from the repository root)\n", err);
        exit(1);
    }
    for (size_t i = 0; names[i] && n_cities < 64; i++) {
        struct city *c = city_load(dir, names[i], err, sizeof(err));
        if (!c) {
            fprintf(stderr, "fuzz_city_map: %s\n", err);
            exit(1);
        }
        cities[n_cities++] = c;
    }
    city_names_free(names);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || n_cities == 0) {
        return 0;
    }
    const struct city *city = cities[data[0] % n_cities];
    char *scrubbed = NULL;
    size_t scrubbed_len = 0;
    json_t *row = row_parse((const char *)data + 1, size - 1, &scrubbed, &scrubbed_len);
    if (row) {
        struct incident inc;
        struct map_stats stats = {0};
        char err[512];
        incident_init(&inc);
        (void)city_map_row(city, row, 1700000000000000LL, &inc, &stats, err, sizeof(err));
        incident_clear(&inc);
        const char **missing = NULL, **unknown = NULL;
        json_t *present = json_object_size(row) ? json_array() : NULL;
        const char *key;
        json_t *v;
        json_object_foreach(row, key, v)
        {
            json_array_append_new(present, json_string(key));
        }
        if (present) {
            (void)city_drift(city, present, &missing, &unknown);
            free(missing);
            free(unknown);
            json_decref(present);
        }
        json_decref(row);
    }
    free(scrubbed);
    return 0;
}
