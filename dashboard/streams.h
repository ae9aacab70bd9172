/* Server-sent event streams (GET /events) on libmicrohttpd, without a thread per client.
 *
 * Each stream is a callback response. Its reader copies the stream's queued frames; when the
 * queue is empty it suspends the connection (MHD_suspend_connection) and returns 0, so an idle
 * stream costs no thread and no polling. Publishing queues the frame on every stream and
 * resumes the suspended ones. A connection is resumed only after the lock is released: while
 * suspended, MHD neither reads, writes, times out nor closes it, so the pointer stays valid
 * until it is resumed, and no MHD lock is ever taken while ours is held (except by the reader,
 * on its own connection).
 *
 * Each stream's queue is bounded: a client too slow to take its events is ended, and its
 * browser reconnects with Last-Event-ID (the ring replays what it missed, or it resyncs). */
#ifndef BLOTTER_DASHBOARD_STREAMS_H
#define BLOTTER_DASHBOARD_STREAMS_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct MHD_Response;
struct streams;

struct streams *streams_new(size_t ring_capacity, size_t max_streams, size_t max_queue_bytes,
                            long retry_ms);
/* After streams_shutdown and the daemon's stop. */
void streams_destroy(struct streams *st);

/* A response for a new stream (the caller queues it with status 200 and destroys its
 * reference). last_event_id (may be NULL): replay what the ring holds after it, or send
 * `event: resync` when it is unknown. NULL when max_streams are open (answer 503) or on OOM;
 * *full tells which. */
struct MHD_Response *streams_open(struct streams *st, struct MHD_Connection *conn,
                                  const char *last_event_id, bool *full);

/* Keep the event in the ring and send it to every stream. */
void streams_publish(struct streams *st, const char *id, const char *event, const char *data);
/* A comment line (": text") to every stream: the heartbeat. */
void streams_comment(struct streams *st, const char *text);
/* After a gap: clear the ring and send `event: resync` with data {"reason": reason}. */
void streams_resync(struct streams *st, const char *reason);
/* End every stream (shutdown): readers return end-of-stream; new streams are refused. */
void streams_shutdown(struct streams *st);

size_t streams_count(struct streams *st);

/* The SSE frame of one event: "id: <id>\nevent: <event>\ndata: <data>\n\n" (id line left out
 * when id is NULL; data must hold no newline: compact JSON). malloc'ed; NULL on OOM. */
char *streams_frame(const char *id, const char *event, const char *data, size_t *len);

#endif
