/* Pages in flight and the acknowledged position. See ledger.h. */
#include "producers/ledger.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct page {
    struct page *next;
    struct keyset end;         /* the last row's position (under the ledger's lock) */
    atomic_size_t outstanding; /* rows handed on without a final report yet */
    size_t rows;
    bool complete;      /* the whole page arrived and may advance the checkpoint */
    bool has_state;     /* the kind set its position state (ledger_page_state) */
    atomic_bool failed; /* a message of it could not be produced or delivered */
};

struct ledger {
    struct page *head, *tail; /* in fetch order (main thread) */
    struct page *current;     /* the page being fetched */
    struct checkpoint_value acked;
    bool dirty;
    atomic_bool rewind;
    pthread_mutex_t lock; /* pages' end positions */
};

struct ledger *ledger_new(const struct checkpoint_value *start)
{
    struct ledger *l = calloc(1, sizeof(*l));
    if (!l) {
        return NULL;
    }
    if (start) {
        l->acked = *start;
    }
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void ledger_destroy(struct ledger *l)
{
    if (!l) {
        return;
    }
    while (l->head) {
        struct page *next = l->head->next;
        free(l->head);
        l->head = next;
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void ledger_resume(struct ledger *l, const struct checkpoint_value *v)
{
    l->acked = *v;
    l->dirty = false;
}

struct page *ledger_page_begin(struct ledger *l, const struct keyset *from)
{
    struct page *pg = calloc(1, sizeof(*pg));
    if (!pg) {
        return NULL;
    }
    pg->end = *from;
    if (l->tail) {
        l->tail->next = pg;
    } else {
        l->head = pg;
    }
    l->tail = pg;
    l->current = pg;
    return pg;
}

void ledger_row_out(struct page *pg)
{
    pg->rows++;
    atomic_fetch_add(&pg->outstanding, 1);
}

void ledger_page_end(struct ledger *l, struct page *pg, bool complete)
{
    pg->complete = complete;
    if (l->current == pg) {
        l->current = NULL;
    }
}

void ledger_page_state(struct ledger *l, struct page *pg, const char *state)
{
    pthread_mutex_lock(&l->lock);
    snprintf(pg->end.state, sizeof(pg->end.state), "%s", state);
    pg->has_state = true;
    pthread_mutex_unlock(&l->lock);
}

struct keyset ledger_page_position(struct ledger *l, const struct page *pg)
{
    pthread_mutex_lock(&l->lock);
    struct keyset ks = pg->end;
    pthread_mutex_unlock(&l->lock);
    return ks;
}

void ledger_page_advance(struct ledger *l, struct page *pg,
                         void (*advance)(struct keyset *pos, const json_t *row), const json_t *row)
{
    pthread_mutex_lock(&l->lock);
    advance(&pg->end, row);
    pthread_mutex_unlock(&l->lock);
}

void ledger_row_done(struct ledger *l, struct page *pg, bool delivered)
{
    if (!delivered) {
        pg->failed = true;
        l->rewind = true;
    }
    atomic_fetch_sub(&pg->outstanding, 1); /* the last touch of pg */
}

bool ledger_advance(struct ledger *l)
{
    bool moved = false;
    struct page **link = &l->head;
    while (*link) {
        struct page *pg = *link;
        if (pg == l->current) {
            break;
        }
        if (!pg->complete) { /* abandoned: freed once its messages are reported */
            if (pg->outstanding > 0) {
                break;
            }
            *link = pg->next;
            free(pg);
            continue;
        }
        if (pg->outstanding > 0 || pg->failed) {
            break;
        }
        if (pg->rows > 0 || pg->has_state) {
            if (pg->end.set || pg->has_state) {
                l->acked.ks = pg->end;
            }
            l->acked.rows += pg->rows;
            moved = l->dirty = true;
        }
        *link = pg->next;
        free(pg);
    }
    l->tail = NULL;
    for (struct page *pg = l->head; pg; pg = pg->next) {
        l->tail = pg;
    }
    return moved;
}

const struct checkpoint_value *ledger_acked(const struct ledger *l)
{
    return &l->acked;
}

bool ledger_dirty(const struct ledger *l)
{
    return l->dirty;
}

void ledger_saved(struct ledger *l, int64_t saved_at_us)
{
    l->acked.saved_at = saved_at_us;
    l->dirty = false;
}

bool ledger_busy(const struct ledger *l)
{
    return l->head != NULL;
}

void ledger_new_pass(struct ledger *l)
{
    for (struct page *pg = l->head; pg; pg = pg->next) {
        pg->complete = false;
    }
    l->rewind = false;
}

bool ledger_rewound(const struct ledger *l)
{
    return l->rewind;
}
