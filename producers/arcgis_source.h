/* The ArcGIS kind: a FeatureServer layer walked whole, page after page by resultOffset in the
 * city's orderByFields, whenever the layer changed (its editingInfo.lastEditDate and its row
 * count, asked before each pass). Pages are at most the layer's maxRecordCount (a server may
 * return fewer rows than asked; the walk advances by the rows actually returned) and end at a
 * run boundary of the city's repeat_key, so repeated ids are numbered the same on every walk
 * (producers/arcgis.h). The error envelope of an HTTP 200 is classified like the status it
 * names. A snapshot kind (producers/source.h): unit = the dataset, stamp = the walk. The
 * position (state) is {"stamp", "edit", "count", "offset", "done"}. */
#ifndef BLOTTER_ARCGIS_SOURCE_H
#define BLOTTER_ARCGIS_SOURCE_H

#include "producers/source.h"

extern const struct source_kind arcgis_kind;

#endif
