#include "dashboard/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/refused.h"
#include "common/timeutil.h"

struct slot {
    PGconn *pg;
    bool busy;
};

struct db_pool {
    char *dsn;
    long query_timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct slot *slots;
    size_t size;
    atomic_bool healthy;
    struct metric *m_connects, *m_failures;
};

struct db_pool *db_pool_new(const char *dsn, size_t size, long query_timeout_ms)
{
    struct db_pool *pool = calloc(1, sizeof(*pool));
    if (!pool) {
        return NULL;
    }
    pool->dsn = strdup(dsn);
    pool->slots = calloc(size ? size : 1, sizeof(*pool->slots));
    if (!pool->dsn || !pool->slots) {
        free(pool->dsn);
        free(pool->slots);
        free(pool);
        return NULL;
    }
    pool->size = size ? size : 1;
    pool->query_timeout_ms = query_timeout_ms;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    pool->m_connects = metric_counter("blotter_dashboard_db_connects_total",
                                      "PostgreSQL connections opened for API queries", NULL);
    pool->m_failures = metric_counter("blotter_dashboard_db_connect_failures_total",
                                      "Failed attempts to open an API connection", NULL);
    return pool;
}

void db_pool_destroy(struct db_pool *pool)
{
    if (!pool) {
        return;
    }
    for (size_t i = 0; i < pool->size; i++) {
        if (pool->slots[i].pg) {
            PQfinish(pool->slots[i].pg);
        }
    }
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->slots);
    free(pool->dsn);
    free(pool);
}

static PGconn *open_conn(struct db_pool *pool, enum err_class *cls, char *errstr, size_t n)
{
    char timeout[160];
    /* Read-only whatever the role may do; UTC so that timestamptz text is +00. */
    snprintf(timeout, sizeof(timeout),
             "-c default_transaction_read_only=on -c statement_timeout=%ld -c TimeZone=UTC",
             pool->query_timeout_ms);
    const char *keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
    const char *vals[] = {"5", "blotter-dashboard", timeout, pool->dsn, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        err_set(errstr, n, "connect: %s", pg ? PQerrorMessage(pg) : "out of memory");
        *cls = pg_conn_refused(pg) ? ERR_FATAL : ERR_TRANSIENT;
        PQfinish(pg);
        metric_add(pool->m_failures, 1);
        atomic_store(&pool->healthy, false);
        return NULL;
    }
    metric_add(pool->m_connects, 1);
    atomic_store(&pool->healthy, true);
    return pg;
}

PGconn *db_acquire(struct db_pool *pool, long wait_ms, enum err_class *cls, char *errstr,
                   size_t errstr_size)
{
    struct timespec deadline = timespec_after_ms(CLOCK_REALTIME, wait_ms);
    pthread_mutex_lock(&pool->lock);
    struct slot *s = NULL;
    for (;;) {
        /* Prefer a connected free slot, then any free one. */
        for (size_t i = 0; i < pool->size && !s; i++) {
            if (!pool->slots[i].busy && pool->slots[i].pg) {
                s = &pool->slots[i];
            }
        }
        for (size_t i = 0; i < pool->size && !s; i++) {
            if (!pool->slots[i].busy) {
                s = &pool->slots[i];
            }
        }
        if (s || pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) != 0) {
            break;
        }
    }
    if (!s) {
        pthread_mutex_unlock(&pool->lock);
        *cls = ERR_TRANSIENT;
        err_set(errstr, errstr_size, "every warehouse connection stayed busy for %ld ms", wait_ms);
        return NULL;
    }
    s->busy = true;
    PGconn *pg = s->pg;
    pthread_mutex_unlock(&pool->lock);

    if (pg && PQstatus(pg) != CONNECTION_OK) {
        PQfinish(pg);
        pg = NULL;
    }
    if (!pg) {
        pg = open_conn(pool, cls, errstr, errstr_size); /* outside the lock: may take seconds */
    }
    pthread_mutex_lock(&pool->lock);
    s->pg = pg;
    if (!pg) {
        s->busy = false;
        pthread_cond_signal(&pool->freed);
    }
    pthread_mutex_unlock(&pool->lock);
    return pg;
}

void db_release(struct db_pool *pool, PGconn *pg, bool broken)
{
    if (!pg) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->size; i++) {
        if (pool->slots[i].pg == pg) {
            if (broken) {
                PQfinish(pg);
                pool->slots[i].pg = NULL;
            }
            pool->slots[i].busy = false;
            break;
        }
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

PGresult *db_query(PGconn *pg, const char *sql, int nparams, const char *const *params,
                   enum err_class *cls, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *cls = ERR_OK;
        return res;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(pg) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strcmp(state, "42P01") == 0) {
        /* lost, shutting down, out of resources, cancelled (timeout), or not migrated yet */
        *cls = ERR_TRANSIENT;
    } else {
        *cls = ERR_FATAL;
    }
    err_set(errstr, errstr_size, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    size_t len = errstr ? strlen(errstr) : 0;
    while (len && (errstr[len - 1] == '\n' || errstr[len - 1] == ' ')) {
        errstr[--len] = '\0';
    }
    PQclear(res);
    return NULL;
}

bool db_pool_healthy(struct db_pool *pool)
{
    return atomic_load(&pool->healthy);
}
