#include "common/backoff.h"

#include <stddef.h>

#include "common/timeutil.h"

long backoff_delay_ms(long base_ms, long max_ms, int attempt, uint32_t r)
{
    long d = base_ms > 0 ? base_ms : 1;
    for (int i = 0; i < attempt && d < max_ms; i++) {
        d *= 2;
    }
    if (d > max_ms) {
        d = max_ms;
    }
    return d / 2 + (long)(r % (uint32_t)(d / 2 + 1));
}

static uint32_t next_random(struct backoff *b)
{
    uint64_t x = b->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rnd = x;
    return (uint32_t)(x >> 32);
}

void backoff_init(struct backoff *b, long base_ms, long max_ms)
{
    b->base_ms = base_ms;
    b->max_ms = max_ms < base_ms ? base_ms : max_ms;
    b->attempt = 0;
    b->rnd = ((uint64_t)now_us() ^ (uint64_t)(uintptr_t)b) | 1;
}

long backoff_next_ms(struct backoff *b, long hint_ms)
{
    long wait = hint_ms >= 0 ? hint_ms
                             : backoff_delay_ms(b->base_ms, b->max_ms, b->attempt, next_random(b));
    if (b->attempt < 62) {
        b->attempt++;
    }
    return wait;
}

void backoff_reset(struct backoff *b)
{
    b->attempt = 0;
}
