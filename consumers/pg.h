/* The consumer's PostgreSQL plumbing, shared by the writer (warehouse.c) and the migrations
 * (migrate.c): running a statement, and the one classification of what went wrong. */
#ifndef BLOTTER_PG_H
#define BLOTTER_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/err.h"

/* Classify a failed libpq result or connection: SQLSTATE class 08 (connection), 40 (rollback,
 * deadlock), 53 (resources), 57 (operator intervention), 58 (system), a lost connection and a
 * missing SQLSTATE are transient; the classes that say the program or its setup is wrong (0A,
 * 25, 28, 2D, 3D, 3F, 42, 55, F0, HV, XX) fatal; every other class (22 data, 23 integrity,
 * 54 program limit such as "index row too large", P0 raised by
 * a function, ...) permanent: the record is refused. */
enum err_class pg_err_class(PGconn *pg, const PGresult *res);
/* The same for a SQLSTATE alone (NULL: none). */
enum err_class pg_sqlstate_class(const char *state);

/* A failed result (res may be NULL): errstr gets "what: <libpq's message>" without its trailing
 * newline, res is cleared, and the class is returned. */
enum err_class pg_fail(PGconn *pg, PGresult *res, const char *what, char *errstr,
                       size_t errstr_size);

/* Run a statement without parameters whose rows are not needed. ERR_OK, or pg_fail's class
 * with what = the statement. */
enum err_class pg_exec(PGconn *pg, const char *sql, char *errstr, size_t errstr_size);

#endif
