#include "consumers/pg.h"

#include <string.h>

enum err_class pg_sqlstate_class(const char *state)
{
    if (!state || strlen(state) < 2) {
        return ERR_TRANSIENT; /* no SQLSTATE: the connection failed under us */
    }
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
        strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
        strncmp(state, "58", 2) == 0) {
        return ERR_TRANSIENT;
    }
    /* What says the program or its setup is wrong (authorization, a missing catalog, schema,
     * table or function, a syntax error, an unsupported feature, a broken transaction, an
     * internal error) is fatal: every record would fail the same way. */
    static const char *const fatal[] = {"0A", "25", "28", "2D", "3D", "3F",
                                        "42", "55", "F0", "HV", "XX"};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        if (strncmp(state, fatal[i], 2) == 0) {
            return ERR_FATAL;
        }
    }
    /* Anything else is about the data (22 data, 23 integrity, 54 a limit such as an index row
     * too large, 21, 2F, 39, P0, ...): the record it came from is refused, the stream goes on. */
    return ERR_PERMANENT;
}

enum err_class pg_err_class(PGconn *pg, const PGresult *res)
{
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        return ERR_TRANSIENT;
    }
    return pg_sqlstate_class(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
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
