#include "consumers/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/canonical.h"
#include "common/log.h"
#include "consumers/pg.h"

#define MIGRATION_LOCK "7234918273645001" /* advisory lock key of the migration runner */

static enum err_class apply_one(PGconn *pg, const struct migration *m, const char *checksum,
                                char *errstr, size_t n)
{
    enum err_class cls = pg_exec(pg, "BEGIN", errstr, n);
    if (cls) {
        return cls;
    }
    PGresult *res = PQexec(pg, m->sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char what[128];
        snprintf(what, sizeof(what), "migration %s", m->name);
        cls = pg_fail(pg, res, what, errstr, n);
    } else {
        PQclear(res);
        char version[16];
        snprintf(version, sizeof(version), "%d", m->version);
        const char *params[] = {version, m->name, checksum};
        res = PQexecParams(pg,
                           "INSERT INTO blotter.schema_migrations (version, name, checksum) "
                           "VALUES ($1, $2, $3)",
                           3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            cls = pg_fail(pg, res, "recording the migration", errstr, n);
        } else {
            PQclear(res);
        }
    }
    if (cls == ERR_OK) {
        return pg_exec(pg, "COMMIT", errstr, n);
    }
    char ignored[64];
    pg_exec(pg, "ROLLBACK", ignored, sizeof(ignored));
    return cls;
}

enum err_class migrate_apply(PGconn *pg, int *applied, char *errstr, size_t errstr_size)
{
    enum err_class cls;
    PGresult *res = NULL;
    int count = 0;

    if (applied) {
        *applied = 0;
    }
    /* "already exists, skipping" notices of idempotent DDL are noise in the service's log. */
    cls = pg_exec(pg, "SET client_min_messages = warning", errstr, errstr_size);
    if (cls == ERR_OK) {
        cls = pg_exec(pg, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", errstr, errstr_size);
    }
    if (cls) {
        return cls;
    }
    cls = pg_exec(pg,
                  "CREATE SCHEMA IF NOT EXISTS blotter;"
                  "CREATE TABLE IF NOT EXISTS blotter.schema_migrations ("
                  " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  errstr, errstr_size);
    if (cls) {
        goto unlock;
    }
    res = PQexec(pg, "SELECT version, checksum FROM blotter.schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cls = pg_fail(pg, res, "reading blotter.schema_migrations", errstr, errstr_size);
        res = NULL;
        goto unlock;
    }
    for (size_t i = 0; i < n_migrations; i++) {
        const struct migration *m = &migrations[i];
        char checksum[20];
        snprintf(checksum, sizeof(checksum), "%016llx",
                 (unsigned long long)avro_crc64(m->sql, strlen(m->sql)));
        const char *recorded = NULL;
        for (int r = 0; r < PQntuples(res); r++) {
            if (atoi(PQgetvalue(res, r, 0)) == m->version) {
                recorded = PQgetvalue(res, r, 1);
            }
        }
        if (recorded) {
            if (strcmp(recorded, checksum) != 0) {
                err_set(errstr, errstr_size,
                        "migration %s was edited after it was applied (checksum %s, recorded "
                        "%s); add a new migration instead",
                        m->name, checksum, recorded);
                cls = ERR_FATAL;
                goto unlock;
            }
            continue;
        }
        cls = apply_one(pg, m, checksum, errstr, errstr_size);
        if (cls) {
            goto unlock;
        }
        log_info("warehouse.migrated", "migration=%s", m->name);
        count++;
    }
unlock:
    PQclear(res);
    if (PQstatus(pg) == CONNECTION_OK) {
        char ignored[64];
        pg_exec(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", ignored, sizeof(ignored));
    }
    if (applied) {
        *applied = count;
    }
    return cls;
}
