/* The snapshot of a republishing source. See snapshot.h. */
#include "producers/snapshot.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UNITS 4096
#define MASK48    0xffffffffffffULL

/* 16 bytes: id hash (48 bits) | unit (16 bits); fingerprint (48 bits) | walk (16 bits). An
 * empty slot is all zeroes (id hashes are never 0). */
struct slot {
    uint64_t id_unit;
    uint64_t fp_walk;
};

struct unit {
    char *name;
    uint16_t walk;    /* the current walk's number (1.., wrapping past 0) */
    uint64_t stamp_h; /* its stamp */
    bool begun;       /* the current walk began in this process */
};

struct snapshot {
    pthread_mutex_t lock;
    struct slot *slots;
    size_t cap, used;
    struct unit units[MAX_UNITS];
    size_t n_units;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a finaliser */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t id_hash(const char *id, size_t len)
{
    uint64_t h = hash_bytes(id, len) & MASK48;
    return h ? h : 1;
}

struct snapshot *snapshot_new(void)
{
    struct snapshot *s = calloc(1, sizeof(*s));
    if (s) {
        pthread_mutex_init(&s->lock, NULL);
    }
    return s;
}

void snapshot_destroy(struct snapshot *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n_units; i++) {
        free(s->units[i].name);
    }
    free(s->slots);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The unit's index (added when new); 0 when the table of units is full (unit 0 is shared). */
static uint16_t unit_of(struct snapshot *s, const char *name)
{
    if (!name) {
        name = "";
    }
    for (size_t i = 0; i < s->n_units; i++) {
        if (strcmp(s->units[i].name, name) == 0) {
            return (uint16_t)i;
        }
    }
    if (s->n_units == MAX_UNITS) {
        return 0;
    }
    char *copy = strdup(name);
    if (!copy) {
        return 0;
    }
    s->units[s->n_units] = (struct unit){.name = copy, .walk = 0};
    return (uint16_t)s->n_units++;
}

static struct slot *find(struct snapshot *s, uint64_t h)
{
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)(h * 0x9e3779b97f4a7c15ULL >> 20) & mask;; i = (i + 1) & mask) {
        struct slot *sl = &s->slots[i];
        if (!sl->id_unit || (sl->id_unit >> 16) == h) {
            return sl;
        }
    }
}

static int grow(struct snapshot *s)
{
    size_t cap = s->cap ? s->cap * 2 : 4096;
    struct slot *old = s->slots;
    size_t old_cap = s->cap;
    s->slots = calloc(cap, sizeof(*s->slots));
    if (!s->slots) {
        s->slots = old;
        return -1;
    }
    s->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].id_unit) {
            *find(s, old[i].id_unit >> 16) = old[i];
        }
    }
    free(old);
    return 0;
}

/* The slot of id (empty when absent), growing the table first; NULL on out of memory. */
static struct slot *slot_for(struct snapshot *s, uint64_t h)
{
    /* Linear probing up to 85% full: 16-byte slots, four to a cache line, keep probes short
     * enough while a large unit (a 500 MB year file) fits a table half the size of 75%'s. */
    if ((s->used + 1) * 20 > s->cap * 17 && grow(s) != 0) {
        return NULL;
    }
    return find(s, h);
}

enum snap_verdict snapshot_offer(struct snapshot *s, const char *unit, const char *stamp,
                                 const char *id, size_t id_len, uint64_t fp)
{
    uint64_t h = id_hash(id, id_len), fp48 = fp & MASK48;
    enum snap_verdict v = SNAP_NEW;
    pthread_mutex_lock(&s->lock);
    uint16_t u = unit_of(s, unit);
    struct unit *un = &s->units[u];
    uint64_t sh = stamp ? hash_bytes(stamp, strlen(stamp)) : 0;
    if (un->stamp_h != sh) { /* a walk this process did not see begin */
        un->stamp_h = sh;
        un->walk++;
        un->begun = false;
    }
    struct slot *sl = slot_for(s, h);
    if (sl) {
        if (sl->id_unit) {
            v = (sl->fp_walk >> 16) == fp48 ? SNAP_SAME : SNAP_CHANGED;
        } else {
            s->used++;
        }
        sl->id_unit = h << 16 | u;
        sl->fp_walk = fp48 << 16 | un->walk;
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}

void snapshot_load(struct snapshot *s, const char *unit, const char *id, size_t id_len, uint64_t fp)
{
    uint64_t h = id_hash(id, id_len);
    pthread_mutex_lock(&s->lock);
    uint16_t u = unit_of(s, unit);
    struct slot *sl = slot_for(s, h);
    if (sl) {
        s->used += !sl->id_unit;
        sl->id_unit = h << 16 | u;
        sl->fp_walk = (fp & MASK48) << 16 | s->units[u].walk;
    }
    pthread_mutex_unlock(&s->lock);
}

void snapshot_walk_begin(struct snapshot *s, const char *unit, const char *stamp)
{
    pthread_mutex_lock(&s->lock);
    struct unit *un = &s->units[unit_of(s, unit)];
    uint64_t sh = stamp ? hash_bytes(stamp, strlen(stamp)) : 0;
    if (un->stamp_h != sh) {
        un->stamp_h = sh;
        un->walk++;
    }
    un->begun = true;
    pthread_mutex_unlock(&s->lock);
}

long snapshot_walk_end(struct snapshot *s, const char *unit, const char *stamp)
{
    long gone = -1;
    pthread_mutex_lock(&s->lock);
    uint16_t u = unit_of(s, unit);
    struct unit *un = &s->units[u];
    uint64_t sh = stamp ? hash_bytes(stamp, strlen(stamp)) : 0;
    if (un->begun && un->stamp_h == sh) {
        gone = 0;
        /* Delete by re-inserting the table without the unit's stale entries. */
        struct slot *old = s->slots;
        size_t cap = s->cap;
        s->slots = calloc(cap ? cap : 1, sizeof(*s->slots));
        if (!s->slots) {
            s->slots = old;
            gone = -1;
        } else {
            s->used = 0;
            for (size_t i = 0; i < cap; i++) {
                const struct slot *sl = &old[i];
                if (!sl->id_unit) {
                    continue;
                }
                if ((sl->id_unit & 0xffff) == u && (sl->fp_walk & 0xffff) != un->walk) {
                    gone++;
                    continue;
                }
                *find(s, sl->id_unit >> 16) = *sl;
                s->used++;
            }
            free(old);
        }
    }
    un->begun = false;
    pthread_mutex_unlock(&s->lock);
    return gone;
}

void snapshot_forget(struct snapshot *s)
{
    pthread_mutex_lock(&s->lock);
    if (s->slots) {
        memset(s->slots, 0, s->cap * sizeof(*s->slots));
    }
    s->used = 0;
    for (size_t i = 0; i < s->n_units; i++) {
        s->units[i].begun = false;
    }
    pthread_mutex_unlock(&s->lock);
}

size_t snapshot_size(struct snapshot *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->used;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void snapshot_fp_hex(uint64_t fp, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[fp & 15];
        fp >>= 4;
    }
    out[16] = 0;
}

int snapshot_fp_parse(const char *hex, size_t len, uint64_t *fp)
{
    uint64_t v = 0;
    if (len != 16) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return -1;
        }
        v = v << 4 | (uint64_t)d;
    }
    *fp = v;
    return 0;
}
