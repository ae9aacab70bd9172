#!/usr/bin/env python3
"""The optional Grafana provisioning (dashboard/grafana/) is consistent and its SQL runs: the
JSON parses, every panel and variable uses the provisioned data source's uid, and every query,
with Grafana's macros and variables replaced by literals, runs against the warehouse as the
role it would use (READER DSN). Grafana itself is not run here.
    grafana_check.py DASHBOARD_JSON DATASOURCE_YAML READER_DSN"""
import json
import re
import subprocess
import sys

dash_path, ds_path, dsn = sys.argv[1:4]
dash = json.load(open(dash_path))
uid = re.search(r"^\s*uid:\s*(\S+)", open(ds_path).read(), re.M).group(1)
failures = 0


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL: {msg}")


def literal(sql):
    sql = re.sub(r"\$__timeGroupAlias\((\w+),\s*1h\)", r"date_trunc('hour', \1) AS time", sql)
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN '2000-01-01Z' AND '2100-01-01Z'", sql)
    sql = sql.replace("$city", "'chicago','nyc','los-angeles'").replace("$category", "'theft','assault'")
    if "$" in sql.replace("$$", ""):
        fail(f"an unreplaced macro or variable in: {sql}")
    return sql


queries = []
for v in dash["templating"]["list"]:
    if v["datasource"]["uid"] != uid:
        fail(f"variable {v['name']} uses data source {v['datasource']['uid']}, not {uid}")
    queries.append((f"variable {v['name']}", v["query"]))
for p in dash["panels"]:
    for t in p["targets"]:
        if t["datasource"]["uid"] != uid or p["datasource"]["uid"] != uid:
            fail(f"panel {p['title']} does not use data source {uid}")
        queries.append((f"panel {p['title']}", t["rawSql"]))
for name, sql in queries:
    r = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", dsn, "-c", literal(sql)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{name}: {r.stderr.strip()}")
    elif not r.stdout.strip():
        print(f"note: {name}: no rows in this warehouse (its window holds no data)")
print(f"grafana: {len(queries)} queries checked, {failures} failed")
sys.exit(1 if failures else 0)
