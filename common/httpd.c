#include "common/httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/metrics.h"

struct httpd {
    struct MHD_Daemon *daemon;
    bool (*ready)(void *arg, char *note, size_t note_size);
    void *arg;
    int port;
};

int httpd_parse_listen(const char *listen, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    if (!colon || (size_t)(colon - listen) >= host_size) {
        return -1;
    }
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535) {
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    *port = (int)p;
    return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct httpd *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return reply(conn, 405, "text/plain", "method not allowed\n", 19, MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *text = metrics_render(&len);
        if (!text) {
            return reply(conn, 500, "text/plain", "out of memory\n", 14, MHD_RESPMEM_PERSISTENT);
        }
        return reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        return reply(conn, 200, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/readyz") == 0) {
        char note[512] = "";
        bool ok = !h->ready || h->ready(h->arg, note, sizeof(note));
        char body[600];
        int len = snprintf(body, sizeof(body), "%s%s%s\n", ok ? "ready" : "not ready",
                           *note ? ": " : "", note);
        return reply(conn, ok ? 200 : 503, "text/plain", body,
                     len < (int)sizeof(body) ? (size_t)len : sizeof(body) - 1,
                     MHD_RESPMEM_MUST_COPY);
    }
    return reply(conn, 404, "text/plain", "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

struct httpd *httpd_start(const char *listen,
                          bool (*ready)(void *arg, char *note, size_t note_size), void *arg,
                          char *errstr, size_t errstr_size)
{
    char host[256];
    int port;
    struct sockaddr_in sa;

    if (httpd_parse_listen(listen, host, sizeof(host), &port) != 0) {
        err_set(errstr, errstr_size, "http_listen '%s' is not host:port", listen);
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
    struct httpd *h = calloc(1, sizeof(*h));
    if (!h) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->ready = ready;
    h->arg = arg;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
    if (!h->daemon) {
        err_set(errstr, errstr_size, "cannot listen on %s (port in use?)", listen);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

int httpd_port(const struct httpd *h)
{
    return h ? h->port : 0;
}

void httpd_stop(struct httpd *h)
{
    if (!h) {
        return;
    }
    MHD_stop_daemon(h->daemon);
    free(h);
}
