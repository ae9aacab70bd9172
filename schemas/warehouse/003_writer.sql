-- The warehouse writer: one batch = COPY into a session's temp staging table, then one call of
-- blotter.apply_staged(), all in one transaction.
--
-- Version order (total): a version A is newer than B when
--     (A.source_updated_at, A.version_hash) > (B.source_updated_at, B.version_hash)
-- compared as a row: the source's update time first, then the content fingerprint (a signed
-- bigint, compared as such) as the tie-break of two contents carrying the same update time.
-- Equal pairs are the same version. Only a strictly newer version replaces the stored one.
--
-- Concurrency: two writers (replicas) lock the keys of their batches in (city, incident_id) order
-- through one INSERT .. ON CONFLICT pass, then the agg_hourly rows in (city, hour, category, area)
-- order, so they wait on each other but never deadlock.

-- A random id of this warehouse: the Redis seen-set is namespaced by it, so a seen-set filled
-- for one warehouse is never trusted by another (a rebuild into an empty database, a test run).
CREATE TABLE blotter.warehouse (
    id         text        NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    single     boolean     NOT NULL DEFAULT true PRIMARY KEY CHECK (single)
);
INSERT INTO blotter.warehouse DEFAULT VALUES;

-- Create the writer's temp tables of this session (once per connection).
CREATE FUNCTION blotter.writer_session() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS blotter_stage (
        seq integer NOT NULL,
        LIKE blotter.incidents
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS blotter_work (
        seq                   integer NOT NULL,
        LIKE blotter.incidents,
        status                text,
        old_occurred_at       timestamptz,
        old_source_updated_at timestamptz,
        old_version_hash      bigint,
        old_category          text,
        old_area              text
    ) ON COMMIT DELETE ROWS;
END
$$;

-- Apply the staged batch. Returns one row per key kept after the in-batch dedup: its seq, its
-- status ('i' inserted, 'u' updated to this version, 'n' unchanged: the stored version is the
-- same or newer) and the version_hash the warehouse holds for the key afterwards.
-- The month partitions of the batch must exist already (blotter.ensure_partition).
CREATE FUNCTION blotter.apply_staged()
RETURNS TABLE (r_seq integer, r_status text, r_version_hash bigint)
LANGUAGE plpgsql AS $$
BEGIN
    -- The newest version of each key in the batch.
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

    -- Insert new keys and lock existing ones, in key order (no deadlock between writers).
    -- DO UPDATE .. WHERE false updates nothing but locks the row; RETURNING names the new keys.
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

    -- Existing keys (locked now): what is stored, and whether the batch's version is newer.
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

    -- Replace changed rows: the old row may sit in another month's partition.
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

    -- Aggregates by deltas: +1 for each written version, -1 for each replaced one; groups in
    -- key order; a group reaching 0 is deleted.
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

    RETURN QUERY
    SELECT w.seq, w.status,
           CASE WHEN w.status = 'n' THEN w.old_version_hash ELSE w.version_hash END
      FROM blotter_work w;
END
$$;
