#include "tests/server/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

struct entry {
    uint64_t index;
    uint32_t version;
    uint32_t log_pos;
    bool deleted;
    int64_t origin_ms, created_ms, updated_ms;
};

struct store_city {
    struct gen_city *g;
    uint64_t seed;
    pthread_rwlock_t lock;
    struct entry *entries;
    size_t n_entries, cap_entries;
    uint32_t *map; /* entry index + 1; 0 empty */
    size_t map_cap;
    uint32_t *log; /* entry indexes in :updated_at order */
    size_t n_log, cap_log;
    uint64_t new_rows, changes;
    int64_t last_ms, replace_ms;
    unsigned malformed_k;
};

static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

struct store_city *store_city_new(struct gen_city *g, uint64_t seed)
{
    struct store_city *s = calloc(1, sizeof(*s));
    if (!s) {
        gen_city_destroy(g);
        return NULL;
    }
    s->g = g;
    s->seed = seed;
    pthread_rwlock_init(&s->lock, NULL);
    s->last_ms = gen_base_last_ms(g);
    return s;
}

void store_city_destroy(struct store_city *s)
{
    if (!s) {
        return;
    }
    pthread_rwlock_destroy(&s->lock);
    gen_city_destroy(s->g);
    free(s->entries);
    free(s->map);
    free(s->log);
    free(s);
}

const struct gen_city *store_gen(const struct store_city *s)
{
    return s->g;
}

/* ---- Overlay map ---- */

static struct entry *find(const struct store_city *s, uint64_t index)
{
    if (!s->map_cap) {
        return NULL;
    }
    size_t mask = s->map_cap - 1;
    for (size_t h = mix64(index) & mask;; h = (h + 1) & mask) {
        uint32_t e = s->map[h];
        if (e == 0) {
            return NULL;
        }
        if (s->entries[e - 1].index == index) {
            return &s->entries[e - 1];
        }
    }
}

static void map_insert(uint32_t *map, size_t cap, uint64_t index, uint32_t e)
{
    size_t mask = cap - 1;
    size_t h = mix64(index) & mask;
    while (map[h] != 0) {
        h = (h + 1) & mask;
    }
    map[h] = e + 1;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return p;
    }
    size_t n = *cap ? *cap * 2 : 1024;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc(p, n * size);
    if (!q) {
        abort(); /* a test server out of memory: nothing sensible to do */
    }
    *cap = n;
    return q;
}

static struct entry *add_entry(struct store_city *s, uint64_t index)
{
    s->entries = grow(s->entries, &s->cap_entries, s->n_entries + 1, sizeof(struct entry));
    if ((s->n_entries + 1) * 2 > s->map_cap) {
        size_t cap = s->map_cap ? s->map_cap * 2 : 2048;
        uint32_t *map = calloc(cap, sizeof(uint32_t));
        if (!map) {
            abort();
        }
        for (size_t e = 0; e < s->n_entries; e++) {
            map_insert(map, cap, s->entries[e].index, (uint32_t)e);
        }
        free(s->map);
        s->map = map;
        s->map_cap = cap;
    }
    struct entry *e = &s->entries[s->n_entries];
    memset(e, 0, sizeof(*e));
    e->index = index;
    map_insert(s->map, s->map_cap, index, (uint32_t)s->n_entries);
    s->n_entries++;
    return e;
}

static void log_append(struct store_city *s, struct entry *e)
{
    s->log = grow(s->log, &s->cap_log, s->n_log + 1, sizeof(uint32_t));
    e->log_pos = (uint32_t)s->n_log;
    s->log[s->n_log++] = (uint32_t)(e - s->entries);
}

static int64_t stamp(struct store_city *s, int64_t now_ms)
{
    int64_t t = now_ms > s->last_ms ? now_ms : s->last_ms + 1;
    s->last_ms = t;
    return t;
}

/* ---- Changes ---- */

void store_append(struct store_city *s, uint64_t n, int64_t now_ms)
{
    pthread_rwlock_wrlock(&s->lock);
    for (uint64_t j = 0; j < n; j++) {
        int64_t t = stamp(s, now_ms);
        struct entry *e = add_entry(s, gen_rows(s->g) + s->new_rows);
        s->new_rows++;
        s->changes++;
        e->origin_ms = e->created_ms = e->updated_ms = t;
        log_append(s, e);
    }
    pthread_rwlock_unlock(&s->lock);
}

void store_update(struct store_city *s, uint64_t n, int64_t now_ms)
{
    pthread_rwlock_wrlock(&s->lock);
    uint64_t total = gen_rows(s->g) + s->new_rows;
    for (uint64_t j = 0; j < n && total > 0; j++) {
        uint64_t index = mix64(s->seed * 31 + s->changes * 0x9e37 + 5) % total;
        s->changes++;
        int64_t t = stamp(s, now_ms);
        struct entry *e = find(s, index);
        if (!e) {
            struct gen_meta m;
            gen_base_meta(s->g, index, &m);
            e = add_entry(s, index);
            e->origin_ms = m.origin_ms;
            e->created_ms = m.created_ms;
        }
        if (e->deleted) {
            continue; /* a deleted row stays deleted */
        }
        e->version++;
        e->updated_ms = t;
        log_append(s, e); /* the old slot (if any) is now dead */
    }
    pthread_rwlock_unlock(&s->lock);
}

static void entry_meta(const struct entry *e, struct gen_meta *m);

void store_delete(struct store_city *s, uint64_t n, int64_t now_ms)
{
    pthread_rwlock_wrlock(&s->lock);
    uint64_t total = gen_rows(s->g) + s->new_rows;
    for (uint64_t j = 0; j < n && total > 0; j++) {
        uint64_t index = mix64(s->seed * 31 + s->changes * 0x9e37 + 5) % total;
        s->changes++;
        int64_t t = stamp(s, now_ms);
        struct entry *e = find(s, index);
        if (!e) {
            struct gen_meta m;
            gen_base_meta(s->g, index, &m);
            e = add_entry(s, index);
            e->origin_ms = m.origin_ms;
            e->created_ms = m.created_ms;
        }
        e->deleted = true;
        e->updated_ms = t;
        log_append(s, e);
    }
    pthread_rwlock_unlock(&s->lock);
}

void store_each(struct store_city *s, store_row_fn fn, void *ctx)
{
    pthread_rwlock_rdlock(&s->lock);
    const struct gen_city *g = s->g;
    uint64_t rows = gen_rows(g), total = rows + s->new_rows;
    struct gen_cursor cur;
    struct gen_meta m;
    gen_cursor_init(g, 0, &cur);
    int stop = 0;
    for (uint64_t i = 0; i < total && !stop; i++) {
        const struct entry *e = find(s, i);
        if (e) {
            if (!e->deleted) {
                entry_meta(e, &m);
                stop = fn(ctx, &m, s->malformed_k);
            }
        } else if (i < rows) {
            gen_base_meta_at(g, i, gen_cursor_ms(g, &cur), &m);
            stop = fn(ctx, &m, s->malformed_k);
        }
        if (i < rows) {
            gen_cursor_next(g, &cur);
        }
    }
    pthread_rwlock_unlock(&s->lock);
}

/* qsort has no context argument: the entries being sorted, under sort_lock. */
static const struct entry *sort_entries;
static int cmp_entry_index(const void *a, const void *b)
{
    uint64_t x = sort_entries[*(const uint32_t *)a].index;
    uint64_t y = sort_entries[*(const uint32_t *)b].index;
    return x < y ? -1 : x > y;
}

void store_replace(struct store_city *s, int64_t now_ms)
{
    pthread_rwlock_wrlock(&s->lock);
    int64_t t = stamp(s, now_ms);
    s->replace_ms = t;
    s->n_log = 0;
    for (size_t e = 0; e < s->n_entries; e++) {
        s->entries[e].updated_ms = t;
        s->log = grow(s->log, &s->cap_log, s->n_log + 1, sizeof(uint32_t));
        s->log[s->n_log++] = (uint32_t)e;
    }
    /* Equal :updated_at: the log is ordered by :id. The write lock serialises this. */
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&sort_lock);
    sort_entries = s->entries;
    qsort(s->log, s->n_log, sizeof(uint32_t), cmp_entry_index);
    pthread_mutex_unlock(&sort_lock);
    for (size_t j = 0; j < s->n_log; j++) {
        s->entries[s->log[j]].log_pos = (uint32_t)j;
    }
    pthread_rwlock_unlock(&s->lock);
}

void store_set_malformed(struct store_city *s, unsigned k)
{
    pthread_rwlock_wrlock(&s->lock);
    s->malformed_k = k;
    pthread_rwlock_unlock(&s->lock);
}

void store_stats(struct store_city *s, struct store_stats *st)
{
    pthread_rwlock_rdlock(&s->lock);
    st->rows = gen_rows(s->g);
    st->new_rows = s->new_rows;
    st->overlay = s->n_entries;
    st->log_slots = s->n_log;
    st->last_change_ms = s->n_log ? s->last_ms : 0;
    st->replace_ms = s->replace_ms;
    st->last_modified_ms = s->last_ms;
    st->malformed_k = s->malformed_k;
    pthread_rwlock_unlock(&s->lock);
}

/* ---- Queries ---- */

bool store_order_of(const struct soql_query *q, enum store_order *order)
{
    for (size_t j = 0; j < q->n_order; j++) {
        if (q->order[j].desc) {
            return false;
        }
    }
    if (q->n_order == 0 || (q->n_order == 1 && q->order[0].col == GEN_COL_ID)) {
        *order = STORE_ORDER_ID;
        return true;
    }
    if (q->order[0].col == GEN_COL_UPDATED &&
        (q->n_order == 1 || (q->n_order == 2 && q->order[1].col == GEN_COL_ID))) {
        *order = STORE_ORDER_UPDATED;
        return true;
    }
    return false;
}

struct walk {
    struct store_city *s;
    const struct soql_query *q;
    struct gen_row row;
    struct buf *out;
    size_t flush_bytes;
    store_flush_fn flush;
    void *ctx;
    long skipped;
    struct store_result *res;
    bool done;
};

/* Offer one row to the query; sets w->done when the limit is reached. */
static void offer(struct walk *w, const struct gen_meta *m)
{
    const struct soql_query *q = w->q;
    const struct gen_city *g = w->s->g;
    bool counting = q->select == SOQL_SELECT_COUNT;
    bool generated = false;
    if (q->where) {
        gen_row_make(g, m, w->s->malformed_k, &w->row);
        generated = true;
        w->res->considered++;
        struct gen_row_ctx rc = {g, &w->row};
        if (soql_eval(q->where, gen_value, &rc) != 1) {
            return;
        }
    }
    if (counting) {
        w->res->rows++;
        return;
    }
    if (w->skipped < q->offset) {
        w->skipped++;
        return;
    }
    if (w->res->rows >= (uint64_t)q->limit) {
        w->done = true;
        return;
    }
    if (!generated) {
        gen_row_make(g, m, w->s->malformed_k, &w->row);
        w->res->considered++;
    }
    if (w->res->rows > 0) {
        buf_put(w->out, "\n,", 2);
    }
    if (q->select == SOQL_SELECT_LIST) {
        gen_row_json(g, &w->row, false, q->columns, q->n_columns, w->out);
    } else {
        gen_row_json(g, &w->row, q->select_system, NULL, 0, w->out);
    }
    w->res->rows++;
    if (w->res->rows >= (uint64_t)q->limit) {
        w->done = true;
    }
    if (w->flush && w->out->len >= w->flush_bytes) {
        w->flush(w->ctx, w->out);
    }
}

static void entry_meta(const struct entry *e, struct gen_meta *m)
{
    m->index = e->index;
    m->version = e->version;
    m->origin_ms = e->origin_ms;
    m->created_ms = e->created_ms;
    m->updated_ms = e->updated_ms;
}

static int64_t literal_ms(const char *lit)
{
    int64_t us = iso8601_to_us(lit);
    return us == TS_NULL ? INT64_MIN : us / 1000;
}

static void walk_by_updated(struct walk *w, int64_t hide_after_ms)
{
    struct store_city *s = w->s;
    const struct gen_city *g = s->g;
    uint64_t rows = gen_rows(g);
    uint64_t a = 0;
    size_t b = 0;
    const char *lit;
    bool strict;
    if (w->q->where && soql_lower_bound(w->q->where, GEN_COL_UPDATED, &lit, &strict)) {
        int64_t lo = literal_ms(lit);
        if (lo != INT64_MIN) {
            a = s->replace_ms ? (s->replace_ms >= lo ? 0 : rows) : gen_base_lower_bound(g, lo);
            size_t l = 0, h = s->n_log;
            while (l < h) {
                size_t mid = l + (h - l) / 2;
                if (s->entries[s->log[mid]].updated_ms < lo) {
                    l = mid + 1;
                } else {
                    h = mid;
                }
            }
            b = l;
        }
    }
    struct gen_cursor cur;
    gen_cursor_init(g, a, &cur);
    struct gen_meta m;
    while (!w->done) {
        /* next visible base row */
        while (cur.i < rows && find(s, cur.i)) {
            gen_cursor_next(g, &cur);
        }
        /* next live, visible log entry */
        const struct entry *e = NULL;
        while (b < s->n_log) {
            e = &s->entries[s->log[b]];
            if (e->log_pos == b && e->updated_ms <= hide_after_ms && !e->deleted) {
                break;
            }
            e = NULL;
            b++;
        }
        if (cur.i >= rows && !e) {
            break;
        }
        int64_t base_ms = 0;
        if (cur.i < rows) {
            base_ms = s->replace_ms ? s->replace_ms : gen_cursor_ms(g, &cur);
        }
        bool take_base = cur.i < rows && (!e || base_ms < e->updated_ms ||
                                          (base_ms == e->updated_ms && cur.i < e->index));
        if (take_base) {
            gen_base_meta_at(g, cur.i, gen_cursor_ms(g, &cur), &m);
            m.updated_ms = base_ms;
            offer(w, &m);
            gen_cursor_next(g, &cur);
        } else {
            entry_meta(e, &m);
            offer(w, &m);
            b++;
        }
    }
}

static void walk_by_id(struct walk *w, int64_t hide_after_ms)
{
    struct store_city *s = w->s;
    const struct gen_city *g = s->g;
    uint64_t rows = gen_rows(g), total = rows + s->new_rows;
    uint64_t start = 0;
    const char *lit;
    bool strict;
    if (w->q->where && soql_lower_bound(w->q->where, GEN_COL_ID, &lit, &strict)) {
        uint64_t idx;
        if (gen_parse_id(lit, &idx)) {
            start = idx;
        }
    }
    struct gen_cursor cur;
    gen_cursor_init(g, start < rows ? start : rows, &cur);
    struct gen_meta m;
    for (uint64_t i = start; i < total && !w->done; i++) {
        const struct entry *e = find(s, i);
        if (e) {
            if (e->updated_ms <= hide_after_ms && !e->deleted) {
                entry_meta(e, &m);
                offer(w, &m);
            }
        } else if (i < rows) {
            gen_base_meta_at(g, i, gen_cursor_ms(g, &cur), &m);
            if (s->replace_ms) {
                m.updated_ms = s->replace_ms;
            }
            offer(w, &m);
        }
        if (i < rows) {
            gen_cursor_next(g, &cur);
        }
    }
}

void store_query(struct store_city *s, const struct soql_query *q, enum store_order order,
                 int64_t hide_after_ms, struct buf *out, size_t flush_bytes, store_flush_fn flush,
                 void *ctx, struct store_result *res)
{
    memset(res, 0, sizeof(*res));
    pthread_rwlock_rdlock(&s->lock);
    struct walk w = {.s = s,
                     .q = q,
                     .out = out,
                     .flush_bytes = flush_bytes,
                     .flush = flush,
                     .ctx = ctx,
                     .res = res};
    if (q->select == SOQL_SELECT_COUNT && !q->where && hide_after_ms == INT64_MAX) {
        res->rows = gen_rows(s->g) + s->new_rows;
    } else {
        buf_put(out, "[", 1);
        if (order == STORE_ORDER_UPDATED) {
            walk_by_updated(&w, hide_after_ms);
        } else {
            walk_by_id(&w, hide_after_ms);
        }
        out->len = q->select == SOQL_SELECT_COUNT ? out->len - 1 : out->len;
    }
    pthread_rwlock_unlock(&s->lock);
    if (q->select == SOQL_SELECT_COUNT) {
        char buf[64];
        snprintf(buf, sizeof(buf), "[{\"count\":\"%" PRIu64 "\"}]\n", res->rows);
        buf_puts(out, buf);
    } else {
        buf_put(out, "]\n", 2);
    }
    gen_row_free(&w.row);
}
