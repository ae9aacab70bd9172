/* The CSV kind: one static file per year (the city file's source.path with {year}), from
 * source.first_year to the current year, each fetched with a conditional GET (If-None-Match,
 * If-Modified-Since from the checkpoint): a 304 costs one request; a changed file is streamed
 * through the CSV parser (producers/csv.h) and its rows handed on as they arrive. A page is a
 * file. A snapshot kind (producers/source.h): unit = the year, stamp = the file's
 * Last-Modified (or the download time), always after the file's previous stamp. The position
 * (state) is {"next": year or null, "files": {"<year>": {"etag", "modified", "rows",
 * "stamp"}}}: a restarted producer resumes at the file it was on and skips years that did not
 * change. A 404 of the current year (its file not published yet) is an empty file. */
#ifndef BLOTTER_CSV_SOURCE_H
#define BLOTTER_CSV_SOURCE_H

#include "producers/source.h"

extern const struct source_kind csv_kind;

#endif
