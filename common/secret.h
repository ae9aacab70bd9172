/* Secrets from files (BLOTTER_<NAME>_FILE, BLOTTER_KAFKA_<PROPERTY>_FILE, Kubernetes secret
 * mounts): the one reader of every Blotter program. */
#ifndef BLOTTER_SECRET_H
#define BLOTTER_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* The file's content without its trailing newlines (CR or LF), malloc'ed for the caller to
 * free; NULL with errstr when it cannot be read or is longer than 8 KiB. The value is not
 * logged here; callers register it with log_register_secret. */
char *secret_read_file(const char *path, char *errstr, size_t errstr_size);

/* Mask a secret in every log line from now on (log_register_secret), in every form a line may
 * hold it: as it is, percent-decoded, percent-encoded, each also with the escapes of a quoted
 * logfmt or JSON value; and when it is a URL or a libpq conninfo, the same for the password and
 * every credential-named parameter in it (password, token, secret, key, auth, sig), which a
 * library's message may quote alone (libpq: invalid percent-encoded token: "..."). */
void secret_register(const char *value);
/* Only the credentials inside value (a URL's password and credential parameters, a conninfo's
 * password), for settings that are not secrets themselves (source_base_url). */
void secret_register_credentials(const char *value);
/* Overwrite the password of a URL in place with '*' (a process title); false when none. */
bool secret_url_mask_in_place(char *value);

#endif
