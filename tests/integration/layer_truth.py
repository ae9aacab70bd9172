#!/usr/bin/python3
"""What an ArcGIS layer or a city's yearly CSV files currently hold, as the producer should
have published it: one TSV line per row, `incident_id<TAB>category value<TAB>occurred value`,
read independently of the producer (Python's json and csv modules; ArcGIS pages by
resultOffset, repeated ids numbered within runs of the city's repeat_key as the producer
numbers them).

Usage: layer_truth.py BASE_URL CITY_FILE [--since-ms MS --until-ms MS]"""
import csv
import datetime
import io
import json
import sys
import urllib.parse
import urllib.request


def get(url):
    with urllib.request.urlopen(url) as r:
        return r.read()


def arcgis_rows(base, city):
    src = city["source"]
    offset, rows = 0, []
    while True:
        q = urllib.parse.urlencode({"where": src.get("where", "1=1"), "outFields": "*",
                                    "outSR": "4326", "orderByFields": src["order_by"],
                                    "resultOffset": offset, "resultRecordCount": 2000,
                                    "f": "json"})
        page = json.loads(get(f"{base}{src['path']}/query?{q}"))
        feats = [f["attributes"] for f in page["features"]]
        rows += feats
        offset += len(feats)
        if not page.get("exceededTransferLimit") or not feats:
            return rows


def csv_rows(base, city):
    src = city["source"]
    known = {f.lower(): f for f in city["fields"]}
    rows = []
    for year in range(src["first_year"], datetime.date.today().year + 1):
        url = base + src["path"].replace("{year}", str(year))
        try:
            text = get(url).decode("utf-8-sig", "replace")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                continue
            raise
        for rec in csv.DictReader(io.StringIO(text, newline="")):
            rows.append({known.get(k.lower(), k): v for k, v in rec.items() if v != ""})
    return rows


def main() -> int:
    base, city_file = sys.argv[1], sys.argv[2]
    city = json.load(open(city_file))
    ids = city["incident_id"] if isinstance(city["incident_id"], list) else [city["incident_id"]]
    cat = city["category_from"]
    cats = cat if isinstance(cat, list) else [cat]
    occ = city["occurred_at"]["field"]
    kind = city["source"]["kind"]
    rows = arcgis_rows(base, city) if kind == "arcgis" else csv_rows(base, city)
    group = city["source"].get("repeat_key")
    run_start, seen, n = 0, {}, 0
    prev = object()
    for row in rows:
        if any(row.get(f) in (None, "") for f in ids):
            continue  # a malformed row: it belongs in the dead-letter topic
        key = "-".join(str(row[f]) for f in ids)
        if group:
            if row.get(group) != prev:
                seen = {}
                prev = row.get(group)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key}-{seen[key]}"
        c = next((row[f] for f in cats if row.get(f) not in (None, "")), "")
        print(f"{key}\t{c}\t{row.get(occ, '')}")
        n += 1
    print(f"layer_truth: {n} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
