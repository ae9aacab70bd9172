/* The local Socrata-compatible HTTP server: GET /resource/<dataset>.json for every city, with
 * the SoQL subset of soql.h, Socrata's headers, gzip, and admin endpoints to inject faults and
 * changes (see the comment block at the top of server.c and tests/server/README.md). */
#ifndef BLOTTER_SOCRATA_SERVER_H
#define BLOTTER_SOCRATA_SERVER_H

#include <stddef.h>

#include "tests/server/store.h"

struct sserver;

/* Listen on "host:port" (port 0: any free port). Takes ownership of the n stores and of the
 * array (also on failure). live_rate: changes per second per city from a background thread
 * (0: static). NULL with errstr on failure. */
struct sserver *sserver_start(const char *listen, struct store_city **cities, size_t n,
                              unsigned live_rate, char *errstr, size_t errstr_size);
int sserver_port(const struct sserver *srv);
/* Stop serving (stalled responses are cut short), join every thread, free everything. */
void sserver_stop(struct sserver *srv);

#endif
