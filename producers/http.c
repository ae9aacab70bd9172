/* Streaming GET with libcurl. See http.h. */
#define _GNU_SOURCE
#include "producers/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"

struct http {
    CURL *curl;
    struct curl_slist *headers;
    const volatile sig_atomic_t *stop;
    long timeout_s;
    long stall_s;        /* below 1 byte/s this long: stalled */
    long max_body_bytes; /* of one body after decompression; 0: no bound */
};

struct transfer {
    struct http *h;
    struct http_response *res;
    http_header_fn on_header;
    http_body_fn on_body;
    void *ctx;
    long body_bytes;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http *http_new(const char *const *headers, long timeout_s, const volatile sig_atomic_t *stop)
{
    pthread_once(&global_once, global_init);
    struct http *h = calloc(1, sizeof(*h));
    if (!h || !(h->curl = curl_easy_init())) {
        free(h);
        return NULL;
    }
    h->stop = stop;
    h->timeout_s = timeout_s;
    h->stall_s = timeout_s < 30 ? timeout_s : 30;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *l = curl_slist_append(h->headers, headers[i]);
        if (!l) {
            http_destroy(h);
            return NULL;
        }
        h->headers = l;
    }
    return h;
}

void http_set_limits(struct http *h, long max_body_bytes, long stall_s)
{
    h->max_body_bytes = max_body_bytes;
    if (stall_s > 0) {
        h->stall_s = stall_s < h->timeout_s ? stall_s : h->timeout_s;
    }
}

void http_destroy(struct http *h)
{
    if (h) {
        curl_slist_free_all(h->headers);
        curl_easy_cleanup(h->curl);
        free(h);
    }
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * nitems;
    char line[4096];
    size_t n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
    memcpy(line, buf, n);
    line[n] = 0;
    while (n && (line[n - 1] == '\r' || line[n - 1] == '\n')) {
        line[--n] = 0;
    }
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100-continue): forget the previous headers. */
        t->res->retry_after_s = -1;
        if (t->on_header) {
            t->on_header(t->ctx, NULL, NULL);
        }
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon) {
        return len;
    }
    *colon = 0;
    const char *value = colon + 1;
    while (*value == ' ') {
        value++;
    }
    if (strcasecmp(line, "Retry-After") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        t->res->retry_after_s = end != value && v >= 0 ? v : -1;
    }
    if (t->on_header) {
        t->on_header(t->ctx, line, value);
    }
    return len;
}

static size_t body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(t->h->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        size_t have = strlen(t->res->error_body);
        size_t room = sizeof(t->res->error_body) - 1 - have;
        size_t n = len < room ? len : room;
        memcpy(t->res->error_body + have, data, n);
        t->res->error_body[have + n] = 0;
        return len;
    }
    /* Counted after decompression, and the transfer stops at the bound: a gzip bomb is never
     * inflated (nor its bytes parsed) past it. */
    t->body_bytes += (long)len;
    if (t->h->max_body_bytes && t->body_bytes > t->h->max_body_bytes) {
        t->res->too_large = true;
        return 0;
    }
    if (t->on_body(t->ctx, data, len) != 0) {
        t->res->body_refused = true;
        return 0; /* abort the transfer */
    }
    return len;
}

static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct transfer *t = arg;
    return t->h->stop && *t->h->stop ? 1 : 0;
}

static void set_options(struct http *h, const char *url, struct transfer *t)
{
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip when the server offers it */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    /* A stalled response (headers sent, then nothing) fails after 30 s below 1 byte/s. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->stall_s);
    /* Redirects are followed here (http_get_conditional), never by libcurl: it would send the
     * request's headers, the app token among them, to wherever the Location says. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "blotter-producer/1");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
}

enum err_class http_get(struct http *h, const char *url, http_header_fn on_header,
                        http_body_fn on_body, void *ctx, struct http_response *res, char *errstr,
                        size_t errstr_size)
{
    return http_get_conditional(h, url, NULL, on_header, on_body, ctx, res, errstr, errstr_size);
}

/* Whether a redirect from `from` to `to` may be followed: the same host (and port), over https,
 * or over the same scheme (the local test server speaks http). */
bool http_redirect_allowed(const char *from, const char *to)
{
    CURLU *a = curl_url(), *b = curl_url();
    char *sa = NULL, *sb = NULL, *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL;
    bool ok = a && b && curl_url_set(a, CURLUPART_URL, from, 0) == CURLUE_OK &&
              curl_url_set(b, CURLUPART_URL, to, 0) == CURLUE_OK &&
              curl_url_get(a, CURLUPART_SCHEME, &sa, 0) == CURLUE_OK &&
              curl_url_get(b, CURLUPART_SCHEME, &sb, 0) == CURLUE_OK &&
              curl_url_get(a, CURLUPART_HOST, &ha, 0) == CURLUE_OK &&
              curl_url_get(b, CURLUPART_HOST, &hb, 0) == CURLUE_OK &&
              curl_url_get(a, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              curl_url_get(b, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              strcasecmp(ha, hb) == 0 && (strcasecmp(sb, "https") == 0 || strcasecmp(sa, sb) == 0);
    /* The same port, or the default ones of an upgrade from http to https. */
    ok = ok && (strcmp(pa, pb) == 0 || (strcasecmp(sa, "http") == 0 && strcmp(pa, "80") == 0 &&
                                        strcasecmp(sb, "https") == 0 && strcmp(pb, "443") == 0));
    curl_free(sa), curl_free(sb), curl_free(ha), curl_free(hb), curl_free(pa), curl_free(pb);
    curl_url_cleanup(a);
    curl_url_cleanup(b);
    return ok;
}

static enum err_class get_once(struct http *h, const char *url, const char *const *extra,
                               http_header_fn on_header, http_body_fn on_body, void *ctx,
                               struct http_response *res, char *errstr, size_t errstr_size);

enum err_class http_get_conditional(struct http *h, const char *url, const char *const *extra,
                                    http_header_fn on_header, http_body_fn on_body, void *ctx,
                                    struct http_response *res, char *errstr, size_t errstr_size)
{
    char here[8192];
    snprintf(here, sizeof(here), "%s", url);
    double seconds = 0;
    for (int hops = 0;; hops++) {
        enum err_class cls =
            get_once(h, here, extra, on_header, on_body, ctx, res, errstr, errstr_size);
        seconds += res->seconds;
        res->seconds = seconds;
        bool redirect = res->status == 301 || res->status == 302 || res->status == 303 ||
                        res->status == 307 || res->status == 308;
        char *to = NULL;
        if (!redirect || curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &to) != CURLE_OK ||
            !to) {
            return cls;
        }
        if (hops >= 5) {
            err_set(errstr, errstr_size, "more than 5 redirects");
            return ERR_FATAL;
        }
        if (!http_redirect_allowed(here, to) || strlen(to) >= sizeof(here)) {
            /* The target is not said: it may carry what it should not be logged with. */
            err_set(errstr, errstr_size,
                    "HTTP %ld redirect to another host or scheme refused (only the same host, "
                    "over https, is followed; set the source's URL to where it moved)",
                    res->status);
            return ERR_FATAL;
        }
        memmove(here, to, strlen(to) + 1);
    }
}

static enum err_class get_once(struct http *h, const char *url, const char *const *extra,
                               http_header_fn on_header, http_body_fn on_body, void *ctx,
                               struct http_response *res, char *errstr, size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_s = -1;
    struct transfer t = {h, res, on_header, on_body, ctx, 0};
    set_options(h, url, &t);
    /* This request's own headers after the fixed ones (the list is the handle's, then these). */
    struct curl_slist *all = NULL;
    for (struct curl_slist *l = h->headers; l; l = l->next) {
        all = curl_slist_append(all, l->data);
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        all = curl_slist_append(all, extra[i]);
    }
    if (extra) {
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, all);
    }
    int64_t start = mono_ms();
    CURLcode rc = curl_easy_perform(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_slist_free_all(all);
    res->seconds = (double)(mono_ms() - start) / 1000.0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &res->status);
    if (res->too_large) {
        err_set(errstr, errstr_size,
                "the response body is larger than max_response_mb (%ld MiB) after decompression",
                h->max_body_bytes >> 20);
        return ERR_TRANSIENT;
    }
    if (res->body_refused) {
        err_set(errstr, errstr_size, "the response body is not what was asked for");
        return ERR_TRANSIENT;
    }
    if (rc != CURLE_OK) {
        res->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        if (res->timed_out) {
            err_set(errstr, errstr_size, "%s (http_timeout_s %ld, stall_s %ld)",
                    curl_easy_strerror(rc), h->timeout_s, h->stall_s);
            return ERR_TRANSIENT;
        }
        err_set(errstr, errstr_size, "%s",
                rc == CURLE_ABORTED_BY_CALLBACK ? "stopped" : curl_easy_strerror(rc));
        return ERR_TRANSIENT;
    }
    if (res->status == 200 || (extra && res->status == 304)) {
        return ERR_OK;
    }
    err_set(errstr, errstr_size, "HTTP %ld: %.300s", res->status, res->error_body);
    if (res->status == 202 || res->status == 429 || res->status == 408 || res->status >= 500) {
        return ERR_TRANSIENT;
    }
    return ERR_FATAL;
}
