#!/usr/bin/python3
"""What a hostile Socrata dataset (the local server with kind=hostile) should become: every row
read with plain offset paging, each classified as the producer must (a dead letter, and which
kind, or a good row). Writes good rows to stdout as `incident_id<TAB>hex of the text field's
UTF-8` and, to stderr, one line `hostile_truth: good=N dead=M` and the count of each class.

Usage: hostile_truth.py BASE_URL CITY_FILE TEXT_FIELD MAX_ROW_BYTES"""
import collections
import json
import sys
import urllib.parse
import urllib.request


def depth(v):
    if isinstance(v, (list, dict)):
        inner = v.values() if isinstance(v, dict) else v
        return 1 + max((depth(x) for x in inner), default=0)
    return 0


def classify(row, raw_len, max_row):
    if raw_len > max_row or any(isinstance(v, str) and len(v) > max_row for v in row.values()):
        return "too_long"
    if depth(row) > 32:
        return "too_deep"
    if len(row) > 1000:
        return "too_many_fields"
    for v in row.values():
        if isinstance(v, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
                return "not_utf8_or_surrogate"
            if "\0" in v:
                return "nul"
    if len(row.get("id", "")) > 512:
        return "long_id"
    return "good"


def main():
    base, city_file, field, max_row = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    city = json.load(open(city_file))
    offset, limit = 0, 1000
    classes = collections.Counter()
    while True:
        q = urllib.parse.urlencode({"$select": ":*,*", "$order": ":id", "$limit": limit,
                                    "$offset": offset})
        with urllib.request.urlopen(f"{base}/resource/{city['dataset']}.json?{q}") as r:
            text = r.read().decode("utf-8", "surrogateescape")
        page = json.loads(text)
        for row in page:
            raw_len = len(json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass"))
            c = classify(row, raw_len, max_row)
            classes[c] += 1
            if c == "good":
                v = row.get(field)
                print(f"{row['id']}\t{v.encode('utf-8').hex() if isinstance(v, str) else ''}")
        if len(page) < limit:
            break
        offset += limit
    dead = sum(n for c, n in classes.items() if c != "good")
    print(f"hostile_truth: good={classes['good']} dead={dead} " +
          " ".join(f"{c}={n}" for c, n in sorted(classes.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
