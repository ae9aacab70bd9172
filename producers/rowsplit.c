/* Splitting a JSON array into its elements as the bytes arrive (the body of a Socrata page), and
 * parsing one element. Pure: no I/O. See rowsplit.h. */
#define _GNU_SOURCE
#include "producers/rowsplit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"

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
    bool parse;     /* hand parsed rows to cb (else raw text only) */
    size_t max_row; /* an element holds at most max_row + 1 bytes (0: no bound) */
};

void rowsplit_set_max_row(struct rowsplit *rs, size_t max_row_bytes)
{
    rs->max_row = max_row_bytes;
}

/* Keep bytes of the current element, up to one past the bound: the rest of an oversized
 * element is only followed (its structure), never held; its owner sees it is too long. */
static int keep(struct rowsplit *rs, const char *data, size_t n)
{
    if (rs->max_row && rs->elem.len + n > rs->max_row + 1) {
        n = rs->elem.len > rs->max_row ? 0 : rs->max_row + 1 - rs->elem.len;
    }
    return n ? buf_put(&rs->elem, data, n) : 0;
}

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
    if (utf8_valid(text, len)) {
        return NULL;
    }
    return utf8_replace_invalid(text, len, "\\u0000", out_len);
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

/* One byte (or a run of string bytes from data[*i]) of the current element. -1 on an error or
 * when the callback asked to stop. */
static int in_element(struct rowsplit *rs, const char *data, size_t len, size_t *i)
{
    char c = data[*i];
    if (rs->in_string && !rs->escape) {
        /* Copy the run up to the next quote or backslash in one go. */
        size_t j = *i;
        while (j < len && data[j] != '"' && data[j] != '\\') {
            j++;
        }
        if (j > *i) {
            if (keep(rs, data + *i, j - *i) != 0) {
                return -1;
            }
            *i = j - 1;
            return 0;
        }
    }
    if (keep(rs, &c, 1) != 0) {
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
            return emit(rs) != 0 ? -1 : 0;
        }
        if (rs->depth < 0) {
            return -1;
        }
    } else if (rs->depth == 0 && (c == ',' || c == ' ' || c == '\n')) {
        /* a bare scalar element ended */
        if (rs->elem.len) {
            rs->elem.p[--rs->elem.len] = '\0';
        }
        rs->state = SPLIT_BETWEEN;
        return emit(rs) != 0 ? -1 : 0;
    }
    return 0;
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
            if (in_element(rs, data, len, &i) != 0) {
                if (rs->state != SPLIT_BETWEEN) {
                    rs->state = SPLIT_ERROR;
                }
                return -1;
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
