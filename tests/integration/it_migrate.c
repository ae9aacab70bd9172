/* Integration: warehouse migrations against the real local PostgreSQL. In a fresh database of
 * its own: two processes apply the migrations at the same moment (the advisory lock makes one
 * wait), a second run applies nothing, an edited migration is refused, and a row waiting in
 * the DEFAULT partition is moved when its month's partition is created.
 * Needs the local stack (make up) and BLOTTER_PG_DSN. */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "consumers/migrate.h"

#include "tests/integration/check.h"

static PGconn *connect_db(const char *dsn, const char *dbname)
{
    const char *keys[] = {"dbname", "dbname", "application_name", NULL};
    const char *vals[] = {dsn, dbname, "it_migrate", NULL};
    /* expand_dbname: the first dbname is a connection string; the later one overrides it. */
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "it_migrate: cannot connect: %s", PQerrorMessage(pg));
        exit(1);
    }
    return pg;
}

static long long scalar(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    long long v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        v = atoll(PQgetvalue(res, 0, 0));
    else
        fprintf(stderr, "it_migrate: %s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    return v;
}

static int exec_ok(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "it_migrate: %s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    return ok;
}

/* Child: wait for the go signal, apply, exit with the number applied (or 100 + class). */
static int child_apply(const char *dsn, const char *db, int go_fd)
{
    PGconn *pg = connect_db(dsn, db);
    char c;
    if (read(go_fd, &c, 1) != 1)
        return 99;
    int applied = 0;
    char err[512];
    enum err_class cls = migrate_apply(pg, &applied, err, sizeof(err));
    PQfinish(pg);
    if (cls != ERR_OK) {
        fprintf(stderr, "it_migrate child: %s\n", err);
        return 100 + (int)cls;
    }
    return applied;
}

int main(void)
{
    const char *dsn = getenv("BLOTTER_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "it_migrate: BLOTTER_PG_DSN is not set (source infra/local/env.sh)\n");
        return 2;
    }
    char db[64];
    snprintf(db, sizeof(db), "blotter_it_migrate_%d", (int)getpid());
    char sql[256];

    PGconn *admin = connect_db(dsn, "postgres");
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
    exec_ok(admin, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    if (!exec_ok(admin, sql))
        return 1;

    /* Two processes at once. */
    int pipes[2];
    if (pipe(pipes) != 0)
        return 1;
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(pipes[1]);
            _exit(child_apply(dsn, db, pipes[0]));
        }
    }
    close(pipes[0]);
    usleep(200 * 1000); /* both connected */
    if (write(pipes[1], "gg", 2) != 2)
        return 1;
    close(pipes[1]);
    int total = 0;
    for (int k = 0; k < 2; k++) {
        int st = 0;
        waitpid(kids[k], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) < 100, "child %d failed (status %d)", k, st);
        if (WIFEXITED(st))
            total += WEXITSTATUS(st);
    }
    CHECK(total == (int)n_migrations, "two concurrent runs applied %d migrations in all, want %zu",
          total, n_migrations);

    PGconn *pg = connect_db(dsn, db);
    CHECK(scalar(pg, "SELECT count(*) FROM blotter.schema_migrations") == (long long)n_migrations,
          "schema_migrations rows");

    /* A second run applies nothing. */
    int applied = -1;
    char err[512];
    CHECK(migrate_apply(pg, &applied, err, sizeof(err)) == ERR_OK && applied == 0,
          "second run: applied %d (%s)", applied, err);

    /* The contract's tables exist. */
    CHECK(scalar(pg, "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON "
                     "c.oid = p.partrelid WHERE c.relname = 'incidents'") == 1,
          "blotter.incidents is partitioned");
    CHECK(scalar(pg, "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                     "'blotter' AND table_name IN ('agg_hourly', 'incident_keys', "
                     "'incidents_default')") == 3,
          "agg_hourly, incident_keys, incidents_default exist");

    /* A row in the DEFAULT partition moves when its month's partition is created. */
    CHECK(exec_ok(pg, "INSERT INTO blotter.incidents (city, incident_id, occurred_at, "
                      "source_updated_at, category, crime_against, ingested_at, version_hash) "
                      "VALUES ('t', '1', '2024-03-31 23:30:00-05', now(), 'theft', 'property', "
                      "now(), 1), ('t', '2', '2024-05-02 00:00:00+00', now(), 'theft', "
                      "'property', now(), 2)"),
          "insert into default");
    CHECK(scalar(pg, "SELECT count(*) FROM blotter.incidents_default") == 2, "2 rows in default");
    /* 2024-03-31 23:30 -05 is April in UTC. */
    CHECK(exec_ok(pg, "SELECT blotter.ensure_partition('2024-04-15Z')"), "ensure_partition");
    CHECK(scalar(pg, "SELECT count(*) FROM blotter.incidents_202404") == 1, "row moved to April");
    CHECK(scalar(pg, "SELECT count(*) FROM blotter.incidents_default") == 1, "May row waits");
    CHECK(scalar(pg, "SELECT blotter.drain_default_partition()") == 1, "drain moves 1 row");
    CHECK(scalar(pg, "SELECT count(*) FROM blotter.incidents_default") == 0, "default empty");
    CHECK(scalar(pg, "SELECT count(*) FROM blotter.incidents_202405") == 1, "row moved to May");
    CHECK(scalar(pg, "SELECT blotter.ensure_partitions('2023-11-30Z', '2024-02-01Z')") == 4,
          "ensure_partitions covers 4 months");
    CHECK(scalar(pg, "SELECT count(*) FROM blotter.incidents") == 2, "no row lost or doubled");

    /* An edited migration is refused. */
    CHECK(exec_ok(pg, "UPDATE blotter.schema_migrations SET checksum = 'edited' WHERE version = "
                      "1"),
          "tamper");
    CHECK(migrate_apply(pg, &applied, err, sizeof(err)) == ERR_FATAL && strstr(err, "edited"),
          "edited migration must be fatal, got: %s", err);

    PQfinish(pg);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s", db);
    exec_ok(admin, sql);
    PQfinish(admin);
    if (failures) {
        fprintf(stderr, "it_migrate: %d checks failed\n", failures);
        return 1;
    }
    printf("it_migrate: ok (%zu migrations, concurrent apply, idempotent, partitions)\n",
           n_migrations);
    return 0;
}
