/* Request parameters of the dashboard's API: parsing and validation. Pure: no I/O, no clock.
 * Every parser returns 0, or -1 with a message for the client in errstr (the caller names the
 * parameter in its 400 answer). */
#ifndef BLOTTER_DASHBOARD_PARAMS_H
#define BLOTTER_DASHBOARD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARAM_CITY_MAX 64 /* longest city name, NUL included */
#define PARAM_LIST_MAX 64 /* most cities in one list */

/* A point in time as given: an instant (a zone or Z was given) or a wall time without a zone,
 * read later in each city's own time zone. */
struct param_time {
    bool set;
    bool local;
    int64_t us;    /* instant: microseconds since the epoch (UTC) */
    char text[32]; /* "2024-05-01 13:00:00.000000+00" (instant) or "2024-05-01 13:00:00.000000"
                      (local): what PostgreSQL reads as timestamptz / timestamp */
};

/* ISO 8601: YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|+HH:MM|-HH:MM]. Years 1..9999. */
int param_time_parse(const char *s, struct param_time *t, char *errstr, size_t errstr_size);

/* Seconds between two times when both are instants, or both local (a wall-time difference);
 * false when one is an instant and the other local. */
bool param_time_span_s(const struct param_time *from, const struct param_time *to, int64_t *span_s);

/* A city name: 1..63 characters of [a-z0-9_-]. */
int param_city_parse(const char *s, char *out, size_t out_size, char *errstr, size_t errstr_size);

/* A comma-separated list of city names (duplicates dropped, order kept). */
int param_city_list_parse(const char *s, char out[][PARAM_CITY_MAX], size_t max, size_t *n,
                          char *errstr, size_t errstr_size);

/* One of the words of choices ("a|b|c"); *index gets its position. */
int param_choice_parse(const char *s, const char *choices, int *index, char *errstr,
                       size_t errstr_size);

/* A category of Blotter's shared vocabulary. */
int param_category_parse(const char *s, const char **category, char *errstr, size_t errstr_size);

/* A decimal integer in lo..hi. */
int param_long_parse(const char *s, long lo, long hi, long *out, char *errstr, size_t errstr_size);

/* bbox=lat_min,lon_min,lat_max,lon_max (the city files' order), finite, in range, min <= max. */
int param_bbox_parse(const char *s, double bbox[4], char *errstr, size_t errstr_size);

/* ---- Keyset cursor of /incidents: the last row's (occurred_at, city, incident_id) ---- */

struct param_cursor {
    bool set;
    int64_t occurred_us;
    char city[PARAM_CITY_MAX];
    char incident_id[256];
};

/* Opaque to clients: lowercase hex of "<occurred_us>\n<city>\n<incident_id>". -1 when out is
 * too small or a field cannot be encoded (a newline in the id, an over-long id). */
int param_cursor_encode(int64_t occurred_us, const char *city, const char *incident_id, char *out,
                        size_t out_size);
int param_cursor_parse(const char *s, struct param_cursor *c, char *errstr, size_t errstr_size);

/* ---- Responses ---- */

/* Append s as a JSON string (quotes, escapes) to out[0..size); returns the length it needs
 * (like snprintf: when >= size the output was cut). */
size_t param_json_string(const char *s, char *out, size_t size);

/* The 400 body: {"error":"<message>","parameter":"<name>"} (malloc'ed; NULL on OOM). */
char *param_error_json(const char *parameter, const char *message);

/* Append one CSV field (RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes
 * doubled) to a growable buffer. NULL is an empty field. -1 on OOM. */
struct param_buf {
    char *p;
    size_t len, cap;
};
int param_buf_put(struct param_buf *b, const char *s, size_t n);
int param_csv_field(struct param_buf *b, const char *s);
void param_buf_free(struct param_buf *b);

#endif
