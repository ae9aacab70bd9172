#include "consumers/pg.h"

#include <string.h>

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

enum err_class pg_fail(PGconn *pg, PGresult *res, const char *what, char *errstr,
                       size_t errstr_size)
{
    enum err_class cls = pg_err_class(pg, res);
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg) {
        msg = pg ? PQerrorMessage(pg) : "no connection";
    }
    err_set(errstr, errstr_size, "%s: %s", what, msg);
    size_t len = errstr ? strlen(errstr) : 0;
    while (len && (errstr[len - 1] == '\n' || errstr[len - 1] == ' ')) {
        errstr[--len] = '\0';
    }
    PQclear(res);
    return cls;
}

enum err_class pg_exec(PGconn *pg, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        return pg_fail(pg, res, sql, errstr, errstr_size);
    }
    PQclear(res);
    return ERR_OK;
}
