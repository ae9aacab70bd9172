#!/usr/bin/python3
"""Decode every message of an incidents topic with an independent Avro implementation (Debian's
python3-avro), reading kcat's output in the `-f '%R%s'` format (4-byte big-endian length, then
the value) from stdin. Writes one TSV line per message to stdout:
    incident_id  source_updated_at(us)  occurred_at(us)  category  city
and a summary to stderr. Exits non-zero when any message does not decode.

Usage: kcat -C -e -q -f '%R%s' -t TOPIC | topic_decode.py schemas/incident.avsc > out.tsv"""
import datetime
import io
import sys

import avro.io
import avro.schema

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros(v):
    if v is None or isinstance(v, int):
        return v
    return (v - EPOCH) // datetime.timedelta(microseconds=1)


def main() -> int:
    schema = avro.schema.parse(open(sys.argv[1]).read())
    reader = avro.io.DatumReader(schema)
    data = sys.stdin.buffer.read()
    pos = count = bad = 0
    fingerprints = set()
    out = sys.stdout
    while pos + 4 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big", signed=True)
        pos += 4
        if n < 0:
            continue  # a tombstone
        raw = data[pos:pos + n]
        pos += n
        count += 1
        try:
            if raw[:2] == b"\xc3\x01":
                fingerprints.add(raw[2:10].hex())
                body = raw[10:]
            elif raw[:1] == b"\x00":
                body = raw[5:]
            else:
                raise ValueError(f"unknown framing {raw[:2]!r}")
            rec = reader.read(avro.io.BinaryDecoder(io.BytesIO(body)))
        except Exception as e:  # report and count every undecodable message
            bad += 1
            print(f"message {count}: {e}", file=sys.stderr)
            continue
        out.write(f"{rec['incident_id']}\t{micros(rec['source_updated_at'])}\t"
                  f"{micros(rec['occurred_at'])}\t{rec['category']}\t{rec['city']}\n")
    print(f"python3-avro decoded {count - bad} of {count} messages "
          f"(fingerprints {sorted(fingerprints)})", file=sys.stderr)
    return 1 if bad or pos != len(data) else 0


if __name__ == "__main__":
    sys.exit(main())
