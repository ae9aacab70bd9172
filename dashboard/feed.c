#define _GNU_SOURCE
#include "dashboard/feed.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"

/* ---- Payload to event ---- */

void feed_event_free(struct feed_event *ev)
{
    if (!ev) {
        return;
    }
    free(ev->data);
    if (ev->cities) {
        for (char **c = ev->cities; *c; c++) {
            free(*c);
        }
        free(ev->cities);
    }
    memset(ev, 0, sizeof(*ev));
}

static bool count_ok(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

int feed_event_parse(const char *payload, int64_t received_us, struct feed_event *ev, char *errstr,
                     size_t errstr_size)
{
    json_error_t jerr;
    json_t *in = NULL, *out = NULL, *cities_out = NULL;
    int rc = -1;
    char when[40];

    memset(ev, 0, sizeof(*ev));
    in = json_loads(payload, JSON_REJECT_DUPLICATES, &jerr);
    if (!in || !json_is_object(in)) {
        err_set(errstr, errstr_size, "payload is not a JSON object");
        goto done;
    }
    json_t *v = json_object_get(in, "v"), *txid = json_object_get(in, "txid"),
           *cities = json_object_get(in, "cities"), *part = json_object_get(in, "part"),
           *parts = json_object_get(in, "parts");
    const char *tx = json_string_value(txid);
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        err_set(errstr, errstr_size, "payload version is not 1");
        goto done;
    }
    if (!tx || !*tx || strspn(tx, "0123456789") != strlen(tx) || strlen(tx) > 20) {
        err_set(errstr, errstr_size, "txid is not a transaction id");
        goto done;
    }
    if (!json_is_object(cities) || json_object_size(cities) == 0) {
        err_set(errstr, errstr_size, "cities is not a non-empty object");
        goto done;
    }
    if ((part || parts) && (!count_ok(part) || !count_ok(parts) || json_integer_value(part) < 1 ||
                            json_integer_value(part) > json_integer_value(parts))) {
        err_set(errstr, errstr_size, "part/parts are not 1 <= part <= parts");
        goto done;
    }
    ev->cities = calloc(json_object_size(cities) + 1, sizeof(*ev->cities));
    cities_out = json_object();
    if (!ev->cities || !cities_out) {
        err_set(errstr, errstr_size, "out of memory");
        goto done;
    }
    const char *name;
    json_t *c;
    size_t i = 0;
    json_object_foreach(cities, name, c)
    {
        json_t *ins = json_object_get(c, "inserted"), *upd = json_object_get(c, "updated");
        if (!json_is_object(c) || !count_ok(ins) || !count_ok(upd)) {
            err_set(errstr, errstr_size, "city '%.64s' lacks inserted/updated counts", name);
            goto done;
        }
        json_t *one = json_pack("{sIsI}", "inserted", json_integer_value(ins), "updated",
                                json_integer_value(upd));
        json_t *hours = json_object_get(c, "hours"), *more = json_object_get(c, "hours_more"),
               *newest = json_object_get(c, "newest_source_updated_at");
        if (!one) {
            err_set(errstr, errstr_size, "out of memory");
            goto done;
        }
        if (json_is_array(hours)) {
            json_t *h = json_array();
            size_t k;
            json_t *hv;
            json_array_foreach(hours, k, hv)
            {
                if (json_is_string(hv)) {
                    json_array_append(h, hv);
                }
            }
            json_object_set_new(one, "hours", h);
        }
        if (count_ok(more)) {
            json_object_set(one, "hours_more", more);
        }
        if (json_is_string(newest)) {
            json_object_set(one, "newest_source_updated_at", newest);
        }
        json_object_set_new(cities_out, name, one);
        ev->inserted += (long)json_integer_value(ins);
        ev->updated += (long)json_integer_value(upd);
        ev->cities[i] = strdup(name);
        if (!ev->cities[i++]) {
            err_set(errstr, errstr_size, "out of memory");
            goto done;
        }
    }
    us_format(received_us, false, when, sizeof(when));
    out = json_pack("{sssssIsIsO}", "txid", tx, "received_at", when, "inserted",
                    (json_int_t)ev->inserted, "updated", (json_int_t)ev->updated, "cities",
                    cities_out);
    if (!out) {
        err_set(errstr, errstr_size, "out of memory");
        goto done;
    }
    if (part) {
        json_object_set(out, "part", part);
        json_object_set(out, "parts", parts);
        snprintf(ev->id, sizeof(ev->id), "%s-%lld", tx, (long long)json_integer_value(part));
    } else {
        snprintf(ev->id, sizeof(ev->id), "%s", tx);
    }
    ev->data = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!ev->data) {
        err_set(errstr, errstr_size, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) {
        feed_event_free(ev);
    }
    json_decref(cities_out);
    json_decref(out);
    json_decref(in);
    return rc;
}

/* ---- The listener thread ---- */

struct feed {
    struct feed_config cfg;
    char *dsn;
    struct streams *st;
    pthread_t thread;
    int wake[2]; /* a byte on wake[1] stops the thread */
    atomic_bool stop, listening;
    PGconn *pg;
    struct metric *m_notifications, *m_bad, *m_reconnects, *m_listening;
};

static void drop(struct feed *f)
{
    if (f->pg) {
        PQfinish(f->pg);
        f->pg = NULL;
    }
    atomic_store(&f->listening, false);
    metric_set(f->m_listening, 0);
}

/* Sleep up to ms, or less when asked to stop. */
static void nap(struct feed *f, long ms)
{
    struct pollfd p = {.fd = f->wake[0], .events = POLLIN};
    poll(&p, 1, (int)ms);
}

static bool try_connect(struct feed *f, char *errstr, size_t n)
{
    /* Keepalives: a server that vanished without closing the socket is noticed too. */
    const char *keys[] = {
        "connect_timeout",  "application_name", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *vals[] = {"10", "blotter-dashboard-feed", "10", "5", "3", "30000", f->dsn, NULL};
    f->pg = PQconnectdbParams(keys, vals, 1);
    if (!f->pg || PQstatus(f->pg) != CONNECTION_OK) {
        err_set(errstr, n, "connect: %s", f->pg ? PQerrorMessage(f->pg) : "out of memory");
        drop(f);
        return false;
    }
    PGresult *res = PQexec(f->pg, "LISTEN " FEED_CHANNEL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        err_set(errstr, n, "LISTEN: %s", PQerrorMessage(f->pg));
    }
    PQclear(res);
    if (!ok || PQsetnonblocking(f->pg, 1) != 0) {
        drop(f);
        return false;
    }
    atomic_store(&f->listening, true);
    metric_set(f->m_listening, 1);
    return true;
}

static void publish_notifications(struct feed *f)
{
    PGnotify *nt;
    while ((nt = PQnotifies(f->pg)) != NULL) {
        struct feed_event ev;
        char errstr[256];
        metric_add(f->m_notifications, 1);
        if (feed_event_parse(nt->extra, now_us(), &ev, errstr, sizeof(errstr)) != 0) {
            metric_add(f->m_bad, 1);
            log_emit_limited(LOG_WARN, "feed.bad_payload", 60, "error=%s", LQ(errstr));
        } else {
            if (f->cfg.on_event) {
                f->cfg.on_event(f->cfg.arg, &ev);
            }
            streams_publish(f->st, ev.id, "incidents", ev.data);
            log_debug("feed.event", "id=%s inserted=%ld updated=%ld", ev.id, ev.inserted,
                      ev.updated);
            feed_event_free(&ev);
        }
        PQfreemem(nt);
    }
}

/* Still connected? A heartbeat's round trip finds a server that went away quietly. */
static bool ping(struct feed *f)
{
    if (PQsetnonblocking(f->pg, 0) != 0) {
        return false;
    }
    PGresult *res = PQexec(f->pg, "SELECT 1");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok && PQsetnonblocking(f->pg, 1) == 0;
}

static void *run(void *arg)
{
    struct feed *f = arg;
    long backoff = f->cfg.backoff_ms;
    bool had_connection = false;
    int64_t last_beat = mono_ms();
    const long beat_ms = f->cfg.heartbeat_s * 1000;

    while (!atomic_load(&f->stop)) {
        if (!f->pg) {
            char errstr[512];
            if (!try_connect(f, errstr, sizeof(errstr))) {
                log_emit_limited(LOG_WARN, "feed.connect_failed", 30, "error=%s retry_ms=%ld",
                                 LQ(errstr), backoff);
                nap(f, backoff + random() % (backoff / 4 + 1));
                backoff = backoff * 2 > f->cfg.backoff_max_ms ? f->cfg.backoff_max_ms : backoff * 2;
                /* Streams stay open while the warehouse is away; heartbeats keep proxies happy. */
                if (mono_ms() - last_beat >= beat_ms) {
                    streams_comment(f->st, "heartbeat (warehouse unreachable, retrying)");
                    last_beat = mono_ms();
                }
                continue;
            }
            backoff = f->cfg.backoff_ms;
            log_info("feed.listening", "channel=%s", FEED_CHANNEL);
            if (had_connection || streams_count(f->st) > 0) {
                metric_add(f->m_reconnects, 1);
                streams_resync(f->st, "the live feed reconnected; changes may have been missed");
            }
            had_connection = true;
        }
        long wait = beat_ms - (long)(mono_ms() - last_beat);
        struct pollfd p[2] = {{.fd = PQsocket(f->pg), .events = POLLIN},
                              {.fd = f->wake[0], .events = POLLIN}};
        int r = poll(p, 2, wait > 0 ? (int)wait : 0);
        if (r < 0 && errno != EINTR) {
            log_error("feed.poll_failed", "error=%s", LQ(strerror(errno)));
            nap(f, 1000);
            continue;
        }
        if (p[1].revents) {
            continue; /* stop requested */
        }
        if (r > 0 && p[0].revents) {
            if (PQconsumeInput(f->pg) != 1 || PQstatus(f->pg) != CONNECTION_OK) {
                log_warn("feed.connection_lost", "error=%s", LQ(PQerrorMessage(f->pg)));
                drop(f);
                continue;
            }
            publish_notifications(f);
        }
        if (mono_ms() - last_beat >= beat_ms) {
            if (!ping(f)) {
                log_warn("feed.connection_lost", "error=%s", LQ(PQerrorMessage(f->pg)));
                drop(f);
            } else {
                publish_notifications(f); /* any that came with the reply */
            }
            streams_comment(f->st, "heartbeat");
            last_beat = mono_ms();
        }
    }
    drop(f);
    return NULL;
}

struct feed *feed_start(const struct feed_config *cfg, struct streams *st, char *errstr,
                        size_t errstr_size)
{
    struct feed *f = calloc(1, sizeof(*f));
    if (!f) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    f->cfg = *cfg;
    f->st = st;
    f->dsn = strdup(cfg->dsn);
    f->wake[0] = f->wake[1] = -1;
    if (!f->dsn || pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        err_set(errstr, errstr_size, "feed: %s", f->dsn ? strerror(errno) : "out of memory");
        goto fail;
    }
    f->m_notifications = metric_counter("blotter_dashboard_notifications_total",
                                        "NOTIFY blotter_incidents received", NULL);
    f->m_bad = metric_counter("blotter_dashboard_notifications_invalid_total",
                              "Notifications whose payload was not understood", NULL);
    f->m_reconnects = metric_counter("blotter_dashboard_feed_reconnects_total",
                                     "Times the LISTEN connection came back after a loss", NULL);
    f->m_listening = metric_gauge("blotter_dashboard_feed_listening",
                                  "1 while LISTENing to the warehouse", NULL);
    if (pthread_create(&f->thread, NULL, run, f) != 0) {
        err_set(errstr, errstr_size, "feed: cannot start its thread");
        goto fail;
    }
    return f;
fail:
    if (f->wake[0] >= 0) {
        close(f->wake[0]);
        close(f->wake[1]);
    }
    free(f->dsn);
    free(f);
    return NULL;
}

void feed_stop(struct feed *f)
{
    if (!f) {
        return;
    }
    atomic_store(&f->stop, true);
    ssize_t w = write(f->wake[1], "x", 1);
    (void)w;
    pthread_join(f->thread, NULL);
    close(f->wake[0]);
    close(f->wake[1]);
    free(f->dsn);
    free(f);
}

bool feed_listening(const struct feed *f)
{
    return f && atomic_load(&f->listening);
}
