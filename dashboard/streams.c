#include "dashboard/streams.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/metrics.h"
#include "dashboard/ring.h"

struct client {
    struct streams *st;
    struct MHD_Connection *conn;
    char *q; /* queued bytes q[off..len) */
    size_t len, off, cap;
    bool suspended;
    bool closing; /* queue overflowed: end the stream */
    struct client *prev, *next;
};

struct streams {
    pthread_mutex_t lock;
    struct ring *ring;
    struct client *clients;
    size_t n_clients, max_streams, max_queue;
    long retry_ms;
    bool shutting_down;
    struct metric *m_open, *m_frames, *m_dropped, *m_opened;
};

struct streams *streams_new(size_t ring_capacity, size_t max_streams, size_t max_queue_bytes,
                            long retry_ms)
{
    struct streams *st = calloc(1, sizeof(*st));
    if (!st) {
        return NULL;
    }
    st->ring = ring_new(ring_capacity);
    if (!st->ring) {
        free(st);
        return NULL;
    }
    pthread_mutex_init(&st->lock, NULL);
    st->max_streams = max_streams;
    st->max_queue = max_queue_bytes;
    st->retry_ms = retry_ms;
    st->m_open = metric_gauge("blotter_dashboard_streams", "Open /events streams", NULL);
    st->m_opened =
        metric_counter("blotter_dashboard_streams_opened_total", "/events streams opened", NULL);
    st->m_frames = metric_counter("blotter_dashboard_stream_frames_total",
                                  "Frames queued on /events streams (events, heartbeats)", NULL);
    st->m_dropped = metric_counter("blotter_dashboard_streams_dropped_total",
                                   "Streams ended because the client fell too far behind", NULL);
    return st;
}

void streams_destroy(struct streams *st)
{
    if (!st) {
        return;
    }
    /* The daemon is stopped: every response, hence every client, has been freed. */
    ring_destroy(st->ring);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

char *streams_frame(const char *id, const char *event, const char *data, size_t *len)
{
    size_t n = (id ? strlen(id) + 5 : 0) + strlen(event) + 8 + strlen(data) + 8 + 1;
    char *f = malloc(n);
    if (!f) {
        return NULL;
    }
    int w = id ? snprintf(f, n, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data)
               : snprintf(f, n, "event: %s\ndata: %s\n\n", event, data);
    *len = (size_t)w;
    return f;
}

/* Queue bytes on a client (lock held). Past the bound the client is marked for closing. */
static void enqueue(struct client *c, const char *s, size_t n)
{
    if (c->closing) {
        return;
    }
    if (c->off == c->len) {
        c->off = c->len = 0;
    }
    if (c->len - c->off + n > c->st->max_queue) {
        c->closing = true;
        metric_add(c->st->m_dropped, 1);
        return;
    }
    if (c->len + n > c->cap) {
        if (c->off > 0) { /* compact first */
            memmove(c->q, c->q + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->len + n) {
            cap *= 2;
        }
        char *q = realloc(c->q, cap);
        if (!q) {
            c->closing = true;
            return;
        }
        c->q = q;
        c->cap = cap;
    }
    memcpy(c->q + c->len, s, n);
    c->len += n;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct client *c = cls;
    struct streams *st = c->st;
    ssize_t n;
    (void)pos;
    pthread_mutex_lock(&st->lock);
    if (c->len > c->off) {
        size_t k = c->len - c->off < max ? c->len - c->off : max;
        memcpy(buf, c->q + c->off, k);
        c->off += k;
        n = (ssize_t)k;
    } else if (c->closing) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (st->shutting_down) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing to send: park the connection until streams_publish resumes it. Returning 0
         * without suspending would make MHD call again at once (a busy loop). */
        c->suspended = true;
        MHD_suspend_connection(c->conn);
        n = 0;
    }
    pthread_mutex_unlock(&st->lock);
    return n;
}

static void client_free(void *cls)
{
    struct client *c = cls;
    struct streams *st = c->st;
    pthread_mutex_lock(&st->lock);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        st->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    st->n_clients--;
    metric_set(st->m_open, (double)st->n_clients);
    pthread_mutex_unlock(&st->lock);
    free(c->q);
    free(c);
}

static void replay_one(void *arg, const char *frame, size_t len)
{
    enqueue(arg, frame, len);
}

struct MHD_Response *streams_open(struct streams *st, struct MHD_Connection *conn,
                                  const char *last_event_id, bool *full)
{
    char hello[96];
    *full = false;
    struct client *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->st = st;
    c->conn = conn;
    pthread_mutex_lock(&st->lock);
    if (st->n_clients >= st->max_streams || st->shutting_down) {
        pthread_mutex_unlock(&st->lock);
        free(c);
        *full = true;
        return NULL;
    }
    int n = snprintf(hello, sizeof(hello), "retry: %ld\n: blotter live feed\n\n", st->retry_ms);
    enqueue(c, hello, (size_t)n);
    if (last_event_id && *last_event_id &&
        ring_replay_after(st->ring, last_event_id, replay_one, c) < 0) {
        static const char resync[] = "event: resync\ndata: {\"reason\":\"Last-Event-ID is not "
                                     "among the recent events\"}\n\n";
        enqueue(c, resync, sizeof(resync) - 1);
    }
    /* Linked before the response exists: a publish from now on reaches this client. */
    c->next = st->clients;
    if (st->clients) {
        st->clients->prev = c;
    }
    st->clients = c;
    st->n_clients++;
    metric_set(st->m_open, (double)st->n_clients);
    metric_add(st->m_opened, 1);
    pthread_mutex_unlock(&st->lock);

    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, c, client_free);
    if (!resp) {
        client_free(c);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return resp;
}

/* Queue a frame on every client (and the ring when id is set), then resume the parked ones
 * outside the lock. */
static void broadcast(struct streams *st, const char *id, const char *frame, size_t len,
                      bool clear_ring)
{
    struct MHD_Connection **wake = NULL;
    size_t n_wake = 0;
    pthread_mutex_lock(&st->lock);
    if (clear_ring) {
        ring_clear(st->ring);
    }
    if (id) {
        ring_push(st->ring, id, frame, len);
    }
    if (st->n_clients) {
        wake = malloc(st->n_clients * sizeof(*wake));
    }
    for (struct client *c = st->clients; c; c = c->next) {
        enqueue(c, frame, len);
        metric_add(st->m_frames, 1);
        if (c->suspended && wake) {
            c->suspended = false;
            wake[n_wake++] = c->conn;
        }
    }
    pthread_mutex_unlock(&st->lock);
    for (size_t i = 0; i < n_wake; i++) {
        MHD_resume_connection(wake[i]);
    }
    free(wake);
}

void streams_publish(struct streams *st, const char *id, const char *event, const char *data)
{
    size_t len;
    char *frame = streams_frame(id, event, data, &len);
    if (frame) {
        broadcast(st, id, frame, len, false);
        free(frame);
    }
}

void streams_comment(struct streams *st, const char *text)
{
    char frame[256];
    int n = snprintf(frame, sizeof(frame), ": %s\n\n", text);
    broadcast(st, NULL, frame, (size_t)n < sizeof(frame) ? (size_t)n : sizeof(frame) - 1, false);
}

void streams_resync(struct streams *st, const char *reason)
{
    char data[256];
    size_t len;
    snprintf(data, sizeof(data), "{\"reason\":\"%s\"}", reason);
    char *frame = streams_frame(NULL, "resync", data, &len);
    if (frame) {
        broadcast(st, NULL, frame, len, true);
        free(frame);
    }
}

void streams_shutdown(struct streams *st)
{
    pthread_mutex_lock(&st->lock);
    st->shutting_down = true;
    pthread_mutex_unlock(&st->lock);
    broadcast(st, NULL, "", 0, false); /* wakes every parked reader, which then ends */
}

size_t streams_count(struct streams *st)
{
    pthread_mutex_lock(&st->lock);
    size_t n = st->n_clients;
    pthread_mutex_unlock(&st->lock);
    return n;
}
