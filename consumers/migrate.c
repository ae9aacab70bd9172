#include "consumers/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/canonical.h"
#include "common/log.h"

#define MIGRATION_LOCK "7234918273645001" /* advisory lock key of the migration runner */

enum err_class pg_err_class(PGconn *pg, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        return ERR_TRANSIENT;
    }
    if (!state) {
        return ERR_TRANSIENT; /* no SQLSTATE: the connection failed under us */
    }
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
        strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0) {
        return ERR_TRANSIENT;
    }
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
        return ERR_PERMANENT;
    }
    return ERR_FATAL;
}

/* Run a statement with no parameters that returns nothing of interest. */
static enum err_class exec(PGconn *pg, const char *sql, char *errstr, size_t n)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    enum err_class cls = ERR_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        err_set(errstr, n, "%s", PQerrorMessage(pg));
        cls = pg_err_class(pg, res);
    }
    PQclear(res);
    return cls;
}

static enum err_class apply_one(PGconn *pg, const struct migration *m, const char *checksum,
                                char *errstr, size_t n)
{
    enum err_class cls = exec(pg, "BEGIN", errstr, n);
    if (cls) {
        return cls;
    }
    cls = exec(pg, m->sql, errstr, n);
    if (cls == ERR_OK) {
        char version[16];
        snprintf(version, sizeof(version), "%d", m->version);
        const char *params[] = {version, m->name, checksum};
        PGresult *res = PQexecParams(pg,
                                     "INSERT INTO blotter.schema_migrations (version, name, "
                                     "checksum) VALUES ($1, $2, $3)",
                                     3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            err_set(errstr, n, "%s", PQerrorMessage(pg));
            cls = pg_err_class(pg, res);
        }
        PQclear(res);
    } else {
        char why[512];
        snprintf(why, sizeof(why), "%s", errstr);
        err_set(errstr, n, "migration %s: %s", m->name, why);
    }
    if (cls == ERR_OK) {
        return exec(pg, "COMMIT", errstr, n);
    }
    char ignored[64];
    exec(pg, "ROLLBACK", ignored, sizeof(ignored));
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
    cls = exec(pg, "SET client_min_messages = warning", errstr, errstr_size);
    if (cls == ERR_OK) {
        cls = exec(pg, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", errstr, errstr_size);
    }
    if (cls) {
        return cls;
    }
    cls = exec(pg,
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
        err_set(errstr, errstr_size, "%s", PQerrorMessage(pg));
        cls = pg_err_class(pg, res);
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
        exec(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", ignored, sizeof(ignored));
    }
    if (applied) {
        *applied = count;
    }
    return cls;
}
