/* Error classes: assigned once at each library boundary, acted on by the loop that decides.
 *   ERR_TRANSIENT  retry with backoff (timeouts, 429, 5xx, lost connections, SQLSTATE 08/40)
 *   ERR_PERMANENT  this record can never succeed: dead-letter it and go on
 *   ERR_FATAL      configuration or unrecoverable client state: exit non-zero */
#ifndef BLOTTER_ERR_H
#define BLOTTER_ERR_H

#include <stddef.h>

enum err_class { ERR_OK = 0, ERR_TRANSIENT, ERR_PERMANENT, ERR_FATAL };

const char *err_class_name(enum err_class cls);

/* Fill a caller-owned error buffer, printf style. Always NUL-terminates; NULL errstr is allowed. */
void err_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
