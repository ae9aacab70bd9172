/* Splitting a JSON array into its elements as the bytes arrive, so that each row can be handed
 * on as soon as it is complete and memory stays flat whatever the page size; and parsing one
 * element. Pure: no I/O. */
#ifndef BLOTTER_ROWSPLIT_H
#define BLOTTER_ROWSPLIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Called with each complete element of the top-level array: the parsed value (NULL when the
 * element is not valid JSON) and its raw text. Return non-zero to stop. Text that is not valid
 * UTF-8 has each bad byte replaced by the escape \u0000 before parsing, so the row can still be
 * inspected (and rejected with a reason) instead of failing the whole page. */
typedef int (*rowsplit_cb)(void *ctx, json_t *row, const char *raw, size_t raw_len);

struct rowsplit;
/* parse = false: cb gets row NULL and the raw text only (for parsing elsewhere, row_parse). */
struct rowsplit *rowsplit_new(rowsplit_cb cb, void *ctx, bool parse);
void rowsplit_destroy(struct rowsplit *rs);
/* Hold at most max_row_bytes + 1 bytes of one element (0: no bound): a longer element is
 * handed to cb cut there (raw_len max_row_bytes + 1) for its owner to refuse, while the
 * splitter follows the rest without holding it. */
void rowsplit_set_max_row(struct rowsplit *rs, size_t max_row_bytes);
/* Feed bytes. -1 on a syntax error outside elements (not an array) or when cb asked to stop. */
int rowsplit_feed(struct rowsplit *rs, const char *data, size_t len);
/* Parse one row's raw text; text that is not valid UTF-8 is retried with each bad byte replaced
 * by \u0000 (then *scrubbed holds that text, malloc'ed, for the caller to free). NULL when the
 * text is not JSON. */
json_t *row_parse(const char *raw, size_t len, char **scrubbed, size_t *scrubbed_len);
/* Whether the closing ] has been seen (the page is complete). */
bool rowsplit_done(const struct rowsplit *rs);
size_t rowsplit_rows(const struct rowsplit *rs);

#endif
