/* Socrata page fetching. See socrata.h. */
#define _GNU_SOURCE
#include "producers/socrata.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "common/utf8.h"

/* ---- Splitting a JSON array into its elements ---- */

enum split_state { SPLIT_START, SPLIT_BETWEEN, SPLIT_IN_ELEMENT, SPLIT_DONE, SPLIT_ERROR };

struct rowsplit {
    rowsplit_cb cb;
    void *ctx;
    enum split_state state;
    int depth;       /* nesting inside the current element */
    bool in_string;  /* inside a string of the current element */
    bool escape;     /* the previous byte was a backslash inside a string */
    struct buf elem; /* the current element's bytes */
    size_t rows;
    bool parse; /* hand parsed rows to cb (else raw text only) */
};

struct rowsplit *rowsplit_new(rowsplit_cb cb, void *ctx, bool parse)
{
    struct rowsplit *rs = calloc(1, sizeof(*rs));
    if (rs) {
        rs->cb = cb;
        rs->ctx = ctx;
        rs->parse = parse;
    }
    return rs;
}

void rowsplit_destroy(struct rowsplit *rs)
{
    if (rs) {
        buf_free(&rs->elem);
        free(rs);
    }
}

bool rowsplit_done(const struct rowsplit *rs)
{
    return rs->state == SPLIT_DONE;
}

size_t rowsplit_rows(const struct rowsplit *rs)
{
    return rs->rows;
}

/* A copy of text with each byte that is not part of valid UTF-8 replaced by \u0000, or NULL
 * when the text is valid (the common case). */
static char *scrub_utf8(const char *text, size_t len, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)text;
    if (utf8_valid(text, len)) {
        return NULL;
    }
    char *out = malloc(len * 6 + 1);
    size_t o = 0;
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq_len(s + i, len - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\\u0000", 6);
            o += 6;
            i++;
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

json_t *row_parse(const char *raw, size_t len, char **scrubbed, size_t *scrubbed_len)
{
    json_error_t jerr;
    *scrubbed = NULL;
    *scrubbed_len = 0;
    json_t *row = json_loadb(raw, len, JSON_ALLOW_NUL, &jerr);
    if (!row) {
        /* jansson refuses invalid UTF-8: mark the bad bytes and parse again (rare path). */
        *scrubbed = scrub_utf8(raw, len, scrubbed_len);
        if (*scrubbed) {
            row = json_loadb(*scrubbed, *scrubbed_len, JSON_ALLOW_NUL, &jerr);
        }
    }
    return row;
}

static int emit(struct rowsplit *rs)
{
    size_t len = rs->elem.len;
    rs->rows++;
    int rc;
    if (!rs->parse) {
        rc = rs->cb(rs->ctx, NULL, rs->elem.p, len);
    } else {
        char *scrubbed;
        size_t scrubbed_len;
        json_t *row = row_parse(rs->elem.p, len, &scrubbed, &scrubbed_len);
        rc = rs->cb(rs->ctx, row, scrubbed ? scrubbed : rs->elem.p, scrubbed ? scrubbed_len : len);
        json_decref(row);
        free(scrubbed);
    }
    buf_reset(&rs->elem);
    return rc;
}

int rowsplit_feed(struct rowsplit *rs, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        switch (rs->state) {
        case SPLIT_START:
            if (c == '[') {
                rs->state = SPLIT_BETWEEN;
            } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                rs->state = SPLIT_ERROR;
                return -1;
            }
            break;
        case SPLIT_BETWEEN:
            if (c == ']') {
                rs->state = SPLIT_DONE;
            } else if (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                /* separators */
            } else {
                rs->state = SPLIT_IN_ELEMENT;
                rs->depth = 0;
                rs->in_string = false;
                rs->escape = false;
                i--; /* read c again as part of the element */
            }
            break;
        case SPLIT_IN_ELEMENT:
            if (rs->in_string && !rs->escape) {
                /* Copy the run up to the next quote or backslash in one go. */
                size_t j = i;
                while (j < len && data[j] != '"' && data[j] != '\\') {
                    j++;
                }
                if (j > i) {
                    if (buf_put(&rs->elem, data + i, j - i) != 0) {
                        rs->state = SPLIT_ERROR;
                        return -1;
                    }
                    i = j - 1;
                    break;
                }
            }
            if (buf_putc(&rs->elem, c) != 0) {
                rs->state = SPLIT_ERROR;
                return -1;
            }
            if (rs->in_string) {
                if (rs->escape) {
                    rs->escape = false;
                } else if (c == '\\') {
                    rs->escape = true;
                } else if (c == '"') {
                    rs->in_string = false;
                }
            } else if (c == '"') {
                rs->in_string = true;
            } else if (c == '{' || c == '[') {
                rs->depth++;
            } else if (c == '}' || c == ']') {
                if (--rs->depth == 0) {
                    rs->state = SPLIT_BETWEEN;
                    if (emit(rs) != 0) {
                        return -1;
                    }
                } else if (rs->depth < 0) {
                    rs->state = SPLIT_ERROR;
                    return -1;
                }
            } else if (rs->depth == 0 && (c == ',' || c == ' ' || c == '\n')) {
                /* a bare scalar element ended */
                rs->elem.p[--rs->elem.len] = '\0';
                rs->state = SPLIT_BETWEEN;
                if (emit(rs) != 0) {
                    return -1;
                }
            }
            break;
        case SPLIT_DONE:
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                rs->state = SPLIT_ERROR;
                return -1;
            }
            break;
        case SPLIT_ERROR:
            return -1;
        }
    }
    return 0;
}

/* ---- Fetching ---- */

struct socrata {
    CURL *curl;
    struct curl_slist *headers;
    const volatile sig_atomic_t *stop;
    long timeout_s;
};

struct transfer {
    struct socrata *s;
    struct socrata_page *page;
    struct rowsplit *rs;
    bool split_failed;
    size_t body_len;
};

struct socrata *socrata_new(const char *app_token, long timeout_s,
                            const volatile sig_atomic_t *stop)
{
    static int global_init;
    if (!global_init) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_init = 1;
    }
    struct socrata *s = calloc(1, sizeof(*s));
    if (!s || !(s->curl = curl_easy_init())) {
        free(s);
        return NULL;
    }
    s->stop = stop;
    s->timeout_s = timeout_s;
    s->headers = curl_slist_append(NULL, "Accept: application/json");
    if (app_token && *app_token) {
        char h[512];
        snprintf(h, sizeof(h), "X-App-Token: %s", app_token);
        s->headers = curl_slist_append(s->headers, h);
    }
    return s;
}

void socrata_destroy(struct socrata *s)
{
    if (s) {
        curl_slist_free_all(s->headers);
        curl_easy_cleanup(s->curl);
        free(s);
    }
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
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
        t->page->out_of_date = false;
        t->page->retry_after_s = -1;
        json_decref(t->page->fields);
        t->page->fields = NULL;
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
    if (strcasecmp(line, "X-SODA2-Data-Out-Of-Date") == 0) {
        t->page->out_of_date = strcasecmp(value, "true") == 0;
    } else if (strcasecmp(line, "Retry-After") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        t->page->retry_after_s = end != value && v >= 0 ? v : -1;
    } else if (strcasecmp(line, "X-SODA2-Fields") == 0) {
        json_decref(t->page->fields);
        t->page->fields = json_loads(value, 0, NULL);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(t->s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        size_t have = strlen(t->page->error_body);
        size_t room = sizeof(t->page->error_body) - 1 - have;
        size_t n = len < room ? len : room;
        memcpy(t->page->error_body + have, data, n);
        t->page->error_body[have + n] = 0;
        return len;
    }
    t->body_len += len;
    if (rowsplit_feed(t->rs, data, len) != 0) {
        t->split_failed = true;
        return 0; /* abort the transfer */
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct transfer *t = arg;
    return t->s->stop && *t->s->stop ? 1 : 0;
}

enum err_class socrata_get(struct socrata *s, const char *url, rowsplit_cb cb, void *ctx,
                           bool parse, struct socrata_page *page, char *errstr, size_t errstr_size)
{
    memset(page, 0, sizeof(*page));
    page->retry_after_s = -1;
    struct transfer t = {.s = s, .page = page, .rs = rowsplit_new(cb, ctx, parse)};
    if (!t.rs) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    CURL *c = s->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip when the server offers it */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, s->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    /* A stalled response (headers sent, then nothing) fails after 30 s below 1 byte/s. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s->timeout_s < 30 ? s->timeout_s : 30L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "blotter-producer/1");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

    int64_t start = mono_ms();
    CURLcode rc = curl_easy_perform(c);
    page->seconds = (double)(mono_ms() - start) / 1000.0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &page->status);
    page->rows = rowsplit_rows(t.rs);
    bool done = rowsplit_done(t.rs);
    rowsplit_destroy(t.rs);

    if (t.split_failed) {
        err_set(errstr, errstr_size, "response body is not a JSON array of rows (after %zu rows)",
                page->rows);
        return ERR_TRANSIENT;
    }
    if (rc != CURLE_OK) {
        page->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        err_set(errstr, errstr_size, "%s (after %zu rows)",
                rc == CURLE_ABORTED_BY_CALLBACK ? "stopped" : curl_easy_strerror(rc), page->rows);
        return ERR_TRANSIENT;
    }
    if (page->status == 200) {
        if (!done) {
            err_set(errstr, errstr_size, "response body ended before the array did (%zu rows)",
                    page->rows);
            return ERR_TRANSIENT;
        }
        return ERR_OK;
    }
    err_set(errstr, errstr_size, "HTTP %ld: %.300s", page->status, page->error_body);
    if (page->status == 202 || page->status == 429 || page->status == 408 || page->status >= 500) {
        return ERR_TRANSIENT;
    }
    return ERR_FATAL;
}
