-- The writer, cheaper per batch; same guarantees and the same return contract as 003 and 005.
--
-- What changed:
--   * blotter_work holds no copy of the wide row: only seq, the key, what orders versions and
--     what agg_hourly and the batch announcement need, the status and the stored (old) values.
--     The row written into blotter.incidents is read from blotter_stage, joined by seq and key.
--   * The in-batch dedup (newest version of each key) runs only when the batch holds a key
--     twice: the consumer sends one version per key already (consumers/batch.c), so the usual
--     cost is one hash aggregate over the keys instead of a sort and a copy of every row.
--   * New keys are inserted into blotter.incident_keys (in key order: writers lock keys in the
--     same order, no deadlock) by the statement that fills blotter_work, which takes each key's
--     status 'i' from the insert's RETURNING; no second pass over blotter_work for them.
-- A session set up before this migration (a consumer of the previous release, still running)
-- holds the wide blotter_work, whose NOT NULL columns would refuse the narrow rows:
-- apply_staged replaces it with the narrow one.

CREATE OR REPLACE FUNCTION blotter.writer_session() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS blotter_stage (
        seq integer NOT NULL,
        LIKE blotter.incidents
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS blotter_work (
        seq                   integer NOT NULL,
        city                  text NOT NULL,
        incident_id           text NOT NULL,
        occurred_at           timestamptz NOT NULL,
        source_updated_at     timestamptz NOT NULL,
        category              text NOT NULL,
        area                  text,
        version_hash          bigint NOT NULL,
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
CREATE OR REPLACE FUNCTION blotter.apply_staged()
RETURNS TABLE (r_seq integer, r_status text, r_version_hash bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = to_regclass('pg_temp.blotter_work')
                  AND a.attname = 'attributes' AND NOT a.attisdropped) THEN
        DROP TABLE pg_temp.blotter_work;
        PERFORM blotter.writer_session();
    END IF;

    -- A key staged twice: keep its newest version only (as DISTINCT ON did in 003). Versions
    -- that compare equal are the same content; which of them stays does not matter.
    IF EXISTS (SELECT 1 FROM blotter_stage s
                GROUP BY s.city, s.incident_id HAVING count(*) > 1) THEN
        DELETE FROM blotter_stage s
         USING (SELECT t.ctid AS row_id,
                       row_number() OVER (PARTITION BY t.city, t.incident_id
                                          ORDER BY t.source_updated_at DESC,
                                                   t.version_hash DESC) AS rank
                  FROM blotter_stage t) d
         WHERE s.ctid = d.row_id AND d.rank > 1;
    END IF;

    -- Insert new keys and lock existing ones, in key order (no deadlock between writers).
    -- DO UPDATE .. WHERE false updates nothing but locks the row; RETURNING names the new keys,
    -- which are 'i'; the others (status NULL) are decided below, once locked.
    WITH ins AS (
        INSERT INTO blotter.incident_keys AS k
               (city, incident_id, occurred_at, source_updated_at, version_hash, category, area)
        SELECT s.city, s.incident_id, s.occurred_at, s.source_updated_at, s.version_hash,
               s.category, coalesce(s.area, '')
          FROM blotter_stage s
         ORDER BY s.city, s.incident_id
        ON CONFLICT (city, incident_id) DO UPDATE SET version_hash = k.version_hash WHERE false
        RETURNING k.city, k.incident_id)
    INSERT INTO blotter_work (seq, city, incident_id, occurred_at, source_updated_at, category,
                              area, version_hash, status)
    SELECT s.seq, s.city, s.incident_id, s.occurred_at, s.source_updated_at, s.category,
           s.area, s.version_hash, CASE WHEN ins.city IS NOT NULL THEN 'i' END
      FROM blotter_stage s
      LEFT JOIN ins ON ins.city = s.city AND ins.incident_id = s.incident_id;

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

    -- The wide row comes from the staging table.
    INSERT INTO blotter.incidents (city, incident_id, report_id, occurred_at, reported_at,
                                   source_updated_at, offense_code, offense, category,
                                   crime_against, area, beat, address, latitude, longitude,
                                   arrest, domestic, attributes, ingested_at, version_hash)
    SELECT s.city, s.incident_id, s.report_id, s.occurred_at, s.reported_at,
           s.source_updated_at, s.offense_code, s.offense, s.category, s.crime_against,
           s.area, s.beat, s.address, s.latitude, s.longitude, s.arrest, s.domestic,
           s.attributes, s.ingested_at, s.version_hash
      FROM blotter_work w
      JOIN blotter_stage s
        ON s.seq = w.seq AND s.city = w.city AND s.incident_id = w.incident_id
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

    -- Announced at COMMIT only: a rolled-back batch announces nothing.
    PERFORM pg_notify('blotter_incidents', p) FROM blotter.batch_payloads() AS p;

    RETURN QUERY
    SELECT w.seq, w.status,
           CASE WHEN w.status = 'n' THEN w.old_version_hash ELSE w.version_hash END
      FROM blotter_work w;
END
$$;
