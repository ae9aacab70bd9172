#!/usr/bin/python3
"""Hostile messages for an incidents topic, written one file per message into OUT_DIR (the
framing HEADER, hex: the first bytes of a good message of the same topic). Each file is
named NN-<class>; a file named *-null is empty (send it as a NULL value). Prints one line per
file: name, then the dead-letter reason the consumer must give (a substring).

The Avro body is encoded here by hand (the incident schema, schemas/incident.avsc), so that
lengths can lie.

Usage: hostile_messages.py HEADER_HEX OUT_DIR CITY"""
import os
import sys


def zz(n):  # zig-zag varint
    u = (n << 1) ^ (n >> 63)
    u &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = u & 0x7F
        u >>= 7
        if u:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return zz(len(b)) + b


def opt(v, enc):
    return zz(0) if v is None else zz(1) + enc(v)


def body(city, iid, area="A1", address="1 Main St", attrs=None):
    t = 1_700_000_000_000_000  # 2023-11-14
    out = s(city) + s(iid) + opt(None, s) + zz(t) + opt(None, zz) + zz(t)
    out += opt("0110", s) + opt("THEFT", s) + s("theft") + s("property")
    out += opt(area, s) + opt("B1", s) + opt(address, s)
    out += opt(None, s) + opt(None, s) + opt(None, s) + opt(None, s)
    attrs = attrs or {"k": "v"}
    out += zz(len(attrs)) + b"".join(s(k) + s(v) for k, v in attrs.items()) + zz(0)
    return out + zz(t)


def main():
    header, out_dir, city = bytes.fromhex(sys.argv[1]), sys.argv[2], sys.argv[3]
    good = header + body(city, "hostile-good")
    city_len = zz(len(city.encode()))
    rest = good[len(header) + len(city_len):]
    # A random-looking address of 60 KB: within every limit of the record, but more than a btree
    # index entry holds even compressed (the test indexes address: SQLSTATE 54000).
    import random
    rnd = random.Random(7)
    poison = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                     for _ in range(60000))
    cases = [
        ("garbage", b"this is not avro at all", "not an Avro"),
        ("fingerprint", b"\xc3\x01" + b"\x01" * 8 + good[len(header):], "unknown schema fingerprint"),
        ("truncated", good[:-7], "truncated"),
        ("lying-length", header + zz(1 << 62) + rest, "past the"),
        ("negative-length", header + zz(-5) + rest, "negative"),
        ("trailing", good + b"\x00\x02", "trailing bytes"),
        ("null", b"", "not an Avro"),
        ("long-area", header + body(city, "long-area", area="x" * 3000), "area: 3000 bytes"),
        ("long-id", header + body(city, "i" * 2800), "incident_id: 2800 bytes"),
        ("nul", header + body(city, "nul", address="a\0b"), "NUL"),
        ("poison-pill", header + body(city, "poison-pill", address=poison), "index row"),
    ]
    for i, (name, data, reason) in enumerate(cases):
        path = os.path.join(out_dir, f"{i:02d}-{name}")
        with open(path, "wb") as f:
            f.write(data)
        print(f"{os.path.basename(path)}\t{reason}")


if __name__ == "__main__":
    main()
