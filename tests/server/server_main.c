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
#include "tests/server/gen.h"
#include "common/log.h"
#include "tests/server/server.h"
#include "tests/server/store.h"
#include "common/timeutil.h"

extern char **environ;

int main(int argc, char **argv)
{
    int rc = 1;
    struct config *cfg = config_new(P_SERVER, "blotter-socrata-server",
                                    "Local Socrata-compatible server with generated city data, "
                                    "live changes and fault switches (tests/server/README.md)");
    struct city **files = NULL;
    size_t n = 0;
    char **names = NULL;
    struct sserver *srv = NULL;
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
    config_setup_log(cfg, "blotter-socrata-server");
    config_log(cfg);

    char errstr[512];
    const char *dir = config_str(cfg, OPT_CITIES_DIR);
    size_t n_names = config_list_len(cfg, OPT_CITY);
    if (n_names == 0) {
        names = city_names(dir, errstr, sizeof(errstr));
        if (!names) {
            log_error("config.cities", "error=%s", LQ(errstr));
            rc = 2;
            goto out;
        }
        while (names[n_names]) {
            n_names++;
        }
    }
    if (n_names == 0) {
        log_error("config.cities", "error=%s", LQ("no city files"));
        rc = 2;
        goto out;
    }
    files = calloc(n_names, sizeof(*files));
    struct store_city **stores = calloc(n_names, sizeof(*stores));
    if (!files || !stores) {
        free(stores);
        goto out;
    }
    /* Base rows end an hour before a fixed anchor (gen_anchor_ms): every start serves the same
     * bytes for the same seed, rows and city files. */
    int64_t anchor_ms = gen_anchor_ms(now_us() / 1000);
    uint64_t rows = (uint64_t)config_int(cfg, OPT_ROWS);
    uint64_t seed = (uint64_t)config_int(cfg, OPT_SEED);
    for (size_t c = 0; c < n_names; c++) {
        const char *name = names ? names[c] : config_list_item(cfg, OPT_CITY, c);
        files[c] = city_load(dir, name, errstr, sizeof(errstr));
        struct gen_city *g =
            files[c] ? gen_city_new(files[c], seed, rows, anchor_ms, errstr, sizeof(errstr)) : NULL;
        stores[c] = g ? store_city_new(g, seed) : NULL;
        n = c + 1;
        if (!stores[c]) {
            log_error("city.load", "city=%s error=%s", LQ(name), LQ(errstr));
            for (size_t j = 0; j < c; j++) {
                store_city_destroy(stores[j]);
            }
            free(stores);
            rc = 2;
            goto out;
        }
        log_info("city.ready", "city=%s dataset=%s rows=%lu", files[c]->name, files[c]->dataset,
                 (unsigned long)rows);
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits it; main waits below */
    srv = sserver_start(config_str(cfg, OPT_LISTEN), stores, n,
                        (unsigned)config_int(cfg, OPT_LIVE_RATE), errstr, sizeof(errstr));
    if (!srv) {
        log_error("server.start", "error=%s", LQ(errstr));
        goto out;
    }
    log_info("server.listening", "listen=%s port=%d cities=%zu rows=%lu live_rate=%ld",
             config_str(cfg, OPT_LISTEN), sserver_port(srv), n, (unsigned long)rows,
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
    city_names_free(names);
    config_destroy(cfg);
    return rc;
}
