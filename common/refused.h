/* Connections that fail for who we are or how we came, not because a server is down: a wrong
 * password, a certificate that does not verify, plaintext where TLS is required (refused), or a
 * setting the client library cannot use, such as a CA file that does not exist (misconfigured).
 * Neither is worth retrying: the programs exit before any data moves, 1 when refused, 2 when
 * misconfigured (the README's exit codes). A server merely down or slow stays a transient error,
 * retried with backoff. Recognised by the messages of libpq 15 / PostgreSQL 15 (English),
 * librdkafka 2.0 and Redis 7: those libraries give no error code for most of these. */
#ifndef BLOTTER_REFUSED_H
#define BLOTTER_REFUSED_H

#include <libpq-fe.h>
#include <stdbool.h>

enum conn_verdict { CONN_TRANSIENT = 0, CONN_REFUSED = 1, CONN_MISCONFIGURED = 2 };

/* What a connection error message says; the values are the exit codes. */
enum conn_verdict conn_verdict_of(const char *msg);

/* Whether the failed libpq connection was refused or misconfigured rather than unreachable. */
bool pg_conn_refused(const PGconn *pg);

/* The exit code for a connection that failed fatally with msg: 2 when misconfigured, else 1. */
int conn_exit_code(const char *msg);

#endif
