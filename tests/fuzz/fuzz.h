/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c, built by `make fuzz`): the entry points
 * libFuzzer calls, and small helpers. */
#ifndef BLOTTER_FUZZ_H
#define BLOTTER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of the input (malloc'ed; the fuzzer's own buffer has no terminator). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* The input cut at its first `sep` byte into the part before (*a, *alen) and after it. */
static inline void fuzz_split(const uint8_t *data, size_t size, uint8_t sep, const uint8_t **b,
                              size_t *blen, size_t *alen)
{
    const uint8_t *cut = memchr(data, sep, size);
    *alen = cut ? (size_t)(cut - data) : size;
    *b = cut ? cut + 1 : data + size;
    *blen = cut ? size - *alen - 1 : 0;
}

#endif
