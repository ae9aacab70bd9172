/* One streaming HTTP GET with libcurl, the transport of every source kind: the body is handed
 * on as it arrives (memory stays flat whatever the page size), headers go to the kind, and the
 * outcome is classified once here. */
#ifndef BLOTTER_HTTP_H
#define BLOTTER_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct http;

/* headers: extra request headers ("Name: value"), NULL-terminated, copied (may be NULL).
 * timeout_s bounds one request; a transfer below 1 byte/s for min(timeout_s, 30) s counts as
 * stalled. stop (may be NULL) aborts a transfer as soon as it becomes non-zero. */
struct http *http_new(const char *const *headers, long timeout_s,
                      const volatile sig_atomic_t *stop);
void http_destroy(struct http *h);
/* Bound one body to max_body_bytes after decompression (0: no bound; past it the transfer stops
 * and the request fails, ERR_TRANSIENT) and count a transfer below 1 byte/s for stall_s
 * (at most timeout_s) as stalled. */
void http_set_limits(struct http *h, long max_body_bytes, long stall_s);
/* Whether a redirect from one URL to another is followed: the same host and port, to https or
 * to the scheme it came from. Any other redirect fails the request (ERR_FATAL): the request's
 * headers (an app token) never go elsewhere. */
bool http_redirect_allowed(const char *from, const char *to);

struct http_response {
    long status;          /* HTTP status, 0 when no response */
    bool timed_out;       /* the request hit its timeout or stalled */
    bool body_refused;    /* the body callback refused what arrived */
    bool too_large;       /* the body went past the bound of http_set_limits */
    long retry_after_s;   /* Retry-After, -1 when absent */
    double seconds;       /* request duration */
    char error_body[512]; /* the start of a non-200 body */
};

/* A header of the final response (after redirects); name NULL announces a new response, whose
 * headers follow (forget the earlier ones). */
typedef void (*http_header_fn)(void *ctx, const char *name, const char *value);
/* Bytes of a 200 body; non-zero refuses them and aborts the transfer. */
typedef int (*http_body_fn)(void *ctx, const char *data, size_t len);

/* GET url. ERR_OK: a 200 response arrived whole (whether its content is complete is the
 * kind's to judge). ERR_TRANSIENT: 202, 408, 429, 5xx, timeouts, stalls, connection errors, a
 * refused body, a stop. ERR_FATAL: any other status (a wrong query or dataset). errstr says
 * what happened in each case but ERR_OK. */
enum err_class http_get(struct http *h, const char *url, http_header_fn on_header,
                        http_body_fn on_body, void *ctx, struct http_response *res, char *errstr,
                        size_t errstr_size);

/* The same, with extra request headers for this request only (NULL-terminated; e.g.
 * If-None-Match, If-Modified-Since), and 304 Not Modified is ERR_OK too (res->status says
 * which; no body). */
enum err_class http_get_conditional(struct http *h, const char *url, const char *const *extra,
                                    http_header_fn on_header, http_body_fn on_body, void *ctx,
                                    struct http_response *res, char *errstr, size_t errstr_size);

#endif
