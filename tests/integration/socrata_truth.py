#!/usr/bin/python3
"""What a Socrata dataset currently holds, as the producer should have published it: one TSV
line per row, `incident_id<TAB>:updated_at in microseconds`, read with plain offset paging in
:id order (a second, independent way to walk the dataset).

Usage: socrata_truth.py BASE_URL CITY_FILE"""
import datetime
import json
import sys
import urllib.parse
import urllib.request


def micros(s):
    d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // \
        datetime.timedelta(microseconds=1)


def main() -> int:
    base, city_file = sys.argv[1], sys.argv[2]
    city = json.load(open(city_file))
    id_fields = city["incident_id"] if isinstance(city["incident_id"], list) else [city["incident_id"]]
    offset, limit, rows = 0, 50000, 0
    while True:
        q = urllib.parse.urlencode({"$select": ":*,*", "$order": ":id", "$limit": limit,
                                    "$offset": offset})
        with urllib.request.urlopen(f"{base}/resource/{city['dataset']}.json?{q}") as r:
            page = json.loads(r.read().decode("utf-8", "replace"))
        for row in page:
            if any(f not in row for f in id_fields):
                continue  # a malformed row: it belongs in the dead-letter topic
            iid = "-".join(str(row[f]) for f in id_fields)
            print(f"{iid}\t{micros(row[':updated_at'])}")
            rows += 1
        if len(page) < limit:
            break
        offset += limit
    print(f"socrata_truth: {rows} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
