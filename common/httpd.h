/* The operations endpoint every long-running Blotter process serves:
 *   /metrics  Prometheus text format     /healthz  200 while the process runs
 *   /readyz   200 when ready() says so, 503 otherwise; the body adds ready()'s note */
#ifndef BLOTTER_HTTPD_H
#define BLOTTER_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

struct httpd;

/* listen is "host:port" (host may be empty or 0.0.0.0 for every address). ready is called from
 * the server's thread and must be thread-safe; it may write a note (why, or what it waits for)
 * into note; NULL means always ready. */
struct httpd *httpd_start(const char *listen,
                          bool (*ready)(void *arg, char *note, size_t note_size), void *arg,
                          char *errstr, size_t errstr_size);
/* The port actually bound (useful with port 0). */
int httpd_port(const struct httpd *h);
void httpd_stop(struct httpd *h);

/* Split "host:port"; returns -1 when malformed. host gets "" for ":port". */
int httpd_parse_listen(const char *listen, char *host, size_t host_size, int *port);

#endif
