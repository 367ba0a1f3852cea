#!/usr/bin/env python3
"""Counts the file exporter's records after a soak (bench/soak.sh).

Usage: soak_verify.py N FILE...   (the exporter's file and its rotated copies, in any order)

Every line must be one JSON record whose attributes.id is soak-NNNNNNN (0 <= NNNNNNN < N); prints JSON with the
number of lines, distinct ids, duplicates, missing ids, lines that are not a soak record, and the first few of
each kind of problem.
"""
import json
import re
import sys

ID = re.compile(rb'"id":"soak-(\d{7})"')


def main():
    n = int(sys.argv[1])
    seen = bytearray(n)
    lines = dupes = foreign = unparsable = 0
    examples = {"duplicate": [], "foreign": [], "unparsable": []}
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            for line in f:
                lines += 1
                ids = set(ID.findall(line))
                if not line.endswith(b"\n") or len(ids) != 1:
                    # not exactly one soak id in the line: parse it to say what it is
                    try:
                        rec = json.loads(line)
                        rid = (rec.get("attributes") or {}).get("id")
                    except ValueError:
                        unparsable += 1
                        if len(examples["unparsable"]) < 3:
                            examples["unparsable"].append(f"{path}: {line[:120]!r}")
                        continue
                    m = re.fullmatch(r"soak-(\d{7})", rid or "")
                    if not m:
                        foreign += 1
                        if len(examples["foreign"]) < 3:
                            examples["foreign"].append(str(rid))
                        continue
                    i = int(m.group(1))
                else:
                    i = int(ids.pop())
                if i >= n:
                    foreign += 1
                    continue
                if seen[i]:
                    dupes += 1
                    if len(examples["duplicate"]) < 3:
                        examples["duplicate"].append(f"soak-{i:07d}")
                seen[i] = 1
    distinct = sum(seen)
    missing = [f"soak-{i:07d}" for i in range(n) if not seen[i]][:5]
    print(json.dumps({"files": len(sys.argv) - 2, "lines": lines, "distinct_ids": distinct, "duplicates": dupes,
                      "missing": n - distinct, "first_missing": missing, "foreign": foreign,
                      "unparsable": unparsable, "examples": examples}))
    return 0 if lines == n and distinct == n else 1


if __name__ == "__main__":
    sys.exit(main())
