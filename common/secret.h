/* Secrets from files (BLOTTER_<NAME>_FILE, BLOTTER_KAFKA_<PROPERTY>_FILE, Kubernetes secret
 * mounts): the one reader of every Blotter program. */
#ifndef BLOTTER_SECRET_H
#define BLOTTER_SECRET_H

#include <stddef.h>

/* The file's content without its trailing newlines (CR or LF), malloc'ed for the caller to
 * free; NULL with errstr when it cannot be read or is longer than 8 KiB. The value is not
 * logged here; callers register it with log_register_secret. */
char *secret_read_file(const char *path, char *errstr, size_t errstr_size);

#endif
