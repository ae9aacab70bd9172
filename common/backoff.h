/* The retry policy of every Blotter loop that waits after a failure (a Socrata page, a pass, the
 * warehouse, dead letters, Redis reconnects): exponential backoff with jitter.
 *
 *   attempt k (0, 1, 2, ...) waits d = min(base_ms * 2^k, max_ms), drawn uniformly from
 *   [d/2, d] ("equal jitter"), so that processes that failed together do not retry together
 *   and no wait is shorter than half the nominal one.
 *
 * A server's own hint (Retry-After) replaces the computed wait. */
#ifndef BLOTTER_BACKOFF_H
#define BLOTTER_BACKOFF_H

#include <stdint.h>

struct backoff {
    long base_ms, max_ms;
    int attempt;  /* failures so far */
    uint64_t rnd; /* xorshift state: thread-safe without a shared generator */
};

/* Pure: the wait of attempt for a random draw r (any 32-bit value). */
long backoff_delay_ms(long base_ms, long max_ms, int attempt, uint32_t r);

/* Start at attempt 0 (seeded from the clock and the struct's address). */
void backoff_init(struct backoff *b, long base_ms, long max_ms);
/* The wait before the next try (hint_ms >= 0: use that, the server said so), then count the
 * attempt. */
long backoff_next_ms(struct backoff *b, long hint_ms);
/* After a success: the next failure waits base_ms again. */
void backoff_reset(struct backoff *b);

#endif
