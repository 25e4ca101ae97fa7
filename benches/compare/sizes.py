#!/usr/bin/env python3
"""Where a store's bytes go: per section and column of its segments, per
part of its checkpoint file, and the dictionary.

    python3 benches/compare/sizes.py path/to/rollcall.db

Reads the files as docs/format.md lays them out (standard library only; it
trusts the files: run `rollcall check` first on a store you doubt). Column
bytes are split into headers, packed lows and exceptions; bits/row divides
by the rows of that section.
"""

import glob
import os
import struct
import sys

TRANSITION_COLUMNS = ["time", "seq", "client", "deployment", "state", "error"]
MEMBERSHIP_COLUMNS = ["collection", "time", "seq", "client", "change"]
CHUNK = 4096  # values per column chunk in checkpoint records


def packed(n, width):
    return (n * width + 7) // 8


def column(buf, at, n):
    """(total length, header, lows, exceptions) of the column of n values at `at`."""
    mode, width, exc_width, _, exc_count = struct.unpack_from("<BBBBI", buf, at)
    m = n if mode == 0 else n - 1
    iw = max(m - 1, 0).bit_length()
    lows = packed(m, width)
    exc = packed(exc_count, iw) + packed(exc_count, exc_width)
    return 32 + lows + exc, 32, lows, exc


def chunked(buf, at, n):
    start = at
    while n > 0:
        k = min(n, CHUNK)
        at += column(buf, at, k)[0]
        n -= k
    return at - start


def segments(db, out):
    rows = {"transitions": 0, "failures": 0, "memberships": 0}
    for path in sorted(glob.glob(os.path.join(db, "seg", "*.seg"))):
        b = open(path, "rb").read()
        footer_len, _ = struct.unpack_from("<II", b, len(b) - 16)
        fo = len(b) - 16 - footer_len
        f = struct.unpack_from("<IIQQQqqQQIIIIIQQI", b, fo)
        t_blocks, f_blocks, m_blocks, error_codes, collections, meta_offset = f[9], f[10], f[11], f[12], f[13], f[14]
        index = meta_offset + 4 * error_codes + 20 * collections
        for k in range(t_blocks + f_blocks + m_blocks):
            offset, length, n, _, _, _, _, _ = struct.unpack_from("<QIIIIIqq", b, index + 44 * k)
            section = "transitions" if k < t_blocks else "failures" if k < t_blocks + f_blocks else "memberships"
            rows[section] += n
            at = offset
            for name in MEMBERSHIP_COLUMNS if section == "memberships" else TRANSITION_COLUMNS:
                total, head, lows, exc = column(b, at, n)
                parts = out.setdefault(("segments", section, name), [0, 0, 0])
                parts[0] += head
                parts[1] += lows
                parts[2] += exc
                at += total
            out.setdefault(("segments", section, "block index"), [0, 0, 0])[0] += 44
        other = len(b) - meta_offset - 44 * (t_blocks + f_blocks + m_blocks) + 16
        out.setdefault(("segments", "file", "headers, tables, footers"), [0, 0, 0])[0] += other
    return rows


def checkpoints(db, out):
    changed = 0
    for path in glob.glob(os.path.join(db, "ckpt", "*.ckpt")):
        b = open(path, "rb").read()
        _, _, count, _ = struct.unpack_from("<8sIII", b, 0)
        out.setdefault(("checkpoints", "file", "header"), [0, 0, 0])[0] += 20
        at = 20
        for _ in range(count):
            _, _, clients, kind, body_len = struct.unpack_from("<IqIB3xI", b, at)
            body = at + 24
            frame = ("checkpoints", "all records", "record headers and crcs")
            out.setdefault(frame, [0, 0, 0])[0] += 28
            if kind == 0:
                states = packed(clients, 3)
                out.setdefault(("checkpoints", "full records", "states"), [0, 0, 0])[1] += states
                out.setdefault(("checkpoints", "full records", "times"), [0, 0, 0])[1] += body_len - states
            elif kind == 1:
                (n,) = struct.unpack_from("<I", b, body)
                changed += n
                ids = 4 + chunked(b, body + 4, n)
                states = packed(n, 3)
                out.setdefault(("checkpoints", "delta records", "changed client ids"), [0, 0, 0])[1] += ids
                out.setdefault(("checkpoints", "delta records", "states"), [0, 0, 0])[1] += states
                out.setdefault(("checkpoints", "delta records", "times"), [0, 0, 0])[1] += body_len - ids - states
            elif kind == 2:
                out.setdefault(("checkpoints", "failure rollup", "body"), [0, 0, 0])[1] += body_len
            elif kind == 3:
                out.setdefault(("checkpoints", "membership snapshots", "body"), [0, 0, 0])[1] += body_len
            at = body + body_len + 4
    return changed


def main():
    db = sys.argv[1] if len(sys.argv) > 1 else "rollcall.db"
    out = {}
    rows = segments(db, out)
    changed = checkpoints(db, out)
    dict_bytes = sum(os.path.getsize(p) for p in glob.glob(os.path.join(db, "*.dict")))
    out[("dictionary", "names", "file")] = [0, dict_bytes, 0]
    transitions = rows["transitions"]
    total = sum(sum(v) for v in out.values())
    print(f"{transitions:,} transitions; {total / 1e6:.1f} MB = {total / max(transitions, 1):.2f} B/transition "
          f"(segments, checkpoints, dictionary; not the manifest or WAL)")
    print(f"checkpoint delta records list {changed:,} changed clients in all")
    print(f"{'file':12} {'part':22} {'what':26} {'MB':>8} {'B/tr':>6} {'bits/row':>9}  headers / lows / exceptions MB")
    for (kind, part, what), (head, lows, exc) in sorted(out.items()):
        size = head + lows + exc
        per_row = ""
        if kind == "segments" and part in rows and rows[part]:
            per_row = f"{8 * size / rows[part]:9.2f}"
        print(f"{kind:12} {part:22} {what:26} {size / 1e6:8.2f} {size / max(transitions, 1):6.2f} {per_row:>9}  "
              f"{head / 1e6:.2f} / {lows / 1e6:.2f} / {exc / 1e6:.2f}")


if __name__ == "__main__":
    main()
