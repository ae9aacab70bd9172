/* The consumer's PostgreSQL plumbing, shared by the writer (warehouse.c) and the migrations
 * (migrate.c): running a statement, and the one classification of what went wrong. */
#ifndef BLOTTER_PG_H
#define BLOTTER_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/err.h"

/* Classify a failed libpq result or connection: SQLSTATE class 08 (connection), 40 (rollback,
 * deadlock), 53 (resources), 57 (operator intervention), a lost connection and a missing
 * SQLSTATE are transient; 22 (data) and 23 (integrity) permanent; the rest fatal. */
enum err_class pg_err_class(PGconn *pg, const PGresult *res);

/* A failed result (res may be NULL): errstr gets "what: <libpq's message>" without its trailing
 * newline, res is cleared, and the class is returned. */
enum err_class pg_fail(PGconn *pg, PGresult *res, const char *what, char *errstr,
                       size_t errstr_size);

/* Run a statement without parameters whose rows are not needed. ERR_OK, or pg_fail's class
 * with what = the statement. */
enum err_class pg_exec(PGconn *pg, const char *sql, char *errstr, size_t errstr_size);

#endif
