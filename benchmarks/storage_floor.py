"""The storage floor: what DuckDB alone takes to write the rows an import stored.

    python benchmarks/storage_floor.py CASE [--repeat 3] [--json]

Reads the `events` rows of CASE into memory (Arrow, in event id order), then, --repeat times,
inserts them into a fresh DuckDB file beside CASE whose `events` table is declared exactly as
CASE's (same types and column compression: `raw` JSON with zstd), under the settings the import's
events INSERT runs with (memory limit, both cores, rows in any order), and checkpoints. No
reading of evidence, no parsing, no mapping, no duplicate check, no derived structures: the write
alone. No import that keeps these columns in DuckDB can take less on the same machine, whatever
it parses with, so the import benchmarks print it beside the parse floor: a target set as a
multiple of the parse floor can then be judged against what storing the rows costs.

Prints the median seconds and CPU-s; with --json, one JSON line for the other benchmarks.
The rows are held in memory: ~2.3 GB for 1M CloudTrail events, so cases of more than
`MAX_EVENTS` are refused.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from viewer.core.case_file import WRITE_MEMORY_LIMIT  # noqa: E402 - the import's own limit

MAX_EVENTS = 3_000_000


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load_events(case: Path) -> tuple[str, pa.Table]:
    """The `CREATE TABLE events` statement of `case` and its rows."""
    con = duckdb.connect(str(case), read_only=True)
    try:
        (count,) = con.execute("SELECT count(*) FROM events").fetchall()[0]
        if count > MAX_EVENTS:
            raise SystemExit(f"{case}: more than {MAX_EVENTS:,} events; the floor holds them all in memory")
        (ddl,) = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'events'").fetchall()[0]
        return ddl, con.sql("SELECT * FROM events ORDER BY event_id").to_arrow_table()
    finally:
        con.close()


def write_once(ddl: str, rows: pa.Table, target: Path) -> tuple[float, float]:
    """Seconds and CPU-s to insert `rows` into a fresh `events` table at `target` and checkpoint."""
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        con.execute(ddl)
        con.execute(f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'")
        con.execute(f"SET threads = {os.cpu_count() or 1}")
        con.execute("SET preserve_insertion_order = false")  # as the import's events INSERT
        con.register("floor_rows", rows)
        t, c = time.perf_counter(), _cpu()
        con.execute("INSERT INTO events SELECT * FROM floor_rows")
        con.execute("CHECKPOINT")
        return time.perf_counter() - t, _cpu() - c
    finally:
        con.close()
        for made in (target, target.with_name(target.name + ".wal")):
            made.unlink(missing_ok=True)


def measure(case: Path, repeat: int) -> tuple[float, float]:
    """Median seconds and CPU-s of `repeat` writes, measured in a fresh process (its memory and
    CPU are its own, not the calling benchmark's)."""
    out = subprocess.run(
        [sys.executable, __file__, str(case), "--repeat", str(repeat), "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON line: seconds, cpu, rows")
    args = ap.parse_args()
    ddl, rows = load_events(args.case)
    target = args.case.with_name(args.case.name + ".storage-floor.duckdb")
    runs = [write_once(ddl, rows, target) for _ in range(args.repeat)]
    secs = statistics.median(s for s, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    if args.json:
        print(json.dumps({"seconds": secs, "cpu": cpu, "rows": rows.num_rows, "runs": runs}))
    else:
        print(
            f"storage floor: {rows.num_rows:,} rows written in {secs:.2f}s median of {len(runs)} "
            f"({rows.num_rows / secs:,.0f} rows/s, {cpu:.1f} CPU-s)"
        )


if __name__ == "__main__":
    main()
