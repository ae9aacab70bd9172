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
};

struct transfer {
    struct http *h;
    struct http_response *res;
    http_header_fn on_header;
    http_body_fn on_body;
    void *ctx;
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
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->timeout_s < 30 ? h->timeout_s : 30L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
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

enum err_class http_get_conditional(struct http *h, const char *url, const char *const *extra,
                                    http_header_fn on_header, http_body_fn on_body, void *ctx,
                                    struct http_response *res, char *errstr, size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_s = -1;
    struct transfer t = {h, res, on_header, on_body, ctx};
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
    if (res->body_refused) {
        err_set(errstr, errstr_size, "the response body is not what was asked for");
        return ERR_TRANSIENT;
    }
    if (rc != CURLE_OK) {
        res->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
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
