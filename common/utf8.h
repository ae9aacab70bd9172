/* UTF-8 validity, the one check of every Blotter program (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Pure. */
#ifndef BLOTTER_UTF8_H
#define BLOTTER_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence starting at s (avail bytes readable), or 0 when
 * the bytes there are not one. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

/* Whether s[0..n) is valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

/* The same for a NUL-terminated string. */
bool utf8_valid_str(const char *s);

/* A copy (malloc'ed, NUL-terminated; its length in *out_len when not NULL) of the len bytes of s
 * with each byte that is not part of valid UTF-8 replaced by repl; NULL when out of memory. */
char *utf8_replace_invalid(const char *s, size_t len, const char *repl, size_t *out_len);

/* A malloc'ed copy of s with each byte that is not part of valid UTF-8 replaced by U+FFFD
 * (NULL on out of memory). */
char *utf8_repair(const char *s);

#endif
