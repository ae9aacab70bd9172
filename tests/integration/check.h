/* CHECK(cond, fmt, ...) for the C integration tests: report a failed expectation with its place
 * and go on; the test's main returns non-zero when `failures` is not 0. */
#ifndef BLOTTER_IT_CHECK_H
#define BLOTTER_IT_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#endif
