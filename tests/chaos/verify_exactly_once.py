#!/usr/bin/env python3
"""verify_exactly_once.py — the chaos suite's ground truth, independent of beast.

Reads the table's rows (NDJSON, one stored row per line, from the
emulator's tabledata.list ?format=json), the file DLQ directory and the
output of beast-kafka-offsets ("partition low high committed" lines), and
checks, for one topic filled by a single beast-load run (message i at
partition i % P, offset i // P; invalid iff i % N == N - 1):

  final      every (partition, offset) below the high watermark (also below
             the low one: retention may have deleted what beast consumed) is in the
             table exactly once (valid messages, with seq == i) or in the
             DLQ (invalid ones, and only those); nothing else is stored
  committed  every offset below each committed offset is in the table or
             the DLQ (nothing committed ahead of what was written)
  drained    as committed, and nothing at or beyond the committed offset
             is stored either (after a clean SIGTERM: committed == written)

Prints one line of figures (key=value) and exits 1 with the first problems
on stderr when a check fails.
"""
import argparse
import collections
import glob
import json
import os
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", required=True)
    parser.add_argument("--dlq", required=True)
    parser.add_argument("--offsets", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--invalid-every", type=int, default=0)
    parser.add_argument("--mode", choices=["final", "committed", "drained"], default="final")
    args = parser.parse_args()
    parts = args.partitions
    every = args.invalid_every

    def invalid(partition, offset):
        i = offset * parts + partition
        return every > 0 and i % every == every - 1

    problems = []
    table = collections.Counter()
    with open(args.rows) as f:
        for n, line in enumerate(f, 1):
            row = json.loads(line)
            key = (row.get("message_partition"), row.get("message_offset"))
            table[key] += 1
            if row.get("message_topic") != args.topic:
                problems.append(f"table row {n}: topic {row.get('message_topic')!r}")
            if "seq" in row and key[1] is not None and row["seq"] != key[1] * parts + key[0]:
                problems.append(f"table row {n}: {key} holds seq {row['seq']}")
    dlq = collections.Counter()
    for path in glob.glob(os.path.join(args.dlq, "*.ndjson")):
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    continue  # a torn last line: never acknowledged
                row = json.loads(line)
                if row.get("topic") == args.topic:
                    dlq[(row["partition"], row["offset"])] += 1
    kafka = {}
    with open(args.offsets) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 4 and fields[0].isdigit():
                kafka[int(fields[0])] = tuple(int(x) for x in fields[1:])

    duplicates = sum(c - 1 for c in table.values() if c > 1)
    dlq_duplicates = sum(c - 1 for c in dlq.values() if c > 1)
    # Offsets below the low watermark count too: the mock keeps 5 MB per
    # partition, so a long run loses its oldest messages to retention, but
    # beast consumed them before (else they would rightly show as missing).
    expected = sum(high for _, high, _ in kafka.values())
    if args.mode == "final":
        want_table, want_dlq = set(), set()
        for p, (_, high, _) in kafka.items():
            for o in range(high):
                (want_dlq if invalid(p, o) else want_table).add((p, o))
        missing = sorted(want_table - set(table))
        extra = sorted(set(table) - want_table)
        dlq_missing = sorted(want_dlq - set(dlq))
        dlq_extra = sorted(set(dlq) - want_dlq)
        doubled = sorted(k for k, c in table.items() if c > 1)
        if missing:
            problems.append(f"{len(missing)} valid messages not in the table, e.g. {missing[:5]}")
        if extra:
            problems.append(f"{len(extra)} unexpected table rows, e.g. {extra[:5]}")
        if doubled:
            problems.append(f"{len(doubled)} offsets stored more than once, e.g. {doubled[:5]}")
        if dlq_missing:
            problems.append(f"{len(dlq_missing)} undecodable messages not in the DLQ, e.g. {dlq_missing[:5]}")
        if dlq_extra:
            problems.append(f"{len(dlq_extra)} DLQ rows for decodable messages, e.g. {dlq_extra[:5]}")
    else:
        held = set(table) | set(dlq)
        for p, (low, high, committed) in sorted(kafka.items()):
            gap = [o for o in range(max(committed, 0)) if (p, o) not in held]
            if gap:
                problems.append(
                    f"partition {p}: committed {committed} but {len(gap)} offsets below it are "
                    f"neither in the table nor in the DLQ, e.g. {gap[:5]}")
            if args.mode == "drained":
                beyond = sorted(o for (q, o) in held if q == p and o >= max(committed, 0))
                if beyond:
                    problems.append(
                        f"partition {p}: committed {committed} but {len(beyond)} offsets at or "
                        f"beyond it are stored, e.g. {beyond[:5]}")
    committed_total = sum(max(c, 0) for _, _, c in kafka.values())
    print(f"messages={expected} table_rows={sum(table.values())} distinct={len(table)} "
          f"duplicates_stored={duplicates} dlq={len(dlq)} dlq_duplicate_lines={dlq_duplicates} "
          f"committed={committed_total}")
    for problem in problems[:20]:
        print("  " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
