-- The incident warehouse: one row per (city, incident_id), partitioned by UTC month of occurred_at.
--
-- A partitioned table's unique key must hold the partition column, so (city, incident_id) alone
-- cannot be enforced on blotter.incidents. blotter.incident_keys holds that key, the version last
-- written and where the row lives; the writer consults it to keep one row per incident even when
-- the source moves an incident to another month, and to never write an older version.

CREATE SCHEMA IF NOT EXISTS blotter;

CREATE TABLE blotter.incidents (
    city              text             NOT NULL,
    incident_id       text             NOT NULL,
    report_id         text,
    occurred_at       timestamptz      NOT NULL,
    reported_at       timestamptz,
    source_updated_at timestamptz      NOT NULL,
    offense_code      text,
    offense           text,
    category          text             NOT NULL,
    crime_against     text             NOT NULL,
    area              text,
    beat              text,
    address           text,
    latitude          double precision,
    longitude         double precision,
    arrest            boolean,
    domestic          boolean,
    attributes        jsonb            NOT NULL DEFAULT '{}'::jsonb,
    ingested_at       timestamptz      NOT NULL,
    version_hash      bigint           NOT NULL,
    PRIMARY KEY (city, incident_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

COMMENT ON TABLE blotter.incidents IS
    'One row per (city, incident_id): the newest version seen. Partitioned by UTC month.';
COMMENT ON COLUMN blotter.incidents.version_hash IS
    'Fingerprint of the version''s content; with source_updated_at it orders versions.';

-- The safety net: rows whose month has no partition land here; they are reported and moved.
CREATE TABLE blotter.incidents_default PARTITION OF blotter.incidents DEFAULT;

CREATE INDEX incidents_city_occurred ON blotter.incidents (city, occurred_at);

CREATE TABLE blotter.incident_keys (
    city              text        NOT NULL,
    incident_id       text        NOT NULL,
    occurred_at       timestamptz NOT NULL,
    source_updated_at timestamptz NOT NULL,
    version_hash      bigint      NOT NULL,
    category          text        NOT NULL,
    area              text        NOT NULL DEFAULT '',
    PRIMARY KEY (city, incident_id)
);

COMMENT ON TABLE blotter.incident_keys IS
    'Uniqueness of (city, incident_id) across partitions, and the version last written.';

-- Create the partition of the UTC month holding p_at (if missing) and return its name.
-- Rows of that month waiting in the DEFAULT partition are moved into it.
CREATE FUNCTION blotter.ensure_partition(p_at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp   := date_trunc('month', p_at AT TIME ZONE 'UTC');
    lo          timestamptz := month_start AT TIME ZONE 'UTC';
    hi          timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    part        text        := 'incidents_' || to_char(month_start, 'YYYYMM');
    waiting     bigint;
BEGIN
    IF to_regclass('blotter.' || part) IS NOT NULL THEN
        RETURN part;
    END IF;
    -- Serialise partition creation between concurrent writers.
    PERFORM pg_advisory_xact_lock(hashtext('blotter.ensure_partition'));
    IF to_regclass('blotter.' || part) IS NOT NULL THEN
        RETURN part;
    END IF;
    SELECT count(*) INTO waiting FROM blotter.incidents_default
     WHERE occurred_at >= lo AND occurred_at < hi;
    IF waiting > 0 THEN
        CREATE TEMP TABLE IF NOT EXISTS blotter_moving (LIKE blotter.incidents) ON COMMIT DROP;
        WITH moved AS (
            DELETE FROM blotter.incidents_default
             WHERE occurred_at >= lo AND occurred_at < hi
            RETURNING *)
        INSERT INTO blotter_moving SELECT * FROM moved;
    END IF;
    EXECUTE format('CREATE TABLE blotter.%I PARTITION OF blotter.incidents FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    IF waiting > 0 THEN
        INSERT INTO blotter.incidents SELECT * FROM blotter_moving;
        DELETE FROM blotter_moving;
    END IF;
    RETURN part;
END
$$;

-- Create the partitions of every month from p_from to p_to (inclusive); returns how many months.
CREATE FUNCTION blotter.ensure_partitions(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m timestamp := date_trunc('month', p_from AT TIME ZONE 'UTC');
    n integer := 0;
BEGIN
    WHILE m <= p_to AT TIME ZONE 'UTC' LOOP
        PERFORM blotter.ensure_partition(m AT TIME ZONE 'UTC');
        m := m + interval '1 month';
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Move every row of the DEFAULT partition into its month's partition; returns the rows moved.
CREATE FUNCTION blotter.drain_default_partition() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    m timestamptz;
    total bigint := 0;
    n bigint;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
               FROM blotter.incidents_default LOOP
        SELECT count(*) INTO n FROM blotter.incidents_default
         WHERE occurred_at >= m AND occurred_at < ((m AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
        PERFORM blotter.ensure_partition(m);
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;
