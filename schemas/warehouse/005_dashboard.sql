-- The dashboard's needs: the cities' time zones, hour_by_weekday in local time, per-city
-- totals kept by the writer, the read-only role, and a NOTIFY of every committed batch.

-- ---- Cities ----
-- One row per city: its IANA time zone, so that SQL (hour_by_weekday, BI tools) can show local
-- hours and days. Seeded here with the cities Blotter ships; a new city file needs a row too
-- (blotter-dashboard warns at start when a city file and this table disagree; it uses the city
-- file's zone for its own answers).
CREATE FUNCTION blotter.valid_time_zone(p_zone text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE p_zone;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;

CREATE TABLE blotter.cities (
    city      text NOT NULL PRIMARY KEY,
    time_zone text NOT NULL CHECK (blotter.valid_time_zone(time_zone)),
    title     text
);

COMMENT ON TABLE blotter.cities IS
    'Each city''s IANA time zone (local hours and days in views and dashboards).';

INSERT INTO blotter.cities (city, time_zone, title) VALUES
    ('austin', 'America/Chicago', 'Austin'),
    ('chicago', 'America/Chicago', 'Chicago'),
    ('dallas', 'America/Chicago', 'Dallas'),
    ('los-angeles', 'America/Los_Angeles', 'Los Angeles'),
    ('nyc', 'America/New_York', 'New York City'),
    ('san-francisco', 'America/Los_Angeles', 'San Francisco'),
    ('seattle', 'America/Los_Angeles', 'Seattle')
ON CONFLICT (city) DO NOTHING;

-- Hour of day (0-23) by ISO day of week (1 Monday .. 7 Sunday) in the city's local time (UTC
-- for a city missing from blotter.cities). agg_hourly keeps UTC hours; every zone Blotter's
-- cities use is a whole number of hours from UTC, so each UTC hour is one local hour.
CREATE OR REPLACE VIEW blotter.hour_by_weekday AS
SELECT a.city,
       extract(isodow FROM a.hour AT TIME ZONE coalesce(c.time_zone, 'UTC'))::integer AS weekday,
       extract(hour FROM a.hour AT TIME ZONE coalesce(c.time_zone, 'UTC'))::integer AS hour_of_day,
       sum(a.incidents)::bigint AS incidents
  FROM blotter.agg_hourly a
  LEFT JOIN blotter.cities c ON c.city = a.city
 GROUP BY 1, 2, 3;

COMMENT ON VIEW blotter.hour_by_weekday IS
    'Incidents by local hour of day and ISO weekday, in each city''s time zone (blotter.cities).';

-- ---- Per-city totals ----
-- Kept in the writer's transaction, like agg_hourly: incidents equals count(*) of the city's
-- rows in blotter.incidents, newest_source_updated_at their max(source_updated_at) (a stored
-- version is only ever replaced by a newer one, so the maximum never goes down), last_write_at
-- the time of the last batch that changed one of the city's rows. A summary of millions of
-- incidents then reads one row per city.
--
-- Statement triggers on blotter.incident_keys (one row per incident) keep it: whichever writer
-- function inserts or updates keys, even one that started before this migration (a statement
-- waiting for this migration's lock sees the trigger once it gets the lock), is counted. The
-- initial count runs under the lock CREATE TRIGGER takes, which waits for writers in flight.
CREATE TABLE blotter.city_stats (
    city                     text        NOT NULL PRIMARY KEY,
    incidents                bigint      NOT NULL,
    newest_source_updated_at timestamptz NOT NULL,
    last_write_at            timestamptz NOT NULL
);

COMMENT ON TABLE blotter.city_stats IS
    'Per city: incidents (= count of its rows), newest source_updated_at, last batch written.';

CREATE FUNCTION blotter.city_stats_keys_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blotter.city_stats AS s (city, incidents, newest_source_updated_at, last_write_at)
    SELECT n.city, count(*), max(n.source_updated_at), now()
      FROM new_keys n
     GROUP BY n.city
     ORDER BY n.city
    ON CONFLICT (city) DO UPDATE
       SET incidents = s.incidents + EXCLUDED.incidents,
           newest_source_updated_at = greatest(s.newest_source_updated_at,
                                               EXCLUDED.newest_source_updated_at),
           last_write_at = EXCLUDED.last_write_at;
    RETURN NULL;
END
$$;

CREATE FUNCTION blotter.city_stats_keys_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blotter.city_stats s
       SET newest_source_updated_at = greatest(s.newest_source_updated_at, n.newest),
           last_write_at = now()
      FROM (SELECT city, max(source_updated_at) AS newest
              FROM new_keys GROUP BY city ORDER BY city) n
     WHERE s.city = n.city;
    RETURN NULL;
END
$$;

CREATE TRIGGER city_stats_inserted AFTER INSERT ON blotter.incident_keys
    REFERENCING NEW TABLE AS new_keys
    FOR EACH STATEMENT EXECUTE FUNCTION blotter.city_stats_keys_inserted();
CREATE TRIGGER city_stats_updated AFTER UPDATE ON blotter.incident_keys
    REFERENCING NEW TABLE AS new_keys
    FOR EACH STATEMENT EXECUTE FUNCTION blotter.city_stats_keys_updated();

INSERT INTO blotter.city_stats (city, incidents, newest_source_updated_at, last_write_at)
SELECT city, count(*), max(source_updated_at), now()
  FROM blotter.incident_keys
 GROUP BY city;

-- ---- The read-only role ----
-- blotter_reader may read every table and view of schema blotter and LISTEN; nothing else. It is
-- created NOLOGIN: an operator either gives it a password
--     ALTER ROLE blotter_reader LOGIN PASSWORD '...';
-- or grants it to login roles of their own (GRANT blotter_reader TO grafana;). Roles belong to
-- the whole cluster, so a second warehouse database on the same server reuses it. A migration
-- owner that may not create roles gets a warning and the grants are left to the operator.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blotter_reader') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE WARNING 'role blotter_reader is missing and % may not create roles; create it '
                          '(CREATE ROLE blotter_reader NOLOGIN) and run the grants of '
                          'schemas/warehouse/005_dashboard.sql', current_user;
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE blotter_reader NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created at the same moment by the migration of another database
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO blotter_reader', current_database());
    GRANT USAGE ON SCHEMA blotter TO blotter_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA blotter TO blotter_reader;
    -- Tables and views later migrations create (partitions are read through their parent).
    ALTER DEFAULT PRIVILEGES IN SCHEMA blotter GRANT SELECT ON TABLES TO blotter_reader;
END
$$;

-- ---- The batch announcement ----
-- blotter.batch_payloads() describes the batch in blotter_work (after apply_staged wrote it) as
-- the payloads of NOTIFY blotter_incidents, each under 8000 bytes (PostgreSQL's limit):
--   {"v":1,"txid":"<writer's transaction id>","cities":{"<city>":{"inserted":N,"updated":N,
--    "hours":["2024-05-01T13:00:00Z",...],"hours_more":N,"newest_source_updated_at":"..."}}}
-- hours: the UTC hours whose agg_hourly counts moved (newest first, at most 24; hours_more
-- counts the rest). A batch too large for one payload drops the hours lists, and past that is
-- split into parts ("part": k, "parts": n). Nothing is announced for a batch that changed
-- nothing (only unchanged versions), and NOTIFY is delivered only when the transaction commits.
CREATE FUNCTION blotter.batch_payloads() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    max_bytes constant integer := 7900;
    head      text := '{"v":1,"txid":"' || pg_current_xact_id()::text || '"';
    full_list text[];
    bare_list text[];
    payload   text;
    parts     text[] := '{}';
    cur       text := '';
    e         text;
BEGIN
    WITH w AS (
        SELECT city, status, occurred_at, old_occurred_at, source_updated_at
          FROM blotter_work
         WHERE status IN ('i', 'u') AND octet_length(city) <= 200),
    h AS (
        SELECT city, date_trunc('hour', occurred_at, 'UTC') AS hour FROM w
        UNION
        SELECT city, date_trunc('hour', old_occurred_at, 'UTC') FROM w WHERE status = 'u'),
    hr AS (
        SELECT city, count(*) AS n_hours,
               (array_agg(to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"')
                          ORDER BY hour DESC))[1:24] AS hours
          FROM h GROUP BY city),
    c AS (
        SELECT city, count(*) FILTER (WHERE status = 'i') AS inserted,
               count(*) FILTER (WHERE status = 'u') AS updated,
               max(source_updated_at) AS newest
          FROM w GROUP BY city)
    SELECT array_agg(to_json(c.city)::text || ':' || json_build_object(
               'inserted', c.inserted, 'updated', c.updated, 'hours', to_json(hr.hours),
               'hours_more', hr.n_hours - cardinality(hr.hours),
               'newest_source_updated_at',
               to_char(c.newest AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
               ORDER BY c.city),
           array_agg(to_json(c.city)::text || ':' || json_build_object(
               'inserted', c.inserted, 'updated', c.updated, 'hours', '[]'::json,
               'hours_more', hr.n_hours,
               'newest_source_updated_at',
               to_char(c.newest AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
               ORDER BY c.city)
      INTO full_list, bare_list
      FROM c JOIN hr ON hr.city = c.city;

    IF full_list IS NULL THEN
        RETURN; -- nothing written
    END IF;
    payload := head || ',"cities":{' || array_to_string(full_list, ',') || '}}';
    IF octet_length(payload) <= max_bytes THEN
        RETURN NEXT payload;
        RETURN;
    END IF;
    payload := head || ',"cities":{' || array_to_string(bare_list, ',') || '}}';
    IF octet_length(payload) <= max_bytes THEN
        RETURN NEXT payload;
        RETURN;
    END IF;
    FOREACH e IN ARRAY bare_list LOOP
        IF cur <> '' AND octet_length(head) + octet_length(cur) + octet_length(e) + 64 > max_bytes THEN
            parts := parts || cur;
            cur := '';
        END IF;
        cur := CASE WHEN cur = '' THEN e ELSE cur || ',' || e END;
    END LOOP;
    parts := parts || cur;
    FOR k IN 1 .. cardinality(parts) LOOP
        RETURN NEXT head || ',"part":' || k || ',"parts":' || cardinality(parts)
                    || ',"cities":{' || parts[k] || '}}';
    END LOOP;
END
$$;

-- apply_staged as in 003_writer.sql, plus the announcement of what it wrote.
CREATE OR REPLACE FUNCTION blotter.apply_staged()
RETURNS TABLE (r_seq integer, r_status text, r_version_hash bigint)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blotter_work (seq, city, incident_id, report_id, occurred_at, reported_at,
                              source_updated_at, offense_code, offense, category, crime_against,
                              area, beat, address, latitude, longitude, arrest, domestic,
                              attributes, ingested_at, version_hash)
    SELECT DISTINCT ON (s.city, s.incident_id)
           s.seq, s.city, s.incident_id, s.report_id, s.occurred_at, s.reported_at,
           s.source_updated_at, s.offense_code, s.offense, s.category, s.crime_against,
           s.area, s.beat, s.address, s.latitude, s.longitude, s.arrest, s.domestic,
           s.attributes, s.ingested_at, s.version_hash
      FROM blotter_stage s
     ORDER BY s.city, s.incident_id, s.source_updated_at DESC, s.version_hash DESC;

    WITH ins AS (
        INSERT INTO blotter.incident_keys AS k
               (city, incident_id, occurred_at, source_updated_at, version_hash, category, area)
        SELECT w.city, w.incident_id, w.occurred_at, w.source_updated_at, w.version_hash,
               w.category, coalesce(w.area, '')
          FROM blotter_work w
         ORDER BY w.city, w.incident_id
        ON CONFLICT (city, incident_id) DO UPDATE SET version_hash = k.version_hash WHERE false
        RETURNING k.city, k.incident_id)
    UPDATE blotter_work w SET status = 'i'
      FROM ins
     WHERE w.city = ins.city AND w.incident_id = ins.incident_id;

    UPDATE blotter_work w
       SET old_occurred_at = k.occurred_at,
           old_source_updated_at = k.source_updated_at,
           old_version_hash = k.version_hash,
           old_category = k.category,
           old_area = k.area,
           status = CASE WHEN (w.source_updated_at, w.version_hash)
                              > (k.source_updated_at, k.version_hash)
                         THEN 'u' ELSE 'n' END
      FROM blotter.incident_keys k
     WHERE w.status IS NULL AND k.city = w.city AND k.incident_id = w.incident_id;

    DELETE FROM blotter.incidents i
     USING blotter_work w
     WHERE w.status = 'u' AND i.city = w.city AND i.incident_id = w.incident_id
       AND i.occurred_at = w.old_occurred_at;

    INSERT INTO blotter.incidents (city, incident_id, report_id, occurred_at, reported_at,
                                   source_updated_at, offense_code, offense, category,
                                   crime_against, area, beat, address, latitude, longitude,
                                   arrest, domestic, attributes, ingested_at, version_hash)
    SELECT w.city, w.incident_id, w.report_id, w.occurred_at, w.reported_at,
           w.source_updated_at, w.offense_code, w.offense, w.category, w.crime_against,
           w.area, w.beat, w.address, w.latitude, w.longitude, w.arrest, w.domestic,
           w.attributes, w.ingested_at, w.version_hash
      FROM blotter_work w
     WHERE w.status IN ('i', 'u');

    UPDATE blotter.incident_keys k
       SET occurred_at = w.occurred_at,
           source_updated_at = w.source_updated_at,
           version_hash = w.version_hash,
           category = w.category,
           area = coalesce(w.area, '')
      FROM blotter_work w
     WHERE w.status = 'u' AND k.city = w.city AND k.incident_id = w.incident_id;

    INSERT INTO blotter.agg_hourly AS a (city, hour, category, area, incidents)
    SELECT d.city, d.hour, d.category, d.area, sum(d.delta)
      FROM (SELECT w.city, date_trunc('hour', w.occurred_at, 'UTC') AS hour, w.category,
                   coalesce(w.area, '') AS area, 1 AS delta
              FROM blotter_work w
             WHERE w.status IN ('i', 'u')
            UNION ALL
            SELECT w.city, date_trunc('hour', w.old_occurred_at, 'UTC'), w.old_category,
                   w.old_area, -1
              FROM blotter_work w
             WHERE w.status = 'u') d
     GROUP BY d.city, d.hour, d.category, d.area
    HAVING sum(d.delta) <> 0
     ORDER BY d.city, d.hour, d.category, d.area
    ON CONFLICT (city, hour, category, area)
    DO UPDATE SET incidents = a.incidents + EXCLUDED.incidents;

    DELETE FROM blotter.agg_hourly a
     USING blotter_work w
     WHERE w.status = 'u' AND a.incidents = 0
       AND a.city = w.city AND a.hour = date_trunc('hour', w.old_occurred_at, 'UTC')
       AND a.category = w.old_category AND a.area = w.old_area;

    -- Announced at COMMIT only: a rolled-back batch announces nothing.
    PERFORM pg_notify('blotter_incidents', p) FROM blotter.batch_payloads() AS p;

    RETURN QUERY
    SELECT w.seq, w.status,
           CASE WHEN w.status = 'n' THEN w.old_version_hash ELSE w.version_hash END
      FROM blotter_work w;
END
$$;
