/* The incident record, declared once. Everything that lists the record's fields is generated
 * from INCIDENT_FIELDS: struct incident (incident.h), the Avro codec's field table (codec.c),
 * the rules of incident_check, the content hash, equality and clearing (incident.c), and the
 * warehouse writer's column list and COPY row (consumers/warehouse.c). A unit test
 * (tests/unit/test_incident.c) checks it against schemas/incident.avsc and against the columns
 * the migrations give blotter.incidents.
 *
 * Adding a field: append it here and to schemas/incident.avsc (with a default, so the schema
 * stays backward compatible), add a migration that adds the column and the writer's column
 * lists (the next free schemas/warehouse/NNN_*.sql), and map it in producers/city_map.c.
 *
 * X(name, member, kind, flags)
 *   name    the Avro field and the warehouse column
 *   member  the C member of struct incident
 *   kind    I_STR    char *, NULL for null
 *           I_TS     int64_t UTC microseconds, TS_NULL for null
 *           I_COORD  double, null unless has_coords (latitude and longitude go together)
 *           I_TRI    int8_t, enum tribool
 *           I_ATTRS  struct attr * with n_attrs entries: every source field as text
 *   flags   I_OPT    a ["null", T] union in Avro; may be null
 *           I_KEY    part of the record's key: never empty
 *           I_IDX    indexed by the warehouse: at most INCIDENT_INDEXED_MAX bytes
 *           I_STAMP  stamped at ingestion: not part of the content hash, and may still be null
 *                    before the producer stamps it (the codec refuses to encode it null) */
#ifndef BLOTTER_INCIDENT_FIELDS_H
#define BLOTTER_INCIDENT_FIELDS_H

#define INCIDENT_FIELDS(X)                                                                         \
    X(city, city, I_STR, I_KEY | I_IDX)                                                            \
    X(incident_id, incident_id, I_STR, I_KEY | I_IDX)                                              \
    X(report_id, report_id, I_STR, I_OPT)                                                          \
    X(occurred_at, occurred_at, I_TS, 0)                                                           \
    X(reported_at, reported_at, I_TS, I_OPT)                                                       \
    X(source_updated_at, source_updated_at, I_TS, 0)                                               \
    X(offense_code, offense_code, I_STR, I_OPT)                                                    \
    X(offense, offense, I_STR, I_OPT)                                                              \
    X(category, category, I_STR, I_IDX)                                                            \
    X(crime_against, crime_against, I_STR, 0)                                                      \
    X(area, area, I_STR, I_OPT | I_IDX)                                                            \
    X(beat, beat, I_STR, I_OPT)                                                                    \
    X(address, address, I_STR, I_OPT)                                                              \
    X(latitude, latitude, I_COORD, I_OPT)                                                          \
    X(longitude, longitude, I_COORD, I_OPT)                                                        \
    X(arrest, arrest, I_TRI, I_OPT)                                                                \
    X(domestic, domestic, I_TRI, I_OPT)                                                            \
    X(attributes, attrs, I_ATTRS, 0)                                                               \
    X(ingested_at, ingested_at, I_TS, I_STAMP)

/* The category vocabulary shared by every city, with the crime_against of each (NIBRS style),
 * in documentation order (producers/cities/README.md). X(category, crime_against) */
#define INCIDENT_CATEGORIES(X)                                                                     \
    X(homicide, person)                                                                            \
    X(sex_offense, person)                                                                         \
    X(assault, person)                                                                             \
    X(robbery, property)                                                                           \
    X(burglary, property)                                                                          \
    X(theft, property)                                                                             \
    X(motor_vehicle_theft, property)                                                               \
    X(arson, property)                                                                             \
    X(vandalism, property)                                                                         \
    X(fraud, property)                                                                             \
    X(drugs, society)                                                                              \
    X(weapons, society)                                                                            \
    X(public_order, society)                                                                       \
    X(other, other)

#endif
