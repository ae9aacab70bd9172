#include "dashboard/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/httpd.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "dashboard/web.h"

struct dash_http {
    struct dash_http_config cfg;
    struct MHD_Daemon *daemon;
    int port;
    struct metric *m_latency[8];
};

static const char *const latency_names[] = {"summary", "breakdown", "trend",         "heatmap",
                                            "compare", "incidents", "incidents.csv", "other"};

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

#define TEXT(conn, status, s)                                                                      \
    queue(conn, status, "text/plain; charset=utf-8", (void *)(s), strlen(s), MHD_RESPMEM_PERSISTENT)

static bool accepts_gzip(struct MHD_Connection *conn)
{
    const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    return ae && strstr(ae, "gzip");
}

static enum MHD_Result serve_asset(struct MHD_Connection *conn, const struct web_asset *a)
{
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    bool gz = accepts_gzip(conn);
    struct MHD_Response *resp;
    unsigned status = 200;
    if (inm && strcmp(inm, a->etag) == 0) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else {
        resp = MHD_create_response_from_buffer(
            gz ? a->gz_len : a->len, (void *)(gz ? a->gz : a->data), MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", a->type);
    MHD_add_response_header(resp, "ETag", a->etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* Everything the page needs comes from here: no CDN, no tiles, no fonts from elsewhere. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self' "
                            "'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
    if (gz && status == 200) {
        MHD_add_response_header(resp, "Content-Encoding", "gzip");
    }
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct api_args *a = cls;
    (void)kind;
    if (a->n == API_MAX_ARGS) {
        a->too_many = true;
        return MHD_NO;
    }
    a->name[a->n] = key;
    a->value[a->n] = value;
    a->n++;
    return MHD_YES;
}

static ssize_t csv_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ssize_t n = api_csv_read(cls, buf, max);
    return n > 0    ? n
           : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                    : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void csv_free(void *cls)
{
    api_csv_free(cls);
}

static enum MHD_Result serve_api(struct dash_http *h, struct MHD_Connection *conn,
                                 const char *endpoint)
{
    struct api_args args = {0};
    struct api_reply r;
    int64_t t0 = mono_ms();
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
    api_handle(h->cfg.api, endpoint, &args, &r);
    size_t k = 0;
    while (k < 7 && strcmp(latency_names[k], endpoint) != 0) {
        k++;
    }
    metric_observe(h->m_latency[k], (double)(mono_ms() - t0) / 1000.0);
    if (r.csv) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                                      csv_reader, r.csv, csv_free);
        if (!resp) {
            api_csv_free(r.csv);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", r.type);
        MHD_add_response_header(resp, "Content-Disposition",
                                "attachment; filename=\"incidents.csv\"");
        enum MHD_Result rc = MHD_queue_response(conn, r.status, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    if (!r.body) {
        return TEXT(conn, 500, "out of memory\n");
    }
    return queue(conn, r.status, r.type, r.body, r.len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_events(struct dash_http *h, struct MHD_Connection *conn)
{
    bool full;
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    struct MHD_Response *resp = streams_open(h->cfg.streams, conn, last, &full);
    if (!resp) {
        return full ? TEXT(conn, 503, "too many open streams\n")
                    : TEXT(conn, 500, "out of memory\n");
    }
    enum MHD_Result rc = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct dash_http *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return TEXT(conn, 405, "method not allowed\n");
    }
    if (strncmp(url, "/api/v1/", 8) == 0) {
        return serve_api(h, conn, url + 8);
    }
    if (strcmp(url, "/events") == 0) {
        return serve_events(h, conn);
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *text = metrics_render(&len);
        if (!text) {
            return TEXT(conn, 500, "out of memory\n");
        }
        return queue(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        return TEXT(conn, 200, "ok\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        bool ok = !h->cfg.ready || h->cfg.ready(h->cfg.arg);
        return ok ? TEXT(conn, 200, "ready\n") : TEXT(conn, 503, "not ready\n");
    }
    const struct web_asset *a = web_find(strcmp(url, "/index.html") == 0 ? "/" : url);
    if (a) {
        return serve_asset(conn, a);
    }
    return TEXT(conn, 404, "not found\n");
}

struct dash_http *dash_http_start(const struct dash_http_config *cfg, char *errstr,
                                  size_t errstr_size)
{
    char host[256];
    int port;
    struct sockaddr_in sa;

    if (httpd_parse_listen(cfg->listen, host, sizeof(host), &port) != 0) {
        err_set(errstr, errstr_size, "http_listen '%s' is not host:port", cfg->listen);
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!*host || strcmp(host, "0.0.0.0") == 0) {
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (strcmp(host, "localhost") == 0) {
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        err_set(errstr, errstr_size, "http_listen host '%s' is not an IPv4 address", host);
        return NULL;
    }
    struct dash_http *h = calloc(1, sizeof(*h));
    if (!h) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    for (size_t i = 0; i < 8; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "endpoint=\"%s\"", latency_names[i]);
        h->m_latency[i] =
            metric_histogram("blotter_dashboard_api_seconds", "Time to answer an API request",
                             labels, metric_latency_buckets, metric_latency_buckets_n);
    }
    /* Each pool thread runs an epoll loop over its connections; suspended /events streams cost
     * nothing until resumed. 60 s idle timeout for ordinary keep-alive connections (suspended
     * streams do not time out; heartbeats keep the others busy). */
    h->daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                         0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
                         cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, 60U,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024U, MHD_OPTION_END);
    if (!h->daemon) {
        err_set(errstr, errstr_size, "cannot listen on %s (port in use?)", cfg->listen);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

int dash_http_port(const struct dash_http *h)
{
    return h ? h->port : 0;
}

void dash_http_stop(struct dash_http *h)
{
    if (!h) {
        return;
    }
    MHD_stop_daemon(h->daemon);
    free(h);
}
