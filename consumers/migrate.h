/* Warehouse migrations: schemas/warehouse/NNN_name.sql, compiled into the binary, applied in
 * order under a PostgreSQL advisory lock (concurrent starts are safe), each in its own
 * transaction, recorded in blotter.schema_migrations with a checksum. */
#ifndef BLOTTER_MIGRATE_H
#define BLOTTER_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/err.h"

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const size_t n_migrations;

/* Apply what is missing. *applied (may be NULL) gets how many were applied now. A migration
 * recorded with another checksum (its file was edited after it ran) is ERR_FATAL. */
enum err_class migrate_apply(PGconn *pg, int *applied, char *errstr, size_t errstr_size);

#endif
