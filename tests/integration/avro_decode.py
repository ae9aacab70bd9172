#!/usr/bin/python3
"""Decode Blotter's Kafka message values with an independent Avro implementation (Debian's
python3-avro) and compare every field with what the C side says it wrote.

Usage: avro_decode.py SCHEMA.avsc FILE.jsonl [SCHEMA_ID]
Each line of FILE: hex of the raw message value, a tab, the expected record as JSON.
Proves that any Avro consumer can read Blotter's topics given schemas/incident.avsc."""
import io
import json
import math
import sys

import avro.io
import avro.schema

EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data: bytes) -> int:
    """The Avro specification's CRC-64-AVRO, written here from its definition."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def main() -> int:
    schema_text = open(sys.argv[1]).read()
    schema = avro.schema.parse(schema_text)
    schema_id = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    reader = avro.io.DatumReader(schema)
    failures = 0
    count = 0
    for n, line in enumerate(open(sys.argv[2]), 1):
        raw_hex, expected_json = line.rstrip("\n").split("\t", 1)
        raw = bytes.fromhex(raw_hex)
        expected = json.loads(expected_json)
        if schema_id:
            assert raw[0] == 0, f"line {n}: Confluent magic byte {raw[0]}"
            assert int.from_bytes(raw[1:5], "big") == schema_id, f"line {n}: schema id"
            body = raw[5:]
        else:
            assert raw[:2] == b"\xc3\x01", f"line {n}: single-object marker {raw[:2]!r}"
            # python3-avro 1.11 leaves logicalType in its canonical form, against the
            # specification; the fingerprint is checked against the C codec's canonical form,
            # which unit tests pin to the specification's rules.
            fp = int.from_bytes(raw[2:10], "little")
            body = raw[10:]
            if n == 1:
                print(f"fingerprint 0x{fp:016x}")
        decoder = avro.io.BinaryDecoder(io.BytesIO(body))
        got = reader.read(decoder)
        for field, want in expected.items():
            have = got[field]
            if field.endswith("_at") and have is not None and not isinstance(have, int):
                # timestamp-micros decodes to a datetime: compare in microseconds
                import datetime

                epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
                have = (have - epoch) // datetime.timedelta(microseconds=1)
            if isinstance(want, float):
                ok = have is not None and math.isclose(have, want, rel_tol=0, abs_tol=1e-12)
            else:
                ok = have == want
            if not ok:
                print(f"line {n}: field {field}: python avro read {have!r}, C wrote {want!r}")
                failures += 1
        count += 1
    print(f"decoded {count} records with python3-avro; {failures} mismatches")
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
