-- Rolling aggregates: incidents per (city, UTC hour of occurrence, category, area), maintained by
-- deltas in the same transaction as the upserts. area '' stands for unknown.
CREATE TABLE blotter.agg_hourly (
    city      text        NOT NULL,
    hour      timestamptz NOT NULL,
    category  text        NOT NULL,
    area      text        NOT NULL DEFAULT '',
    incidents bigint      NOT NULL,
    PRIMARY KEY (city, hour, category, area)
);

CREATE INDEX agg_hourly_hour ON blotter.agg_hourly (hour);

COMMENT ON TABLE blotter.agg_hourly IS
    'Incidents per city, UTC hour of occurrence, category and area (empty: unknown).';
