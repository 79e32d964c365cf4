"""Pivot panels, actor chains and the correlation build at 1M / 10M events.

    .venv/bin/python benchmarks/pivots.py [--sizes 1m,10m] [--repeat 5] [--import-10m]

Prints medians of: every pivot panel (top 200 by events) over the whole case, a narrow (one hour
and a half) and a wide (three days) time filter; the actor chain of one event with a temporary
key; and the correlation build time against the import time measured in the same run. The 1M
case is imported here (evidence from benchmarks/ingest_cloudtrail.py, /tmp/caseline-bench) and
the tables built inside it, as an import would. The 10M case (/tmp/rp/c10m.caseline) is only
read: the tables are built in a scratch database under /tmp/ent whose `events` is a view on the
attached case. Its import is not repeated unless --import-10m; the ratio then uses the import
rate measured at 1M in this run (said so in the output). The machine is shared: compare ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.entities import actors, builder, pivots  # noqa: E402
from viewer.core.entities.kinds import KINDS  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402

CASES = {"1m": Path("/tmp/rp/c1m.caseline"), "10m": Path("/tmp/rp/c10m.caseline")}
EVIDENCE = {
    "1m": Path("/tmp/caseline-bench/evidence-1000000"),
    "10m": Path("/tmp/caseline-bench/evidence-10000000"),
}
WORK = Path("/tmp/ent")


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def import_case(size: str) -> tuple[duckdb.DuckDBPyConnection, float]:
    """Import the evidence into a fresh case under /tmp/ent; returns (cursor, import seconds)."""
    path = WORK / f"imported_{size}.caseline"
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    case = CaseFile.create(path)
    files = [p for p in EVIDENCE[size].rglob("*.json.gz")]
    started = time.perf_counter()
    import_paths(case, files)
    return case.cursor(), time.perf_counter() - started


def attached(size: str) -> duckdb.DuckDBPyConnection:
    """A scratch database whose `events` is the read-only case's table."""
    scratch = WORK / f"scratch_{size}.duckdb"
    for p in (scratch, Path(str(scratch) + ".wal")):
        p.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH '{CASES[size]}' AS src (READ_ONLY)")
    con.execute("CREATE VIEW events AS SELECT * FROM src.events")
    return con


def build(cur: duckdb.DuckDBPyConnection) -> float:
    started = time.perf_counter()
    cur.execute("BEGIN")
    builder.update(cur)
    cur.execute("COMMIT")
    cur.execute("CHECKPOINT")
    actors.create_view(cur)
    return time.perf_counter() - started


def run_size(size: str, repeat: int, import_rate: float | None, reimport: bool) -> float | None:
    print(f"\n== {size} ==")
    if size == "1m" or reimport:
        cur, import_s = import_case(size)
        events = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        import_rate = events / import_s
        label = "measured"
    else:
        cur = attached(size)
        events = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        import_s = events / import_rate if import_rate else float("nan")
        label = "extrapolated from this run's 1M import rate"
    build_s = build(cur)
    print(
        f"events {events:,}; import {import_s:.1f} s ({label}); correlation build {build_s:.1f} s; "
        f"ratio {build_s / import_s:.1%}"
    )
    sizes = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in builder.TABLES}
    print("table rows:", ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
    lo, hi = cur.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    mid = lo + (hi - lo) / 2
    narrow = (
        mid.replace(minute=20, second=0, microsecond=0),
        mid.replace(minute=20, second=0) + dt.timedelta(minutes=90),
    )
    wide = (lo + dt.timedelta(hours=26, minutes=13), lo + dt.timedelta(days=4, hours=2, minutes=47))
    print(f"{'panel':18} {'whole case':>11} {'90 min':>9} {'3 days':>9}  (ms, median of {repeat})")
    for kind in KINDS:
        cells = [
            median_ms(lambda r=r, k=kind.name: pivots.panel_rows(cur, k, r, limit=200), repeat)
            for r in (None, narrow, wide)
        ]
        print(f"{kind.name:18} {cells[0]:11.1f} {cells[1]:9.1f} {cells[2]:9.1f}")
    baseline = median_ms(
        lambda: cur.execute(
            "SELECT principal_id, count(*) n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 20"
        ).fetchall(),
        repeat,
    )
    print(f"baseline: plain top-20 principals GROUP BY over events {baseline:.1f} ms")
    probe = cur.execute(
        "SELECT credential_id FROM credential_actor ORDER BY depth DESC, credential_id LIMIT 1"
    ).fetchall()
    if probe:
        event = cur.execute(
            "SELECT max(event_id) FROM events WHERE credential_id = ?", [probe[0][0]]
        ).fetchall()[0][0]
        chain = actors.actor_chain(cur, int(event))
        ms = median_ms(lambda: actors.actor_chain(cur, int(event)), repeat)
        print(f"actor chain, one event ({len(chain.hops) if chain else 0} hops): {ms:.1f} ms")
    return import_rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--import-10m", action="store_true", help="re-import the 10M evidence (~10 min)")
    parser.add_argument("--case-10m", type=Path, default=CASES["10m"], help="the 10M case to read")
    parser.add_argument(
        "--import-rate", type=float, help="events/s of an earlier 1M import, to run 10m alone"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    CASES["10m"] = args.case_10m
    rate = args.import_rate
    for size in args.sizes.split(","):
        rate = run_size(size.strip(), args.repeat, rate, args.import_10m)


if __name__ == "__main__":
    main()
