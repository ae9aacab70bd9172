# Shared checks of the warehouse for the consumer's integration tests. Source it after defining
# log() and fail(); it needs BLOTTER_PG_DSN and WORK (with $WORK/expect.tsv: what the feeder
# says is the newest version of every incident).

psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }

checksum() { # DSN
    psql_q "$1" -c "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
        SELECT concat_ws(',', city, incident_id, report_id, occurred_at, reported_at,
                         source_updated_at, offense_code, offense, category, crime_against, area,
                         beat, address, latitude, longitude, arrest, domestic, attributes::text,
                         version_hash) AS x FROM blotter.incidents
        UNION ALL SELECT concat_ws(',', 'k', city, incident_id, occurred_at, source_updated_at,
                         version_hash, category, area) FROM blotter.incident_keys
        UNION ALL SELECT concat_ws(',', 'a', city, hour, category, area, incidents)
          FROM blotter.agg_hourly) t"
}

# agg_hourly against a recount of blotter.incidents, and the DEFAULT partition: two lines,
# agg_mismatch=N and default_rows=N (both 0 when right).
RECOUNT_SQL="SELECT 'agg_mismatch=' || count(*) FROM (
    SELECT city, date_trunc('hour', occurred_at, 'UTC') AS hour, category,
           coalesce(area, '') AS area, count(*) AS n
      FROM blotter.incidents GROUP BY 1, 2, 3, 4) r
  FULL JOIN blotter.agg_hourly g USING (city, hour, category, area)
 WHERE g.incidents IS DISTINCT FROM r.n;
SELECT 'default_rows=' || count(*) FROM blotter.incidents_default;"

# The warehouse holds exactly the newest version of every incident the feeder produced, and
# agg_hourly equals a recount.
assert_exact() { # PHASE
    local phase=$1 out
    out=$(psql_q "$BLOTTER_PG_DSN" <<EOF
CREATE TEMP TABLE expected (city text, incident_id text, source_updated_at timestamptz,
                            version_hash bigint, category text, occurred_at timestamptz);
\copy expected FROM '$WORK/expect.tsv'
SELECT 'expected=' || count(*) FROM expected;
SELECT 'rows=' || count(*) || ' distinct=' || count(DISTINCT (city, incident_id))
  FROM blotter.incidents;
SELECT 'mismatch=' || count(*) FROM expected e FULL JOIN blotter.incidents i USING (city, incident_id)
 WHERE i.version_hash IS DISTINCT FROM e.version_hash
    OR i.source_updated_at IS DISTINCT FROM e.source_updated_at
    OR i.occurred_at IS DISTINCT FROM e.occurred_at OR i.category IS DISTINCT FROM e.category;
SELECT 'keys_mismatch=' || count(*) FROM blotter.incident_keys k
  FULL JOIN blotter.incidents i USING (city, incident_id)
 WHERE k.version_hash IS DISTINCT FROM i.version_hash OR k.occurred_at IS DISTINCT FROM i.occurred_at
    OR k.category IS DISTINCT FROM i.category OR k.area IS DISTINCT FROM coalesce(i.area, '');
$RECOUNT_SQL
EOF
    ) || {
        fail "$phase: SQL failed"
        return
    }
    local expected rows distinct
    expected=$(sed -n 's/^expected=//p' <<<"$out")
    rows=$(sed -nE 's/^rows=([0-9]+).*/\1/p' <<<"$out")
    distinct=$(sed -nE 's/.*distinct=([0-9]+)/\1/p' <<<"$out")
    log "$phase: $(tr '\n' ' ' <<<"$out")"
    [ "$rows" = "$expected" ] || fail "$phase: $rows rows, expected $expected"
    [ "$rows" = "$distinct" ] || fail "$phase: $rows rows but $distinct distinct incidents"
    grep -qx 'mismatch=0' <<<"$out" || fail "$phase: rows differ from the newest versions"
    grep -qx 'keys_mismatch=0' <<<"$out" || fail "$phase: incident_keys disagree with incidents"
    grep -qx 'agg_mismatch=0' <<<"$out" || fail "$phase: agg_hourly differs from a recount"
    grep -qx 'default_rows=0' <<<"$out" || fail "$phase: rows in the DEFAULT partition"
}

