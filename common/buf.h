/* A growable byte buffer, the one of every Blotter program (COPY rows, generated pages, JSON log
 * lines, schema text, split rows). The text is always NUL-terminated. After an allocation
 * failure every later append is dropped and oom stays set, so a caller can build a whole text
 * and check once; each append also returns 0, or -1 once oom is set. */
#ifndef BLOTTER_BUF_H
#define BLOTTER_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *p; /* NULL until the first append */
    size_t len, cap;
    bool oom;
};

/* Room for extra more bytes (and the NUL). */
int buf_reserve(struct buf *b, size_t extra);
int buf_put(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s[0..n) as a JSON string literal: '"', '\\' and control characters escaped (\u00XX), every
 * other byte copied as it is. Valid UTF-8 stays valid JSON; what invalid bytes mean is the
 * caller's business (the writer checks its records first; the test server sends them on
 * purpose). Hand-written rather than jansson's because it runs once per value on the hottest
 * paths and must not refuse invalid UTF-8. */
int buf_put_json_string(struct buf *b, const char *s, size_t n);

/* A growable array of elements of elem_size bytes holding len of cap: the array with room for
 * at least one more (the capacity doubled, or `initial` the first time, and *cap updated), or
 * NULL on out of memory (then items and *cap are unchanged). */
void *array_grow(void *items, size_t *cap, size_t len, size_t elem_size, size_t initial);

/* Empty the buffer, keeping its memory; clears oom. */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
