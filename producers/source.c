/* The source kinds there are. See source.h. */
#include "producers/source.h"

#include <string.h>

#include "producers/arcgis_source.h"
#include "producers/csv_source.h"
#include "producers/http.h"
#include "producers/limits.h"
#include "producers/socrata.h"

const struct source_limits *source_limits_of(const struct source_options *opt)
{
    return limits_or_default(opt ? opt->limits : NULL);
}

struct http *source_http_new(const char *const *headers, long timeout_s,
                             const struct source_options *opt)
{
    struct http *h = http_new(headers, timeout_s, opt->stop);
    if (h) {
        const struct source_limits *lim = source_limits_of(opt);
        http_set_limits(h, lim->max_response_bytes, lim->stall_s);
    }
    return h;
}

static const struct source_kind *const kinds[] = {&socrata_kind, &arcgis_kind, &csv_kind};

const struct source_kind *source_kind_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i]->name, name) == 0) {
            return kinds[i];
        }
    }
    return NULL;
}

const struct source_kind *source_kind_of(const struct city *city)
{
    const struct source_kind *k = source_kind_find(city->source.kind);
    return k ? k : &socrata_kind;
}
