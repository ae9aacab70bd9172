#!/usr/bin/env python3
"""Checks every endpoint of blotter-dashboard's API against recounts over blotter.incidents.

    dashboard_api_check.py BASE_URL DSN

Prints one line per check and exits 1 when any failed. The recounts read blotter.incidents
directly (never agg_hourly or city_stats), so an aggregate that drifted, a time zone mistake or
a filter that is ignored shows up as a difference."""
import csv
import io
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, DSN = sys.argv[1], sys.argv[2]
failures = 0
checks = 0
ZONES = {"chicago": "America/Chicago", "los-angeles": "America/Los_Angeles",
         "nyc": "America/New_York", "seattle": "America/Los_Angeles"}


def check(ok, what):
    global failures, checks
    checks += 1
    if not ok:
        failures += 1
        print(f"FAIL: {what}")


def get(path, **params):
    q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    url = f"{BASE}/api/v1/{path}" + (f"?{q}" if q else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if "json" in r.headers["Content-Type"] else body)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def sql(query, *args):
    """Rows of a query; psql variables :'a1'.. carry the arguments (quoted by psql)."""
    cmd = ["psql", "-X", "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1", DSN]
    for i, a in enumerate(args, 1):
        cmd += ["-v", f"a{i}={a}"]
    out = subprocess.run(cmd, input=query, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def ok(path, **params):
    status, body = get(path, **params)
    check(status == 200, f"{path} {params}: HTTP {status} {body if status != 200 else ''}")
    return body if status == 200 else None


cities = [r[0] for r in sql("SELECT DISTINCT city FROM blotter.incidents ORDER BY 1")]
print(f"cities with data: {cities}")

# ---- summary ----
s = ok("summary")
by_city = {c["city"]: c for c in s["cities"]}
for city in cities:
    n, n24, n7, newest, upd = sql("""
        SELECT count(*),
               count(*) FILTER (WHERE date_trunc('hour', occurred_at) > now() - interval '24 hours'),
               count(*) FILTER (WHERE date_trunc('hour', occurred_at) > now() - interval '7 days'),
               to_char(max(occurred_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               to_char(max(source_updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
          FROM blotter.incidents WHERE city = :'a1'""", city)[0]
    c = by_city.get(city, {})
    check(c.get("incidents") == int(n), f"summary {city}: incidents {c.get('incidents')} != {n}")
    check(c.get("last_24h") == int(n24), f"summary {city}: last_24h {c.get('last_24h')} != {n24}")
    check(c.get("last_7d") == int(n7), f"summary {city}: last_7d {c.get('last_7d')} != {n7}")
    check(c.get("newest_occurred_at") == newest, f"summary {city}: newest {c.get('newest_occurred_at')} != {newest}")
    check(c.get("newest_source_updated_at") == upd, f"summary {city}: newest update {c.get('newest_source_updated_at')} != {upd}")
    check(c.get("time_zone") == ZONES.get(city, c.get("time_zone")), f"summary {city}: zone {c.get('time_zone')}")
drift = sql("""SELECT count(*) FROM blotter.city_stats s FULL JOIN
               (SELECT city, count(*) AS n, max(source_updated_at) AS u FROM blotter.incidents GROUP BY city) r
               USING (city) WHERE s.incidents IS DISTINCT FROM r.n OR s.newest_source_updated_at IS DISTINCT FROM r.u""")
check(drift[0][0] == "0", f"blotter.city_stats differs from a recount in {drift[0][0]} cities")
check(get("summary", city="chicago")[1]["cities"][0]["city"] == "chicago", "summary?city=chicago")

# ---- breakdown ----
KEYS = {"category": "category", "crime_against": "crime_against", "area": "coalesce(area, '')",
        "offense": "coalesce(offense, '')"}
FROM, TO = "2024-03-01T00:00:00Z", "2025-09-01T00:00:00Z"
for by, key in KEYS.items():
    for city in [None, "chicago"]:
        for category in [None, "theft"]:
            b = ok("breakdown", city=city, by=by, category=category, **{"from": FROM, "to": TO}, limit=1000)
            if b is None:
                continue
            rows = sql(f"""SELECT {key}, count(*) FROM blotter.incidents
                            WHERE (:'a1' = '' OR city = :'a1') AND (:'a2' = '' OR category = :'a2')
                              AND occurred_at >= :'a3' AND occurred_at < :'a4'
                            GROUP BY 1 ORDER BY 2 DESC, 1""", city or "", category or "", FROM, TO)
            want = {k: int(n) for k, n in rows}
            got = {r["key"]: r["incidents"] for r in b["rows"]}
            check(got == want, f"breakdown by={by} city={city} category={category}: {len(got)} keys, want {len(want)}")
            check(b["total"] == sum(want.values()), f"breakdown by={by} city={city} total")
            check(b["from"] == FROM and b["to"] == TO, f"breakdown echo {b['from']} {b['to']}")
b = ok("breakdown", by="offense", limit=3, **{"from": FROM, "to": TO})
check(len(b["rows"]) == 3 and b["keys"] > 3, "breakdown limit=3 keeps the three largest")

# ---- trend, in the city's local days ----
for city in ["los-angeles", "chicago"]:
    zone = ZONES[city]
    t = ok("trend", city=city, bucket="day", **{"from": "2024-11-01", "to": "2025-02-01"})
    want = dict(sql("""SELECT to_char((occurred_at AT TIME ZONE :'a2')::date, 'YYYY-MM-DD'), count(*)
                         FROM blotter.incidents WHERE city = :'a1'
                          AND occurred_at >= ('2024-11-01'::timestamp AT TIME ZONE :'a2')
                          AND occurred_at < ('2025-02-01'::timestamp AT TIME ZONE :'a2')
                        GROUP BY 1""", city, zone))
    got = {p["t"]: p["incidents"] for p in t["points"]}
    check(len(t["points"]) == 92, f"trend {city}: {len(t['points'])} days listed, want 92 (zeros included)")
    check({k: v for k, v in got.items() if v} == {k: int(v) for k, v in want.items()},
          f"trend {city} by local day differs from the recount")
    utc = dict(sql("""SELECT to_char((occurred_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), count(*)
                        FROM blotter.incidents WHERE city = :'a1'
                         AND occurred_at >= ('2024-11-01'::timestamp AT TIME ZONE :'a2')
                         AND occurred_at < ('2025-02-01'::timestamp AT TIME ZONE :'a2')
                       GROUP BY 1""", city, zone))
    check({k: int(v) for k, v in utc.items()} != {k: int(v) for k, v in want.items()},
          f"trend {city}: the UTC days equal the local days, so this check proves nothing")
    check(t["from"] == ("2024-11-01T07:00:00Z" if city == "los-angeles" else "2024-11-01T05:00:00Z"),
          f"trend {city}: from {t['from']} is not local midnight")
t = ok("trend", bucket="month", category="assault", **{"from": "2024-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"})
want = sql("""SELECT count(*) FROM blotter.incidents WHERE category = 'assault'
               AND occurred_at >= '2024-01-01T00:00:00Z' AND occurred_at < '2025-01-01T00:00:00Z'""")
check(t["total"] == int(want[0][0]), f"trend month total {t['total']} != {want[0][0]}")
prev = sql("""SELECT count(*) FROM blotter.incidents WHERE category = 'assault'
               AND occurred_at >= timestamptz '2024-01-01Z' - (timestamptz '2025-01-01Z' - timestamptz '2024-01-01Z')
               AND occurred_at < '2024-01-01T00:00:00Z'""")  # the same span (366 days) just before
check(t["previous_total"] == int(prev[0][0]), f"trend previous_total {t['previous_total']} != {prev[0][0]}")

# ---- heatmap, local hours; the fixed view agrees ----
for city in ["nyc", "los-angeles"]:
    zone = ZONES[city]
    h = ok("heatmap", city=city, **{"from": "2000-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"})
    got = {(c["weekday"], c["hour"]): c["incidents"] for c in h["cells"] if c["incidents"]}
    want = {(int(d), int(hr)): int(n) for d, hr, n in sql("""
        SELECT extract(isodow FROM occurred_at AT TIME ZONE :'a2'), extract(hour FROM occurred_at AT TIME ZONE :'a2'),
               count(*) FROM blotter.incidents WHERE city = :'a1' GROUP BY 1, 2""", city, zone)}
    check(len(h["cells"]) == 168, f"heatmap {city}: {len(h['cells'])} cells")
    check(got == want, f"heatmap {city} differs from a recount in local time")
    view = {(int(d), int(hr)): int(n) for d, hr, n in sql(
        "SELECT weekday, hour_of_day, incidents FROM blotter.hour_by_weekday WHERE city = :'a1'", city)}
    check(view == want, f"blotter.hour_by_weekday {city} is not in local time")

# ---- compare ----
cmp = ok("compare", cities=",".join(cities), **{"from": FROM, "to": TO})
for c in cmp["cities"]:
    want = dict(sql("""SELECT category, count(*) FROM blotter.incidents WHERE city = :'a1'
                        AND occurred_at >= :'a2' AND occurred_at < :'a3' GROUP BY 1""", c["city"], FROM, TO))
    total = sum(int(v) for v in want.values())
    check(c["total"] == total, f"compare {c['city']} total {c['total']} != {total}")
    for cat, v in c["categories"].items():
        n = int(want.get(cat, 0))
        check(v["incidents"] == n, f"compare {c['city']} {cat}: {v['incidents']} != {n}")
        check(abs(v["share"] - (n / total if total else 0)) < 0.00006, f"compare {c['city']} {cat} share")
check([c["city"] for c in cmp["cities"]] == sorted(cities), "compare lists the cities asked for")

# ---- incidents: keyset paging through a whole city, filters, CSV ----
seen, cursor, pages = [], None, 0
while True:
    page = ok("incidents", city="chicago", limit=400, cursor=cursor)
    seen += [(r["occurred_at"], r["incident_id"]) for r in page["rows"]]
    pages += 1
    cursor = page["next_cursor"]
    if not cursor or pages > 100:
        break
want = sql("""SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), incident_id
                FROM blotter.incidents WHERE city = 'chicago' ORDER BY occurred_at DESC, incident_id DESC""")
check(seen == [tuple(r) for r in want], f"incidents paging: {len(seen)} rows in {pages} pages, want {len(want)} in order")
bbox = "41.8,-87.8,41.9,-87.6"
inside = ok("incidents", city="chicago", bbox=bbox, limit=5000, category="theft")
n = sql("""SELECT count(*) FROM blotter.incidents WHERE city = 'chicago' AND category = 'theft'
            AND latitude BETWEEN 41.8 AND 41.9 AND longitude BETWEEN -87.8 AND -87.6""")[0][0]
check(len(inside["rows"]) == int(n) and int(n) > 0, f"incidents bbox: {len(inside['rows'])} != {n}")
local = ok("incidents", city="los-angeles", limit=5000, **{"from": "2025-01-01", "to": "2025-01-08"})
n = sql("""SELECT count(*) FROM blotter.incidents WHERE city = 'los-angeles'
            AND occurred_at >= '2025-01-01 00:00 America/Los_Angeles' AND occurred_at < '2025-01-08 00:00 America/Los_Angeles'""")[0][0]
check(len(local["rows"]) == int(n), f"incidents local range: {len(local['rows'])} != {n}")
check(all(r["occurred_local"] >= "2025-01-01" and r["occurred_local"] < "2025-01-08" for r in local["rows"]),
      "incidents occurred_local is the city's wall time")
status, text = get("incidents.csv", city="nyc", limit=2500)
rows = list(csv.reader(io.StringIO(text)))
n = min(2500, int(sql("SELECT count(*) FROM blotter.incidents WHERE city = 'nyc'")[0][0]))
check(status == 200 and rows[0][:3] == ["city", "incident_id", "report_id"], "incidents.csv header")
check(len(rows) - 1 == n and len({r[1] for r in rows[1:]}) == n, f"incidents.csv: {len(rows) - 1} rows, want {n} distinct")

# ---- bad parameters: 400 naming the parameter ----
BAD = [("breakdown", {"by": "colour"}, "by"), ("breakdown", {"limit": "0"}, "limit"),
       ("breakdown", {"city": "Chicago;--"}, "city"), ("breakdown", {"city": "atlantis"}, "city"),
       ("trend", {"bucket": "fortnight"}, "bucket"), ("trend", {"from": "yesterday"}, "from"),
       ("trend", {"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}, "to"),
       ("trend", {"bucket": "hour", "from": "1990-01-01T00:00:00Z"}, "bucket"),
       ("heatmap", {"category": "jaywalking"}, "category"), ("compare", {"cities": "nyc,,x"}, "cities"),
       ("incidents", {"bbox": "1,2,3"}, "bbox"), ("incidents", {"cursor": "xyz"}, "cursor"),
       ("incidents", {"limit": "100000"}, "limit"), ("summary", {"colour": "red"}, "colour"),
       ("incidents.csv", {"to": "2025-13-01"}, "to")]
for path, params, name in BAD:
    status, body = get(path, **params)
    check(status == 400 and body.get("parameter") == name and body.get("error"),
          f"{path} {params}: want 400 naming {name}, got {status} {body}")
status, body = get("nothing")
check(status == 404, f"unknown endpoint: {status}")

print(f"{checks} checks, {failures} failed")
sys.exit(1 if failures else 0)
