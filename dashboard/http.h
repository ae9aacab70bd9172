/* The dashboard's HTTP server (libmicrohttpd): a pool of threads, each an epoll event loop over
 * its connections, with suspend/resume for the /events streams.
 *   /                 the page (and /app.js, /app.css)
 *   /api/v1/<name>    the JSON API (api.h)
 *   /events           server-sent events (streams.h)
 *   /metrics /healthz /readyz */
#ifndef BLOTTER_DASHBOARD_HTTP_H
#define BLOTTER_DASHBOARD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "dashboard/api.h"
#include "dashboard/streams.h"

struct dash_http_config {
    const char *listen; /* host:port (IPv4; port 0 picks a free one) */
    unsigned threads;
    unsigned max_connections;
    struct api *api;
    struct streams *streams;
    bool (*ready)(void *arg); /* /readyz; thread-safe */
    void *arg;
};

struct dash_http;

struct dash_http *dash_http_start(const struct dash_http_config *cfg, char *errstr,
                                  size_t errstr_size);
int dash_http_port(const struct dash_http *h);
/* Stop accepting and close every connection (end the streams first: streams_shutdown). */
void dash_http_stop(struct dash_http *h);

#endif
