#!/usr/bin/env python3
"""Reads a server-sent event stream saved by `curl -N` and prints its events as JSON lines:
{"id": ..., "event": ..., "data": <parsed JSON or text>}. Comments (heartbeats) are counted
on stderr. Usage: sse_events.py FILE [--after ID]"""
import json
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
after = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--after" else None
comments = 0
out = []
for block in text.split("\n\n"):
    if not block.strip():
        continue
    ev = {"id": None, "event": "message", "data": None}
    data = []
    for line in block.split("\n"):
        if line.startswith(":"):
            comments += 1
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name in ("id", "event"):
            ev[name] = value
    if not data:
        continue
    raw = "\n".join(data)
    try:
        ev["data"] = json.loads(raw)
    except ValueError:
        ev["data"] = raw
    out.append(ev)
if after is not None:
    ids = [e["id"] for e in out]
    out = out[ids.index(after) + 1:] if after in ids else []
for e in out:
    print(json.dumps(e, sort_keys=True))
print(f"comments={comments}", file=sys.stderr)
