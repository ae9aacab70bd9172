/* blotter-dashboard: the live page, the JSON API and the push feed over the warehouse.
 *
 *   city files ─▶ cities ◀─ warehouse (blotter.cities, agg_hourly)
 *   browser ─HTTP─▶ http ─▶ api ─▶ db pool (read-only role) ─▶ PostgreSQL
 *   consumer's NOTIFY ─▶ feed (LISTEN thread) ─▶ streams (ring + SSE fan-out) ─▶ browsers
 *
 * SIGTERM/SIGINT: end the streams, stop serving, close the connections, exit 0. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/config.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/refused.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "dashboard/api.h"
#include "dashboard/cities.h"
#include "dashboard/db.h"
#include "dashboard/feed.h"
#include "dashboard/http.h"
#include "dashboard/streams.h"

#define DEFAULT_LISTEN    "127.0.0.1:18090"
#define STREAM_QUEUE_MAX  (512 * 1024) /* bytes queued for one slow stream before it is ended */
#define STREAM_RETRY_MS   3000         /* the browser's reconnect delay */
#define CITIES_REFRESH_MS 60000

struct app {
    struct config *cfg;
    struct cities *cities;
    struct db_pool *db;
    struct streams *streams;
    struct feed *feed;
    struct dash_http *http;
    struct api api;
    atomic_bool refresh_cities;
};

static bool ready_cb(void *arg)
{
    struct app *a = arg;
    return db_pool_healthy(a->db) && feed_listening(a->feed);
}

/* From the feed thread: an event naming a city we do not know yet asks for a refresh. */
static void on_event(void *arg, const struct feed_event *ev)
{
    struct app *a = arg;
    struct city_info ci;
    api_invalidate(&a->api);
    for (char **c = ev->cities; *c; c++) {
        if (!cities_get(a->cities, *c, &ci)) {
            atomic_store(&a->refresh_cities, true);
        }
    }
}

/* false when the warehouse could not be asked (unreachable, or not migrated yet); *refused
 * to the exit code when it refused the connection (password, pg_hba.conf, TLS: 1) or the DSN
 * cannot work (2). */
static bool refresh_cities(struct app *a, int *refused)
{
    enum err_class cls;
    char errstr[512];
    PGconn *pg = db_acquire(a->db, 1000, &cls, errstr, sizeof(errstr));
    if (!pg) {
        if (cls == ERR_FATAL) {
            log_emit_limited(LOG_ERROR, "warehouse.refused", 30, "error=%s", LQ(errstr));
            *refused = conn_exit_code(errstr);
        } else {
            log_emit_limited(LOG_WARN, "warehouse.unavailable", 30, "error=%s", LQ(errstr));
        }
        return false;
    }
    bool ok = cities_refresh(a->cities, pg, errstr, sizeof(errstr)) == ERR_OK;
    if (!ok) {
        log_emit_limited(LOG_WARN, "cities.refresh_failed", 60, "error=%s", LQ(errstr));
    }
    db_release(a->db, pg, PQstatus(pg) != CONNECTION_OK);
    return ok;
}

/* Room for max_streams sockets and then some. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    extern char **environ;
    struct app app = {0}, *a = &app;
    bool api_ready = false;
    int rc = 1;
    char errstr[512], host[256];
    int port;

    a->cfg = config_new(P_DASHBOARD, "blotter-dashboard",
                        "Serve the live dashboard: the page at /, the JSON API under /api/v1/, "
                        "server-sent events at /events, and /metrics, /healthz, /readyz.");
    if (!a->cfg) {
        fprintf(stderr, "blotter-dashboard: out of memory\n");
        return 1;
    }
    switch (config_load(a->cfg, argc, argv, environ, stdout, stderr)) {
    case CONFIG_EXIT_OK:
        config_destroy(a->cfg);
        return 0;
    case CONFIG_EXIT_USAGE:
        config_destroy(a->cfg);
        return 2;
    case CONFIG_OK:
        break;
    }
    const char *listen = config_str(a->cfg, OPT_HTTP_LISTEN);
    if (!*listen) {
        listen = DEFAULT_LISTEN;
    }
    if (httpd_parse_listen(listen, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "blotter-dashboard: http_listen: '%s' is not host:port\n", listen);
        config_destroy(a->cfg);
        return 2;
    }
    config_setup_log(a->cfg, "blotter-dashboard");
    config_log(a->cfg);

    stop_setup();
    raise_fd_limit();

    /* City files first: reading them consults the zone database, before any thread runs. */
    size_t n_only = config_list_len(a->cfg, OPT_CITY);
    const char *only[PARAM_LIST_MAX];
    for (size_t i = 0; i < n_only && i < PARAM_LIST_MAX; i++) {
        only[i] = config_list_item(a->cfg, OPT_CITY, i);
    }
    a->cities =
        cities_new(config_str(a->cfg, OPT_CITIES_DIR), only,
                   n_only < PARAM_LIST_MAX ? n_only : PARAM_LIST_MAX, errstr, sizeof(errstr));
    if (!a->cities) {
        log_error("cities.failed", "error=%s", LQ(errstr));
        rc = 2;
        goto done;
    }
    const char *dsn = config_str(a->cfg, OPT_READER_PG_DSN);
    long max_streams = config_int(a->cfg, OPT_MAX_STREAMS);
    a->db = db_pool_new(dsn, (size_t)config_int(a->cfg, OPT_DB_CONNECTIONS),
                        config_int(a->cfg, OPT_QUERY_TIMEOUT_MS));
    a->streams = streams_new((size_t)config_int(a->cfg, OPT_EVENT_RING), (size_t)max_streams,
                             STREAM_QUEUE_MAX, STREAM_RETRY_MS);
    if (!a->db || !a->streams) {
        log_error("dashboard.failed", "error=%s", LQ("out of memory"));
        goto done;
    }
    api_init(&a->api, a->db, a->cities, config_int(a->cfg, OPT_CACHE_MS));
    api_ready = true;
    int refused = 0;
    bool cities_ok = refresh_cities(a, &refused);
    if (refused) {
        rc = refused; /* before serving anything */
        goto done;
    }

    struct feed_config fc = {.dsn = dsn,
                             .heartbeat_s = config_int(a->cfg, OPT_HEARTBEAT_S),
                             .backoff_ms = config_int(a->cfg, OPT_BACKOFF_MS),
                             .backoff_max_ms = config_int(a->cfg, OPT_BACKOFF_MAX_MS),
                             .on_event = on_event,
                             .arg = a};
    a->feed = feed_start(&fc, a->streams, errstr, sizeof(errstr));
    if (!a->feed) {
        log_error("feed.failed", "error=%s", LQ(errstr));
        goto done;
    }
    struct dash_http_config hc = {.listen = listen,
                                  .threads = (unsigned)config_int(a->cfg, OPT_HTTP_THREADS),
                                  .max_connections = (unsigned)max_streams + 256,
                                  .api = &a->api,
                                  .streams = a->streams,
                                  .ready = ready_cb,
                                  .arg = a};
    a->http = dash_http_start(&hc, errstr, sizeof(errstr));
    if (!a->http) {
        log_error("httpd.failed", "error=%s", LQ(errstr));
        goto done;
    }
    log_info("dashboard.listening", "url=http://%s:%d/ port=%d",
             *host && strcmp(host, "0.0.0.0") ? host : "127.0.0.1", dash_http_port(a->http),
             dash_http_port(a->http));

    int64_t last_refresh = mono_ms();
    while (!stop_requested) {
        usleep(200 * 1000);
        /* Every minute, at once for a city never seen, every 5 s while the warehouse is not
         * there yet (a consumer applies the migrations when it starts). */
        if (atomic_exchange(&a->refresh_cities, false) ||
            mono_ms() - last_refresh >= (cities_ok ? CITIES_REFRESH_MS : 5000)) {
            cities_ok = refresh_cities(a, &refused);
            last_refresh = mono_ms();
        }
    }
    log_info("dashboard.stopping", "streams=%zu", streams_count(a->streams));
    rc = 0;
done:
    if (a->streams) {
        streams_shutdown(a->streams);
    }
    dash_http_stop(a->http);
    feed_stop(a->feed);
    streams_destroy(a->streams);
    if (api_ready) {
        api_cleanup(&a->api);
    }
    db_pool_destroy(a->db);
    cities_destroy(a->cities);
    config_destroy(a->cfg);
    return rc;
}
