/* The push feed: one PostgreSQL connection LISTENs to blotter_incidents (the consumer's NOTIFY
 * of every committed batch, schemas/warehouse/005_dashboard.sql) and a thread turns each
 * notification into an `event: incidents` for every open /events stream (streams.h).
 *
 * The thread waits on the connection's socket with the heartbeat interval as its timeout: a
 * notification is published at once; a quiet interval sends a heartbeat comment and checks the
 * connection. A lost connection is retried with backoff while the streams stay open; once it is
 * back, notifications sent meanwhile are lost, so the ring is cleared and every stream gets
 * `event: resync` (the page reloads its panels). */
#ifndef BLOTTER_DASHBOARD_FEED_H
#define BLOTTER_DASHBOARD_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dashboard/streams.h"

#define FEED_CHANNEL "blotter_incidents"

/* ---- Pure: a notification's payload to the event sent to browsers ---- */

struct feed_event {
    char id[48];   /* the writer's transaction id, "-<part>" for a split batch */
    char *data;    /* compact JSON: {"txid","received_at","inserted","updated","cities":{..}} */
    char **cities; /* the cities named, NULL-terminated */
    long inserted; /* summed over the cities */
    long updated;
};

/* Validate and reshape a payload: {"v":1,"txid":"<digits>","cities":{"<city>":{"inserted":N,
 * "updated":N,"hours":[..],"hours_more":N,"newest_source_updated_at":".."}},"part":k,
 * "parts":n}. Unknown members are dropped; inserted and updated are required. -1 with errstr
 * when the payload is not such an object. */
int feed_event_parse(const char *payload, int64_t received_us, struct feed_event *ev, char *errstr,
                     size_t errstr_size);
void feed_event_free(struct feed_event *ev);

/* ---- The listener ---- */

struct feed_config {
    const char *dsn;
    long heartbeat_s;
    long backoff_ms, backoff_max_ms;
    /* Called from the feed thread for each event, before it is published (may be NULL). */
    void (*on_event)(void *arg, const struct feed_event *ev);
    void *arg;
};

struct feed;

/* Start the thread (it connects by itself; a warehouse that is down is retried). */
struct feed *feed_start(const struct feed_config *cfg, struct streams *st, char *errstr,
                        size_t errstr_size);
/* Stop and join the thread; close the connection. */
void feed_stop(struct feed *f);
/* LISTENing now. */
bool feed_listening(const struct feed *f);

#endif
