/* The Socrata (SODA 2) source kind: keyset paging on (:updated_at, :id) with SoQL
 * (producers/query.c), each page a JSON array read row by row as it streams in
 * (producers/rowsplit.c), over producers/http.c. Headers it reads: X-SODA2-Data-Out-Of-Date
 * (true: hold the position and retry) and X-SODA2-Fields (schema drift). Sends the app token
 * as X-App-Token, never in the URL. */
#ifndef BLOTTER_SOCRATA_H
#define BLOTTER_SOCRATA_H

#include "producers/source.h"

extern const struct source_kind socrata_kind;

#endif
