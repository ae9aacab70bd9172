/* The ring of recent server-sent events, for Last-Event-ID resume. Pure (no locking: the caller
 * serialises). Each entry is an event's id and its whole frame ("id: ..\nevent: ..\ndata: ..\n\n").
 * Ids are compared by equality only: they come from the warehouse (the batch's transaction id),
 * so every dashboard replica gives an event the same id, and a client may resume on another. */
#ifndef BLOTTER_DASHBOARD_RING_H
#define BLOTTER_DASHBOARD_RING_H

#include <stdbool.h>
#include <stddef.h>

struct ring;

struct ring *ring_new(size_t capacity);
void ring_destroy(struct ring *r);

/* Keep a copy of the event; the oldest is dropped when full. -1 on OOM (the ring is unchanged). */
int ring_push(struct ring *r, const char *id, const char *frame, size_t frame_len);

/* Forget every event (after a gap: notifications were lost while the listener was away). */
void ring_clear(struct ring *r);

size_t ring_len(const struct ring *r);

/* The events after the one whose id is last_id, oldest first, through fn. Returns how many, or
 * -1 when last_id is not in the ring (too old, from before a gap, or unknown): the client must
 * then reload everything. */
long ring_replay_after(const struct ring *r, const char *last_id,
                       void (*fn)(void *arg, const char *frame, size_t len), void *arg);

/* The id of the newest event, or NULL when empty. */
const char *ring_newest_id(const struct ring *r);

#endif
