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
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support.synthetic_case import build_synthetic_case  # noqa: E402

from viewer.core import search_index, timeline  # noqa: E402
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


def bench_timeline(cur: Any, runs: int) -> None:
    first, last = time_extent(cur)
    end = last + dt.timedelta(seconds=1)

    def cold() -> None:
        timeline._ROLLUPS.clear()  # first query of a filter: a plain group-by
        timeline._SEEN.clear()
        bucket_counts(cur, first, end, 2000)

    def build() -> None:
        timeline._ROLLUPS.clear()  # second query of a filter: builds the per-minute rollup
        bucket_counts(cur, first, end, 2000)

    report("timeline 2000 buckets full range, first (plain SQL)", median_ms(cold, runs))
    report("timeline 2000 buckets full range, second (builds rollup)", median_ms(build, runs))
    report(
        "timeline 2000 buckets full range, cached rollup",
        median_ms(lambda: bucket_counts(cur, first, end, 2000), runs),
    )
    z0 = first + (last - first) / 2
    report(
        "timeline 2000 buckets zoomed (6 h, 10 s buckets, SQL)",
        median_ms(lambda: bucket_counts(cur, z0, z0 + dt.timedelta(hours=6), 2000), runs),
    )
    report(
        "timeline 2000 buckets zoomed (3 days, cached rollup)",
        median_ms(lambda: bucket_counts(cur, z0, z0 + dt.timedelta(days=3), 2000), runs),
    )
    report(
        "timeline 2000 buckets, stack_by region",
        median_ms(lambda: bucket_counts(cur, first, end, 2000, stack_by="region"), runs),
    )


def bench_pages(case: CaseFile, runs: int, filt: EventFilter, label: str) -> None:
    def fresh() -> EventPager:
        p = EventPager(case.cursor, filt, COLUMNS)
        p.prepare()
        return p

    report(f"pager prepare() [{label}]", median_ms(fresh, max(3, runs // 2)))
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
    args = ap.parse_args()
    path = ensure_case(args)
    with CaseFile.open(path) as case:
        if not args.no_index:
            ensure_index(case)
            sizes(case)
        cur = case.cursor()
        n = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        print(f"{n:,} events", flush=True)
        bench_baselines(cur, args.runs, n)
        bench_timeline(cur, args.runs)
        bench_pages(case, args.runs, EventFilter(), "unfiltered")
        bench_pages(
            case, args.runs, EventFilter(text="-outcome:success source:aws_cloudtrail"), "field filter"
        )
        bench_pages(case, args.runs, EventFilter(text="mallory2"), "free text")
        if search_index.is_ready(cur):
            bench_search(cur, args.runs)
        ids = [r[0] for r in cur.execute("SELECT event_id FROM events USING SAMPLE 20 ROWS").fetchall()]
        it = iter(ids * (args.runs + 2))
        report("fetch_event (random ids)", median_ms(lambda: fetch_event(cur, next(it)), args.runs))


if __name__ == "__main__":
    main()
