#include "common/refused.h"

#include <string.h>

static bool has_any(const char *msg, const char *const *marks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strstr(msg, marks[i])) {
            return true;
        }
    }
    return false;
}

enum conn_verdict conn_verdict_of(const char *msg)
{
    static const char *const misconfigured[] = {
        /* libpq */
        "root certificate file", "could not read root certificate", "invalid sslmode",
        "invalid connection option", "invalid URI", "invalid percent-encoded token",
        "missing \"=\" after", "unterminated quoted string", "invalid integer value",
        /* librdkafka's configuration, checked when a client is made */
        "ssl.ca.location failed", "ssl.certificate.location failed", "ssl.key.location failed",
        "No such configuration property", "Invalid value for configuration property",
        "Unsupported value", "sasl.username and sasl.password must be set"};
    static const char *const refused[] = {/* PostgreSQL and libpq */
                                          "authentication failed", "pg_hba.conf rejects connection",
                                          "no pg_hba.conf entry", "SSL error",
                                          "server does not support SSL", "server certificate for",
                                          "certificate verify failed",
                                          /* librdkafka */
                                          "SASL authentication error", "SSL handshake failed",
                                          "might be caused by incorrect security.protocol",
                                          /* Redis */
                                          "WRONGPASS", "NOAUTH", "NOPERM"};
    if (!msg) {
        return CONN_TRANSIENT;
    }
    if (has_any(msg, misconfigured, sizeof(misconfigured) / sizeof(misconfigured[0]))) {
        return CONN_MISCONFIGURED;
    }
    if (has_any(msg, refused, sizeof(refused) / sizeof(refused[0]))) {
        return CONN_REFUSED;
    }
    return CONN_TRANSIENT;
}

bool pg_conn_refused(const PGconn *pg)
{
    if (!pg || PQstatus(pg) == CONNECTION_OK) {
        return false;
    }
    return PQconnectionNeedsPassword(pg) || conn_verdict_of(PQerrorMessage(pg)) != CONN_TRANSIENT;
}

int conn_exit_code(const char *msg)
{
    return conn_verdict_of(msg) == CONN_MISCONFIGURED ? 2 : 1;
}
