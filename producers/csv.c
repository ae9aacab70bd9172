/* Streaming CSV into JSON rows over libcsv. See csv.h. */
#define _GNU_SOURCE
#include "producers/csv.h"

#include <csv.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/utf8.h"

#define MAX_RECORD_BYTES (1u << 20) /* a record larger than this is not a crime report */
#define MAX_FIELDS       1024

struct csv_rows {
    struct csv_parser p;
    char **known;
    size_t n_known;
    char *extra;
    csv_row_fn cb;
    void *ctx;
    char **header; /* names, after matching */
    size_t n_header;
    bool have_header;
    struct buf row; /* the JSON object being built */
    size_t field, record, bytes;
    bool first_byte_seen, stopped;
    bool oversize; /* the record went past MAX_RECORD_BYTES: refused, not held */
    const char *error;
};

struct csv_rows *csv_rows_new(char *const *known, size_t n_known, const char *extra, csv_row_fn cb,
                              void *ctx)
{
    struct csv_rows *r = calloc(1, sizeof(*r));
    if (!r || csv_init(&r->p, CSV_APPEND_NULL) != 0) {
        free(r);
        return NULL;
    }
    r->known = (char **)known;
    r->n_known = n_known;
    r->extra = extra ? strdup(extra) : NULL;
    r->cb = cb;
    r->ctx = ctx;
    return r;
}

void csv_rows_destroy(struct csv_rows *r)
{
    if (!r) {
        return;
    }
    csv_free(&r->p);
    for (size_t i = 0; i < r->n_header; i++) {
        free(r->header[i]);
    }
    free(r->header);
    free(r->extra);
    buf_free(&r->row);
    free(r);
}

const char *csv_rows_error(const struct csv_rows *r)
{
    return r->error;
}

size_t csv_rows_records(const struct csv_rows *r)
{
    return r->record;
}

json_t *csv_rows_header(const struct csv_rows *r)
{
    if (!r->have_header) {
        return NULL;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_header; i++) {
        json_array_append_new(a, json_string(r->header[i]));
    }
    return a;
}

/* The known name a header name stands for (its own text when none). */
static char *match_name(const struct csv_rows *r, const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    while (n && (*s == ' ' || *s == '\t')) {
        s++, n--;
    }
    for (size_t k = 0; k < r->n_known; k++) {
        if (strlen(r->known[k]) == n && strncasecmp(r->known[k], s, n) == 0) {
            return strdup(r->known[k]);
        }
    }
    return strndup(s, n);
}

/* Append text as a JSON string, each byte that is not valid UTF-8 written as \u0000 (as the
 * Socrata kind reads such bytes: the mapping then dead-letters the row with its reason). */
static void put_string(struct buf *b, const char *s, size_t n)
{
    if (utf8_valid(s, n)) {
        buf_put_json_string(b, s, n);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        const unsigned char c = (unsigned char)s[i];
        size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!k) {
            buf_puts(b, "\\u0000");
            i++;
        } else if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
            i++;
        } else if (c < 0x20) {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_puts(b, esc);
            i++;
        } else {
            buf_put(b, s + i, k);
            i += k;
        }
    }
    buf_putc(b, '"');
}

static void on_field(void *data, size_t len, void *arg)
{
    struct csv_rows *r = arg;
    const char *s = data;
    if (r->stopped) {
        return;
    }
    r->bytes += len;
    if (!r->have_header) {
        if (r->field == 0 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
            s += 3, len -= 3; /* a UTF-8 byte-order mark */
        }
        if (r->n_header < MAX_FIELDS) {
            char **grown = realloc(r->header, (r->n_header + 1) * sizeof(char *));
            if (!grown) {
                r->error = "out of memory";
                r->stopped = true;
                return;
            }
            r->header = grown;
            r->header[r->n_header++] = match_name(r, s ? s : "", s ? len : 0);
        }
        r->field++;
        return;
    }
    if (r->row.len > MAX_RECORD_BYTES) {
        r->oversize = true;
    }
    if (s && len && r->field < r->n_header && !r->oversize) {
        if (r->row.len > 1) {
            buf_putc(&r->row, ',');
        }
        buf_put_json_string(&r->row, r->header[r->field], strlen(r->header[r->field]));
        buf_putc(&r->row, ':');
        put_string(&r->row, s, len);
    }
    r->field++;
}

static void on_record(int c, void *arg)
{
    (void)c;
    struct csv_rows *r = arg;
    if (r->stopped) {
        return;
    }
    if (!r->have_header) {
        r->have_header = true;
    } else if (r->field > 1 || r->bytes > 0 || r->oversize) { /* a blank line is no record */
        r->record++;
        if (r->oversize) { /* the row says so: the workers make it a dead letter */
            buf_reset(&r->row);
            buf_puts(&r->row, "{\"" CSV_REFUSED "\":\"record is larger than 1 MiB\"");
        }
        if (r->extra && *r->extra) {
            if (r->row.len > 1) {
                buf_putc(&r->row, ',');
            }
            buf_puts(&r->row, r->extra);
        }
        buf_putc(&r->row, '}');
        if (r->row.oom) {
            r->error = "out of memory";
            r->stopped = true;
        } else if (r->cb(r->ctx, r->row.p, r->row.len, r->record) != 0) {
            r->error = "stopped";
            r->stopped = true;
        }
    }
    buf_reset(&r->row);
    buf_putc(&r->row, '{');
    r->field = 0;
    r->bytes = 0;
    r->oversize = false;
}

int csv_rows_feed(struct csv_rows *r, const char *data, size_t len)
{
    if (r->row.len == 0) {
        buf_putc(&r->row, '{');
    }
    /* In slices, so that a field growing past the bound is dropped as it grows: libcsv holds a
     * field whole (its public entry_pos says how much), and a record past the bound is refused
     * without ever being held. */
    for (size_t off = 0; off < len && !r->stopped;) {
        size_t n = len - off < 65536 ? len - off : 65536;
        size_t done = csv_parse(&r->p, data + off, n, on_field, on_record, r);
        if (!r->stopped && done != n) {
            r->error = csv_strerror(csv_error(&r->p));
            r->stopped = true;
        }
        if (r->p.entry_pos > MAX_RECORD_BYTES) {
            r->oversize = true;
            r->p.entry_pos = 0;
            r->p.spaces = 0;
        }
        off += n;
    }
    return r->stopped ? -1 : 0;
}

int csv_rows_finish(struct csv_rows *r)
{
    if (r->stopped) {
        return -1;
    }
    if (r->row.len == 0) {
        buf_putc(&r->row, '{');
    }
    /* libcsv 3.0 ends an open quoted field silently unless strict (which would also refuse
     * a stray quote inside an unquoted field, common in portal exports): its public state says
     * whether the input stopped inside quotes (2 = FIELD_BEGUN). */
    if (r->p.quoted && r->p.pstate == 2) {
        r->error = "the input ends inside a quoted field";
        return -1;
    }
    if (csv_fini(&r->p, on_field, on_record, r) != 0) {
        r->error = "the input ends inside a quoted field";
        return -1;
    }
    return r->stopped ? -1 : 0;
}
