#!/usr/bin/env bash
# Writes the seed corpora of tests/fuzz/corpus/<harness>/: hand-made inputs, plus sample rows,
# pages and files of every city as the local test server serves them (the real sources' shapes).
#   tests/fuzz/seeds.sh BUILD   (BUILD holds blotter-socrata-server and python3 is Debian's)
# Then `make fuzz-build` and, to keep the corpora small, each merged with -merge=1 (see
# the README's Fuzzing section). Rerun only to refresh the seeds; the committed corpora are what count.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
C=tests/fuzz/corpus
PORT=$((18200 + RANDOM % 600))
BASE=http://127.0.0.1:$PORT
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows 3 --seed 9 --log-level warn &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "$BASE/_admin/status" >/dev/null && break; sleep 0.1; done
mkdir -p $C/rowsplit $C/city_map $C/codec $C/checkpoint $C/config $C/timeutil $C/soql $C/arcgis $C/csv

# put DIR NAME [PREFIX_BYTE_OCTAL]: stdin into DIR/NAME, after one byte when given
put() {
    { [ -z "${3:-}" ] || printf "\\$3"; cat; } >"$C/$1/$2"
}

/usr/bin/python3 - "$BASE" "$C" <<'PY'
import json, sys, urllib.parse, urllib.request
base, corpus = sys.argv[1], sys.argv[2]
names = sorted(f[:-5] for f in __import__("os").listdir("producers/cities") if f.endswith(".json"))
def get(url):
    with urllib.request.urlopen(url) as r:
        return r.read()
def put(d, name, data, prefix=None):
    with open(f"{corpus}/{d}/{name}", "wb") as f:
        f.write((bytes([prefix]) if prefix is not None else b"") + data)
for i, name in enumerate(names):
    city = json.load(open(f"producers/cities/{name}.json"))
    src = city.get("source", {})
    kind = src.get("kind", "socrata")
    if kind == "socrata":
        page = get(f"{base}/resource/{city['dataset']}.json?$limit=2&$order=:id")
        put("rowsplit", f"page-{name}", page, 7)
        rows = json.loads(page)
    elif kind == "arcgis":
        q = urllib.parse.urlencode({"where": "1=1", "outFields": "*", "outSR": "4326",
                                    "orderByFields": src["order_by"], "resultOffset": 0,
                                    "resultRecordCount": 2, "f": "json"})
        page = get(f"{base}{src['path']}/query?{q}")
        put("arcgis", f"page-{name}", page)
        put("arcgis", f"layer-{name}", get(f"{base}{src['path']}?f=json"))
        doc = json.loads(page)
        rows = [f["attributes"] for f in doc["features"]]
    else:
        import datetime
        year = datetime.date.today().year
        text = None
        for y in range(year, src["first_year"] - 1, -1):
            try:
                text = get(base + src["path"].replace("{year}", str(y)))
                if text.count(b"\n") > 2:
                    break
            except Exception:
                continue
        lines = text.split(b"\n")[:3]
        put("csv", f"file-{name}", b"\n".join(lines) + b"\n", 5)
        import csv, io
        rows = [r for r in csv.DictReader(io.StringIO(b"\n".join(lines).decode("utf-8-sig")))]
    for k, row in enumerate(rows[:2]):
        put("city_map", f"row-{name}-{k}", json.dumps(row).encode(), i)

# Avro bodies of incidents (python3-avro), behind the harness's header modes 2 and 3.
import io, avro.io, avro.schema
# Timestamps as plain longs: the logical types are dropped, the encoding is the same.
doc = json.load(open("schemas/incident.avsc"))
for f in doc["fields"]:
    t = f["type"]
    if isinstance(t, dict) and "logicalType" in t:
        f["type"] = "long"
    elif isinstance(t, list):
        f["type"] = ["long" if isinstance(x, dict) and "logicalType" in x else x for x in t]
schema = avro.schema.parse(json.dumps(doc))
full = {"city": "chicago", "incident_id": "JH123456", "report_id": "r-1",
        "occurred_at": 1704067200000000, "reported_at": 1704070800000000,
        "source_updated_at": 1704074400123456, "offense_code": "0820", "offense": "THEFT $500 AND UNDER",
        "category": "theft", "crime_against": "property", "area": "25", "beat": "2533",
        "address": "0000X W MADISON ST", "latitude": 41.88, "longitude": -87.63, "arrest": False,
        "domestic": True, "attributes": {"ward": "42", "note": "\u2028 \\N NULL"},
        "ingested_at": 1704078000000000}
bare = dict(full, report_id=None, reported_at=None, offense_code=None, offense=None, area=None,
            beat=None, address=None, latitude=None, longitude=None, arrest=None, domestic=None,
            attributes={})
for label, datum in (("full", full), ("bare", bare)):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
    put("codec", f"single-{label}", buf.getvalue(), 2)
    put("codec", f"confluent-{label}", buf.getvalue(), 3)
PY
printf '\x00\xc3\x01\x8a\x8f\x25\xcc\xe7\x24\xdd\x63' | put codec wrong-fingerprint
printf '\x01\x00\x00\x00\x00\x11\x0e' | put codec confluent-short
printf '\x02\x0echicago\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01' | put codec lying-length
printf '\x03\x01' | put codec negative-length

# Hand-made: the edges the parsers must refuse or survive.
printf '\x01[]' | put rowsplit empty
printf '\x02[{"a":"\\u0000\\ud800x","b":[[[[1]]]],"c":{"d":null}} , 1, "x", [] ,{}]' | put rowsplit odd
printf '\x03[{"a":"\xff\xfe"},{"b":"\xc3\x28"}]' | put rowsplit badutf8
printf '\x04{"error":true,"message":"no"}' | put rowsplit object
printf '\x05<html>502</html>' | put rowsplit html
printf '{":id":"row-1",":updated_at":"2024-01-01T00:00:00.000Z",":created_at":"2024-01-01T00:00:00.000Z"}' |
    put city_map minimal '\000'
printf '{"a":{"b":[1,2,{"c":"d"}]},"x":1e999,"y":-0,"z":"\\u2028\\u0000"}' | put city_map odd '\001'

printf '{"updated_at":"2024-05-01T12:00:00.123Z","id":"row-1","rows":42,"saved_at":"2024-05-01T12:00:01.000Z"}' |
    put checkpoint keyset
printf '{"rows":0,"saved_at":"2024-05-01T12:00:01.000Z","state":{"offset":2000,"stamp":1714564800000}}' |
    put checkpoint state
printf '{"rows":0,"saved_at":"2024-05-01T12:00:01.000Z","state":{"files":{"2024":{"etag":"\\"x\\"","len":12}}}}' |
    put checkpoint files
printf '{"updated_at":null,"id":5,"rows":-1}' | put checkpoint wrongtypes

printf '2024-01-02T03:04:05.123456Z' | put timeutil micro
printf '2024-02-29T23:59:59+05:30' | put timeutil offset
printf '1999-12-31' | put timeutil date
printf '2024-13-40T25:61:61.9999999999-24:00' | put timeutil bad
printf '0001-01-01T00:00:00Z' | put timeutil year1
printf '9999-12-31T23:59:59.999999Z' | put timeutil year9999

printf '\001# a settings file\ncity = chicago\npage_size = 500\nsocrata_app_token = tok\nsince = 2024-01-01\n\0BLOTTER_WORKERS=3\nBLOTTER_LOG_LEVEL=debug\n' |
    put config producer
printf '\002pg_dsn = postgresql://blotter:p%%40ss@127.0.0.1:15432/blotter?sslmode=verify-full\nbatch_size=99999999999\n\0BLOTTER_REDIS_URL=redis://:pw@127.0.0.1:1/0\nBLOTTER_REPLAY=maybe\n' |
    put config consumer
printf '\004reader_pg_dsn=host=127.0.0.1 password='"'"'a b\\\\c'"'"'\ncity=a,b,,c\n  = \nnokey\n\0BLOTTER_CITY=\nBLOTTER_HTTP_LISTEN=[::1]:0\n' |
    put config dashboard
printf '\003rows = 10\nseed=-1\nlisten=127.0.0.1:99999\n\0BLOTTER_LIVE_RATE=1e3\n' | put config server

printf '*\0name = '"'"'x'"'"' AND n > 3 OR flag IS NOT NULL\0:updated_at DESC, :id\0100\0 5' | put soql where
printf 'name, count(*)\0(n >= -1.5 AND date < '"'"'2024-01-01T00:00:00'"'"') OR at > '"'"'2024-01-01T00:00:00.000Z'"'"'\0n\0\0' |
    put soql select
printf ':*, *\0:updated_at > '"'"'2024-01-01T00:00:00.000Z'"'"' OR (:updated_at = '"'"'2024-01-01T00:00:00.000Z'"'"' AND :id > '"'"'row-9'"'"')\0:updated_at,:id\050000\0' |
    put soql keyset
printf 'nope(\0name = '"'"'unterminated\0bogus ASC\0-1\0x' | put soql errors

printf '{"error":{"code":400,"message":"Invalid query","details":["x"]}}' | put arcgis error
printf '{"count":12345}' | put arcgis count
printf '{"features":[{"attributes":{"OBJECTID":1,"date":5},"geometry":{"x":-79.4,"y":43.7}},{"attributes":{"OBJECTID":1,"date":5}}],"exceededTransferLimit":true,"fields":[{"name":"OBJECTID"}]}' |
    put arcgis repeats

printf '\x02ID,"Date Occurred",Note\r\n1,2024-01-01,"a ""quoted"", multi\nline"\r\n2,,\r\n' | put csv quoted
printf '\x03\xef\xbb\xbfid,x\n1\n2,3,4\n"unterminated' | put csv ragged
printf '\x00' | put csv empty

echo "seeds: $(find $C -type f | wc -l) files, $(du -sh $C | cut -f1)"
