/* The dashboard's PostgreSQL connections for API queries: a small pool, connected lazily,
 * each session read-only (default_transaction_read_only), in UTC, with a statement_timeout. */
#ifndef BLOTTER_DASHBOARD_DB_H
#define BLOTTER_DASHBOARD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct db_pool;

struct db_pool *db_pool_new(const char *dsn, size_t size, long query_timeout_ms);
void db_pool_destroy(struct db_pool *pool);

/* A connection for one request, waiting up to wait_ms for a free one. NULL with errstr:
 * ERR_TRANSIENT in *cls (the warehouse is unreachable, or every connection stayed busy). */
PGconn *db_acquire(struct db_pool *pool, long wait_ms, enum err_class *cls, char *errstr,
                   size_t errstr_size);
/* Give it back; broken (after a transient error) closes it, to be reopened on next use. */
void db_release(struct db_pool *pool, PGconn *pg, bool broken);

/* Run a query with text parameters (NULL for SQL NULL). On failure: NULL result, the class in
 * *cls and the server's message in errstr; a transient failure means the connection is broken. */
PGresult *db_query(PGconn *pg, const char *sql, int nparams, const char *const *params,
                   enum err_class *cls, char *errstr, size_t errstr_size);

/* The last attempt to connect succeeded (readiness). */
bool db_pool_healthy(struct db_pool *pool);

#endif
