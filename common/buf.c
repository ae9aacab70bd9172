#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b, size_t extra)
{
    if (b->oom) {
        return -1;
    }
    if (b->len + extra + 1 <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int buf_put(struct buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) != 0) {
        return -1;
    }
    if (n) {
        memcpy(b->p + b->len, data, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_put(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
    return buf_put(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[128];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n < sizeof(small)) {
        return buf_put(b, small, (size_t)n);
    }
    if (buf_reserve(b, (size_t)n) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_put_json_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, n + 2) != 0) {
        return -1;
    }
    b->p[b->len++] = '"';
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        char esc[6] = {'\\', (char)c};
        size_t esc_len = 2;
        if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
        }
        if (buf_put(b, s + start, i - start) != 0 || buf_put(b, esc, esc_len) != 0) {
            return -1;
        }
        start = i + 1;
    }
    if (buf_put(b, s + start, n - start) != 0) {
        return -1;
    }
    return buf_putc(b, '"');
}

void *array_grow(void *items, size_t *cap, size_t len, size_t elem_size, size_t initial)
{
    if (len < *cap) {
        return items;
    }
    size_t want = *cap ? *cap * 2 : initial;
    if (want <= len) {
        want = len + 1;
    }
    void *p = realloc(items, want * elem_size);
    if (p) {
        *cap = want;
    }
    return p;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p) {
        b->p[0] = '\0';
    }
}

void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
