/* Page arenas for jansson. See jarena.h. */
#define _GNU_SOURCE
#include "producers/jarena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define BLOCK_BYTES  ((uintptr_t)1 << 20)
#define RANGE_BLOCKS 1024u             /* 1 GiB of address space */
#define BIG_BYTES    (BLOCK_BYTES / 8) /* larger requests come from malloc */
#define WARM_BLOCKS  16u               /* returned blocks kept in memory for the next pages */

/* At the start of every block. */
struct block {
    struct jarena *arena;
    struct block *next; /* the arena's blocks */
};

struct jarena {
    atomic_size_t live; /* values not yet freed, plus one while the caller holds it */
    struct block *blocks;
    char *cur, *end;
};

static struct {
    char *base; /* RANGE_BLOCKS blocks, BLOCK_BYTES-aligned; NULL: not installed */
    pthread_mutex_t lock;
    unsigned fresh;                   /* blocks never used: fresh .. RANGE_BLOCKS - 1 */
    unsigned free_n;                  /* returned blocks, reused first */
    unsigned free_list[RANGE_BLOCKS]; /* their indexes */
    atomic_size_t live, total;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct jarena *current;

static struct block *block_take(void)
{
    struct block *b = NULL;
    pthread_mutex_lock(&pool.lock);
    if (pool.free_n > 0) {
        b = (struct block *)(void *)(pool.base + pool.free_list[--pool.free_n] * BLOCK_BYTES);
    } else if (pool.fresh < RANGE_BLOCKS) {
        b = (struct block *)(void *)(pool.base + pool.fresh++ * BLOCK_BYTES);
    }
    pthread_mutex_unlock(&pool.lock);
    if (b) {
        atomic_fetch_add_explicit(&pool.live, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&pool.total, 1, memory_order_relaxed);
    }
    return b;
}

static void block_return(struct block *b)
{
    pthread_mutex_lock(&pool.lock);
    if (pool.free_n >= WARM_BLOCKS) {
        /* The memory goes back (the addresses stay ours); the warm ones spare the next pages
         * their page faults. */
        madvise(b, BLOCK_BYTES, MADV_DONTNEED);
    }
    pool.free_list[pool.free_n++] = (unsigned)(((char *)b - pool.base) / BLOCK_BYTES);
    pthread_mutex_unlock(&pool.lock);
    atomic_fetch_sub_explicit(&pool.live, 1, memory_order_relaxed);
}

static void arena_drop(struct jarena *a)
{
    if (atomic_fetch_sub_explicit(&a->live, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (struct block *b = a->blocks, *next; b; b = next) {
        next = b->next;
        block_return(b);
    }
    free(a);
}

static void *j_malloc(size_t n)
{
    struct jarena *a = current;
    if (!a || n > BIG_BYTES) {
        return malloc(n);
    }
    size_t need = (n + 15) & ~(size_t)15;
    if ((size_t)(a->end - a->cur) < need) {
        struct block *b = block_take();
        if (!b) {
            return malloc(n); /* the range is full */
        }
        b->arena = a;
        b->next = a->blocks;
        a->blocks = b;
        a->cur = (char *)b + 16;
        a->end = (char *)b + BLOCK_BYTES;
    }
    void *p = a->cur;
    a->cur += need;
    atomic_fetch_add_explicit(&a->live, 1, memory_order_relaxed);
    return p;
}

static void j_free(void *p)
{
    uintptr_t u = (uintptr_t)p, base = (uintptr_t)pool.base;
    if (base && u >= base && u < base + RANGE_BLOCKS * BLOCK_BYTES) {
        arena_drop(((struct block *)(u & ~(BLOCK_BYTES - 1)))->arena);
    } else {
        free(p);
    }
}

void jarena_install(void)
{
    if (pool.base) {
        return;
    }
    /* Reserve twice the range and keep its BLOCK_BYTES-aligned middle. */
    size_t len = (RANGE_BLOCKS + 1) * BLOCK_BYTES;
    char *r =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) {
        return; /* jansson keeps malloc */
    }
    uintptr_t start = ((uintptr_t)r + BLOCK_BYTES - 1) & ~(BLOCK_BYTES - 1);
    size_t head = start - (uintptr_t)r;
    if (head) {
        munmap(r, head);
    }
    munmap((char *)start + RANGE_BLOCKS * BLOCK_BYTES, BLOCK_BYTES - head);
    pool.base = (char *)start;
    json_set_alloc_funcs(j_malloc, j_free);
}

struct jarena *jarena_new(void)
{
    struct jarena *a = pool.base ? calloc(1, sizeof(*a)) : NULL;
    if (a) {
        atomic_init(&a->live, 1);
    }
    return a;
}

void jarena_enter(struct jarena *a)
{
    current = a;
}

void jarena_leave(void)
{
    current = NULL;
}

void jarena_release(struct jarena *a)
{
    if (a) {
        arena_drop(a);
    }
}

size_t jarena_blocks_live(void)
{
    return atomic_load_explicit(&pool.live, memory_order_relaxed);
}

size_t jarena_blocks_total(void)
{
    return atomic_load_explicit(&pool.total, memory_order_relaxed);
}
