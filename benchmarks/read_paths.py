"""Read-path benchmark: timeline, paging, search, detail - against baselines from the same run.

    .venv/bin/python benchmarks/read_paths.py --events 1000000 [--case PATH] [--runs 7]

Builds a synthetic case (tests/support/synthetic_case.py) unless --case names an existing one,
builds the search index if missing, then prints the median of --runs for each read path next to
two baselines measured in the same run: a plain count(*) and the naive raw ILIKE scan (on a
sample, scaled), so ratios stay meaningful on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support.synthetic_case import build_synthetic_case  # noqa: E402

from viewer.core import paging, search_index, timeline  # noqa: E402
from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.event_detail import fetch_event  # noqa: E402
from viewer.core.event_query import EventFilter  # noqa: E402
from viewer.core.paging import EventPager  # noqa: E402
from viewer.core.timeline import bucket_counts, time_extent  # noqa: E402

COLUMNS = ["ts", "source_type", "action", "outcome", "principal_id", "src_ip", "target_id", "region"]


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up: first touch of the blocks
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def report(name: str, ms: float, note: str = "") -> None:
    print(f"{name:<48} {ms:>10.2f} ms  {note}", flush=True)


def ensure_case(args: argparse.Namespace) -> Path:
    path = Path(args.case or f"/tmp/caseline-bench-{args.events}.duckdb")
    if not path.exists():
        t = time.perf_counter()
        build_synthetic_case(path, args.events)
        print(f"built {args.events:,} events in {time.perf_counter() - t:.1f} s -> {path}", flush=True)
    return path


def ensure_index(case: CaseFile) -> None:
    cur = case.cursor()
    if search_index.is_ready(cur):
        return
    search_index.create_tables(cur)
    before = case.path.stat().st_size
    stats = search_index.build_index(cur)
    cur.execute("CHECKPOINT")
    after = case.path.stat().st_size
    per_m = stats.seconds / max(stats.events, 1) * 1e6
    print(
        f"index built: {stats.events:,} events, {stats.postings:,} postings in {stats.seconds:.1f} s "
        f"({per_m:.1f} s per 1M events); file {before / 1e6:.0f} -> {after / 1e6:.0f} MB",
        flush=True,
    )


def sizes(case: CaseFile) -> None:
    cur = case.cursor()
    for name in ("events", "search_postings", "search_terms"):
        blocks = cur.execute(
            f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('{name}')"
        ).fetchall()[0][0]
        print(f"  storage {name:<20} ~{int(blocks) * 256 / 1024:.0f} MB ({int(blocks)} blocks of 256 KB)")
    print(f"  case file {case.path.stat().st_size / 1e6:.0f} MB")


def build_persisted(case: CaseFile) -> None:
    """Rollup and anchors as two imports would leave them: all but the last ~1M events (through a
    temp view shadowing `events`), then the last ~1M incrementally. Prints seconds per 1M events."""
    cur = case.cursor()
    for stmt in timeline.DDL + paging.DDL:
        cur.execute(stmt)
    n = int(cur.execute("SELECT count(*) FROM events").fetchall()[0][0])
    tail = min(1_000_000, n // 2)
    cut = cur.execute(f"SELECT event_id FROM events ORDER BY event_id DESC LIMIT 1 OFFSET {tail}").fetchall()
    cur.execute("BEGIN")
    cur.execute("DELETE FROM timeline_rollup_state")
    cur.execute("DELETE FROM page_anchors_state")
    db = cur.execute("SELECT current_database()").fetchall()[0][0]
    cur.execute(f'CREATE TEMP VIEW events AS SELECT * FROM "{db}".main.events WHERE event_id <= {cut[0][0]}')
    first_r, first_a = timeline.update_rollup(cur), paging.update_anchors(cur)
    cur.execute("DROP VIEW temp.events")
    inc_r, inc_a = timeline.update_rollup(cur), paging.update_anchors(cur)
    cur.execute("COMMIT")
    cur.execute("CHECKPOINT")
    head = (n - tail) / 1e6
    print(
        f"  first build of {n - tail:,}: rollup {first_r:.2f} s ({first_r / head:.2f} s/1M), "
        f"anchors {first_a:.2f} s ({first_a / head:.2f} s/1M)"
    )
    print(
        f"  incremental {tail:,} into {n - tail:,}: rollup {inc_r:.2f} s ({inc_r / tail * 1e6:.2f} s/1M), "
        f"anchors {inc_a:.2f} s ({inc_a / tail * 1e6:.2f} s/1M)"
    )
    rows = cur.execute("SELECT (SELECT count(*) FROM timeline_rollup), (SELECT count(*) FROM page_anchors)")
    print("  rollup rows {:,}, anchors {:,}".format(*rows.fetchall()[0]), flush=True)


def first_timeline(path: Path, runs: int) -> None:
    """A fresh process opens the case, asks the extent and full-range buckets: what the first
    drawn timeline waits for (drawing adds ~15 ms, performance.md). Median of `runs`."""
    code = (
        "import time, datetime as dt; t0 = time.perf_counter()\n"
        "from viewer.core.case_file import CaseFile\n"
        "from viewer.core.timeline import bucket_counts, time_extent\n"
        "t1 = time.perf_counter()\n"
        f"c = CaseFile.open({str(path)!r}, read_only=True).cursor()\n"
        "a, b = time_extent(c); bucket_counts(c, a, b + dt.timedelta(seconds=1), 2000)\n"
        "print((time.perf_counter() - t1) * 1000)"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip()))
    report("fresh process: open + time_extent + full-range buckets", statistics.median(times))


def bench_timeline(case: CaseFile, cur: Any, runs: int) -> None:
    first, last = time_extent(cur)
    end = last + dt.timedelta(seconds=1)

    def plain() -> None:
        lo, hi = timeline._us(first), timeline._us(end)
        w = int(timeline.nice_bucket((end - first).total_seconds(), 2000).total_seconds() * 1e6)
        timeline._counts_sql(cur, "source_type", "true", [], lo, hi, (lo // w) * w, w)

    report("timeline full range, plain GROUP BY over events (baseline)", median_ms(plain, runs))
    report(
        "timeline full range, 2000 buckets (rollup)",
        median_ms(lambda: bucket_counts(cur, first, end, 2000), runs),
    )
    report("time_extent (unfiltered)", median_ms(lambda: time_extent(cur), runs))
    z0 = first + (last - first) / 2
    for label, span in (
        ("14 days", dt.timedelta(days=14)),
        ("3 days", dt.timedelta(days=3)),
        ("1 day", dt.timedelta(days=1)),
        ("6 h", dt.timedelta(hours=6)),
    ):
        b = bucket_counts(cur, z0, z0 + span, 2000)
        report(
            f"timeline 2000 buckets zoomed {label} ({b.bucket.total_seconds():g} s buckets)",
            median_ms(lambda s=span: bucket_counts(cur, z0, z0 + s, 2000), runs),
            "rollup" if b.bucket.total_seconds() % (timeline.GRAIN_US / 1e6) == 0 else "events",
        )
    report(
        "timeline full range, stack_by region",
        median_ms(lambda: bucket_counts(cur, first, end, 2000, stack_by="region"), runs),
    )
    filt = EventFilter(text="-outcome:success")
    report(
        "timeline full range, field filter (events)",
        median_ms(lambda: bucket_counts(cur, first, end, 2000, filt=filt), runs),
    )


def bench_pages(case: CaseFile, runs: int, filt: EventFilter, label: str) -> None:
    def fresh() -> EventPager:
        p = EventPager(case.cursor, filt, COLUMNS)
        p.prepare()
        return p

    report(f"pager prepare() [{label}]", median_ms(fresh, max(3, runs // 2)))
    if label == "unfiltered":  # the sorted pass the stored anchors replace
        old = lambda: EventPager(case.cursor, filt, COLUMNS, k=paging.DEFAULT_K).prepare()  # noqa: E731
        report("pager prepare() [unfiltered, sorted pass (baseline)]", median_ms(old, 3))
        report("prepare() + first page [unfiltered]", median_ms(lambda: fresh().page(0, 200), runs))
    pager = fresh()
    n = pager.count()
    for where, start in (("start", 0), ("middle", n // 2), ("end", max(0, n - 200))):
        report(
            f"200-row page at {where} [{label}]",
            median_ms(lambda s=start: pager.page(s, 200), runs),
            f"of {n:,}",
        )
    desc = EventPager(case.cursor, filt, COLUMNS, descending=True)
    desc.prepare()
    report(f"200-row page middle, descending [{label}]", median_ms(lambda: desc.page(n // 3, 200), runs))
    t = time_extent(case.cursor())
    mid = t[0] + (t[1] - t[0]) * 0.37
    report(f"row_of(ts) [{label}]", median_ms(lambda: pager.row_of(mid), runs))


def bench_search(cur: Any, runs: int) -> None:
    samples = {
        "rare token (event_uid)": cur.execute("SELECT event_uid FROM events LIMIT 1 OFFSET 12345").fetchall()[
            0
        ][0],
        "principal name": "mallory2",
        "ip": "203.0.113.7",
        "two words": "quarterly invoice",
        "common word (AwsApiCall)": "awsapicall",
        "prefix arn:aws:s3:::rep*": "arn:aws:s3:::rep*",
    }
    for label, q in samples.items():

        def first(q: str = q) -> Any:
            return next(iter(search_index.search(cur, q, limit=200)))

        def full(q: str = q) -> Any:
            return list(search_index.search(cur, q, limit=200))[-1]

        total = full().total
        report(f"search first hits: {label}", median_ms(first, runs), f"{total:,} hits")
        report(f"search complete:   {label}", median_ms(full, runs))


def bench_baselines(cur: Any, runs: int, n: int) -> None:
    report(
        "baseline SELECT count(*)",
        median_ms(lambda: cur.execute("SELECT count(*) FROM events").fetchall(), runs),
    )
    sample = min(n, 1_000_000)
    ms = median_ms(
        lambda: cur.execute(
            f"SELECT count(*) FROM (SELECT raw FROM events LIMIT {sample}) WHERE raw::VARCHAR ILIKE '%mallory2%'"
        ).fetchall(),
        3,
    )
    report(f"baseline raw ILIKE on {sample:,} rows", ms, f"-> ~{ms * n / sample / 1000:.1f} s for all {n:,}")
    report(
        "baseline ILIKE over 3 normalized columns",
        median_ms(
            lambda: cur.execute(
                "SELECT count(*) FROM events WHERE action ILIKE '%mallory2%' OR principal_name ILIKE '%mallory2%' "
                "OR src_ip ILIKE '%mallory2%'"
            ).fetchall(),
            3,
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--case", help="reuse (or create) this case file")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument(
        "--no-index", action="store_true", help="skip building the search index and search benches"
    )
    ap.add_argument(
        "--no-persist", action="store_true", help="do not (re)build the timeline rollup and page anchors"
    )
    args = ap.parse_args()
    path = ensure_case(args)
    if not args.no_persist:
        with CaseFile.open(path) as case:
            build_persisted(case)
    first_timeline(path, 5)
    with CaseFile.open(path) as case:
        if not args.no_index:
            ensure_index(case)
            sizes(case)
        cur = case.cursor()
        n = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        print(f"{n:,} events", flush=True)
        bench_baselines(cur, args.runs, n)
        bench_timeline(case, cur, args.runs)
        bench_pages(case, args.runs, EventFilter(), "unfiltered")
        bench_pages(
            case, args.runs, EventFilter(text="-outcome:success source:aws_cloudtrail"), "field filter"
        )
        bench_pages(case, args.runs, EventFilter(text="mallory2"), "free text")
        if search_index.is_ready(cur) and not args.no_index:
            bench_search(cur, args.runs)
        ids = [r[0] for r in cur.execute("SELECT event_id FROM events USING SAMPLE 20 ROWS").fetchall()]
        it = iter(ids * (args.runs + 2))
        report("fetch_event (random ids)", median_ms(lambda: fetch_event(cur, next(it)), args.runs))


if __name__ == "__main__":
    main()
