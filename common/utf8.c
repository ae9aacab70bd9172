#include "common/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t need;
    uint32_t cp, min;
    if (c < 0x80) {
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        need = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        need = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (avail < need) {
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return need;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, n - i);
        if (!k) {
            return false;
        }
        i += k;
    }
    return true;
}

bool utf8_valid_str(const char *s)
{
    return utf8_valid(s, strlen(s));
}

char *utf8_replace_invalid(const char *s, size_t len, const char *repl, size_t *out_len)
{
    size_t rl = strlen(repl), o = 0;
    size_t per = rl > 4 ? rl : 4; /* a valid sequence is copied as it is: at most 4 bytes */
    char *out = len <= (SIZE_MAX - 1) / per ? malloc(len * per + 1) : NULL;
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, len - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, repl, rl);
            o += rl;
            i++;
        }
    }
    out[o] = 0;
    if (out_len) {
        *out_len = o;
    }
    return out;
}

char *utf8_repair(const char *s)
{
    return utf8_replace_invalid(s, strlen(s), "\xef\xbf\xbd", NULL);
}
