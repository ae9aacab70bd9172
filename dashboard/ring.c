#include "dashboard/ring.h"

#include <stdlib.h>
#include <string.h>

struct ring_entry {
    char *id;
    char *frame;
    size_t len;
};

struct ring {
    struct ring_entry *e;
    size_t cap;
    size_t head; /* index of the oldest entry */
    size_t n;
};

struct ring *ring_new(size_t capacity)
{
    struct ring *r = calloc(1, sizeof(*r));
    if (!r) {
        return NULL;
    }
    r->cap = capacity ? capacity : 1;
    r->e = calloc(r->cap, sizeof(*r->e));
    if (!r->e) {
        free(r);
        return NULL;
    }
    return r;
}

static void entry_free(struct ring_entry *e)
{
    free(e->id);
    free(e->frame);
    memset(e, 0, sizeof(*e));
}

void ring_clear(struct ring *r)
{
    for (size_t i = 0; i < r->n; i++) {
        entry_free(&r->e[(r->head + i) % r->cap]);
    }
    r->head = 0;
    r->n = 0;
}

void ring_destroy(struct ring *r)
{
    if (!r) {
        return;
    }
    ring_clear(r);
    free(r->e);
    free(r);
}

int ring_push(struct ring *r, const char *id, const char *frame, size_t frame_len)
{
    char *cid = strdup(id), *cframe = malloc(frame_len + 1);
    if (!cid || !cframe) {
        free(cid);
        free(cframe);
        return -1;
    }
    memcpy(cframe, frame, frame_len);
    cframe[frame_len] = '\0';
    if (r->n == r->cap) {
        entry_free(&r->e[r->head]);
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
    struct ring_entry *e = &r->e[(r->head + r->n) % r->cap];
    e->id = cid;
    e->frame = cframe;
    e->len = frame_len;
    r->n++;
    return 0;
}

size_t ring_len(const struct ring *r)
{
    return r->n;
}

long ring_replay_after(const struct ring *r, const char *last_id,
                       void (*fn)(void *arg, const char *frame, size_t len), void *arg)
{
    /* Search from the newest: a resuming client is usually only a few events behind. */
    for (size_t k = r->n; k-- > 0;) {
        const struct ring_entry *e = &r->e[(r->head + k) % r->cap];
        if (strcmp(e->id, last_id) == 0) {
            long count = 0;
            for (size_t j = k + 1; j < r->n; j++, count++) {
                const struct ring_entry *x = &r->e[(r->head + j) % r->cap];
                fn(arg, x->frame, x->len);
            }
            return count;
        }
    }
    return -1;
}

const char *ring_newest_id(const struct ring *r)
{
    return r->n ? r->e[(r->head + r->n - 1) % r->cap].id : NULL;
}
