/* The source kinds there are. See source.h. */
#include "producers/source.h"

#include <string.h>

#include "producers/arcgis_source.h"
#include "producers/csv_source.h"
#include "producers/socrata.h"

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
