/* blotter-socrata-server: a local, deterministic Socrata-compatible server for tests, benchmarks
 * and the offline demo.
 *
 *   city files -> generators (gen.c) -> stores with live overlay (store.c) -> HTTP (server.c)
 *
 * Exits 0 on SIGTERM/SIGINT, 2 on bad configuration, 1 when it cannot start. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producers/city.h"
#include "common/config.h"
#include "common/httpd.h"
#include "tests/server/gen.h"
#include "common/log.h"
#include "tests/server/server.h"
#include "tests/server/store.h"
#include "common/timeutil.h"

extern char **environ;

/* The city files of the settings (every file of the folder when none is named), each with its
 * generator and store: files[0..*n) and stores[0..*n). 0, or the exit code of a failure. */
static int load_cities(const struct config *cfg, struct city ***files, struct store_city ***stores,
                       size_t *n)
{
    char errstr[512];
    const char *dir = config_str(cfg, OPT_CITIES_DIR);
    char **names = NULL;
    size_t n_names = config_list_len(cfg, OPT_CITY);
    if (n_names == 0 && (names = city_names(dir, errstr, sizeof(errstr))) != NULL) {
        while (names[n_names]) {
            n_names++;
        }
    }
    if (n_names == 0) {
        log_error("config.cities", "error=%s", LQ(names ? "no city files" : errstr));
        city_names_free(names);
        return 2;
    }
    *files = calloc(n_names, sizeof(**files));
    *stores = calloc(n_names, sizeof(**stores));
    if (!*files || !*stores) {
        city_names_free(names);
        return 1;
    }
    /* Base rows end an hour before a fixed anchor (gen_anchor_ms): every start serves the same
     * bytes for the same seed, rows and city files. */
    int64_t anchor_ms = gen_anchor_ms(now_us() / 1000);
    uint64_t rows = (uint64_t)config_int(cfg, OPT_ROWS);
    uint64_t seed = (uint64_t)config_int(cfg, OPT_SEED);
    int rc = 0;
    for (size_t c = 0; c < n_names && rc == 0; c++) {
        const char *name = names ? names[c] : config_list_item(cfg, OPT_CITY, c);
        struct city *city = city_load(dir, name, errstr, sizeof(errstr));
        struct gen_city *g =
            city ? gen_city_new(city, seed, rows, anchor_ms, errstr, sizeof(errstr)) : NULL;
        struct store_city *store = g ? store_city_new(g, seed) : NULL;
        if (!store) {
            log_error("city.load", "city=%s error=%s", LQ(name), LQ(errstr));
            city_destroy(city);
            rc = 2;
            break;
        }
        (*files)[c] = city;
        (*stores)[c] = store;
        *n = c + 1;
        log_info("city.ready", "city=%s dataset=%s rows=%lu", city->name, city->dataset,
                 (unsigned long)rows);
    }
    city_names_free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 1;
    struct config *cfg = config_new(P_SERVER, "blotter-socrata-server",
                                    "Local Socrata-compatible server with generated city data, "
                                    "live changes and fault switches (tests/server/README.md)");
    struct city **files = NULL;
    struct store_city **stores = NULL;
    size_t n = 0;
    char errstr[512], host[256];
    int port;
    if (!cfg) {
        return 1;
    }
    switch (config_load(cfg, argc, argv, environ, stdout, stderr)) {
    case CONFIG_OK:
        break;
    case CONFIG_EXIT_OK:
        config_destroy(cfg);
        return 0;
    default:
        config_destroy(cfg);
        return 2;
    }
    if (httpd_parse_listen(config_str(cfg, OPT_LISTEN), host, sizeof(host), &port) != 0) {
        fprintf(stderr, "blotter-socrata-server: listen '%s' is not host:port\n",
                config_str(cfg, OPT_LISTEN));
        config_destroy(cfg);
        return 2;
    }
    config_setup_log(cfg, "blotter-socrata-server");
    config_log(cfg);
    if ((rc = load_cities(cfg, &files, &stores, &n)) != 0) {
        for (size_t c = 0; c < n; c++) {
            store_city_destroy(stores[c]);
        }
        goto out;
    }
    /* The test double waits for its signal with sigwait in the main thread (its HTTP threads
     * inherit the blocked set), rather than the programs' flag (common/stop.h): it has no loop
     * to check one in. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct sserver *srv =
        sserver_start(config_str(cfg, OPT_LISTEN), stores, n,
                      (unsigned)config_int(cfg, OPT_LIVE_RATE), errstr, sizeof(errstr));
    stores = NULL; /* the server's now, also on failure */
    if (!srv) {
        log_error("server.start", "error=%s", LQ(errstr));
        rc = 1;
        goto out;
    }
    log_info("server.listening", "listen=%s port=%d cities=%zu rows=%ld live_rate=%ld",
             config_str(cfg, OPT_LISTEN), sserver_port(srv), n, config_int(cfg, OPT_ROWS),
             config_int(cfg, OPT_LIVE_RATE));
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("server.stopping", "signal=%d", sig);
    sserver_stop(srv);
    rc = 0;
out:
    for (size_t c = 0; files && c < n; c++) {
        city_destroy(files[c]);
    }
    free(files);
    free(stores);
    config_destroy(cfg);
    return rc;
}
