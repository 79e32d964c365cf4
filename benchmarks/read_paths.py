"""Read-path benchmark: table pages, free-text search, event detail, timeline - with same-run baselines.

    .venv/bin/python benchmarks/read_paths.py --case /tmp/rp/c10m.caseline [--runs 7]
        [--words GetObject,user123,198.51.190.210,<a request id>,zzqxnotthere]

The targets of issue #2 at 10M events on 2 cores: any 200-row window (time-sorted or filtered,
anywhere) under 10 ms; the raw record of an event under 10 ms; free text: first rows within 500 ms,
complete within 2 s. Without --case a synthetic case is built (tests/support/synthetic_case.py).
Derived structures must be current (`caseline reindex CASE`); the case is opened read-only.

Every figure is the median of --runs. The machine is shared and noisy, so each group prints a
baseline measured in the same run: the keyset page over a ts window (what pages cost before the
persisted time order: zone maps on ts prune nothing in a delivery-ordered table), a plain
count(*), and the raw ILIKE scan free text would need without the index (on a sample, scaled).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
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

from viewer.core import derived, time_order  # noqa: E402
from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.event_detail import fetch_event, fetch_raw  # noqa: E402
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
    print(f"{name:<58} {ms:>10.2f} ms  {note}", flush=True)


def ensure_case(args: argparse.Namespace) -> Path:
    path = Path(args.case or f"/tmp/caseline-bench-{args.events}.duckdb")
    if not path.exists():
        t = time.perf_counter()
        build_synthetic_case(path, args.events)
        with CaseFile.open(path) as case:
            cur = case.cursor()
            with case.transaction(cur):
                derived.update_all(cur, deferred=True)
            cur.execute("CHECKPOINT")
        print(f"built {args.events:,} events in {time.perf_counter() - t:.1f} s -> {path}", flush=True)
    return path


def bench_pages(case: CaseFile, runs: int, label: str, filt: EventFilter) -> None:
    """What the table does: prepare, the first page, background work, then pages anywhere."""
    cur = case.cursor()
    t = time.perf_counter()
    pager = EventPager(case.cursor, filt, COLUMNS)
    pager.prepare()
    first = pager.page(0, 200)
    report(f"prepare + first page [{label}]", (time.perf_counter() - t) * 1000, f"{first.num_rows} rows")
    t = time.perf_counter()
    pager.advance(cur)
    report(f"background work (count, rows read whole) [{label}]", (time.perf_counter() - t) * 1000)
    n = pager.count()
    for where, start in (("start", 0), ("middle", n // 2), ("80%", n * 4 // 5), ("end", max(0, n - 200))):
        report(
            f"200-row page at {where} [{label}]",
            median_ms(lambda s=start: pager.page(s, 200), runs),
            f"of {n:,}",
        )
    desc = EventPager(case.cursor, filt, COLUMNS, descending=True)
    desc.advance(cur)
    report(
        f"200-row page at a third, newest first [{label}]", median_ms(lambda: desc.page(n // 3, 200), runs)
    )


def bench_page_baseline(case: CaseFile, runs: int) -> None:
    """The keyset page over a ts window that the persisted order replaced (same run)."""
    cur = case.cursor()
    order = time_order.load(cur)
    if order is None:
        print("time order missing or stale: run `caseline reindex` first")
        return
    mid = len(order.anchor_us) // 2
    lo, hi = int(order.anchor_us[mid]), int(order.anchor_us[mid + 1])
    sql = (
        f"SELECT event_id, {', '.join(COLUMNS)} FROM events WHERE ts >= make_timestamptz(?::BIGINT) "
        "AND ts < make_timestamptz(?::BIGINT) ORDER BY ts, event_id LIMIT 200 OFFSET 100"
    )
    report(
        "baseline: keyset page over a ts window (middle)",
        median_ms(lambda: cur.sql(sql, params=[lo, hi]).to_arrow_table(), runs),
    )
    report(
        "baseline: SELECT count(*)",
        median_ms(lambda: cur.execute("SELECT count(*) FROM events").fetchall(), runs),
    )


def bench_text(case: CaseFile, runs: int, word: str) -> None:
    """First rows (what the table shows first), 200 final rows, and the exact count."""
    filt = EventFilter(text=word)
    for desc in (False, True):
        firsts, pages, fulls, shown = [], [], [], []
        for _ in range(max(3, runs // 2)):
            t = time.perf_counter()
            p = EventPager(case.cursor, filt, COLUMNS, descending=desc)
            p.prepare()
            p.page(0, 200)
            firsts.append(time.perf_counter() - t)
            shown.append(p.count())
            while p.count() < 200 and not p.complete:
                p.advance(case.cursor(), seconds=0.0)
            pages.append(time.perf_counter() - t)
            while not p.complete:
                p.advance(case.cursor(), seconds=0.0)
            fulls.append(time.perf_counter() - t)
        order = "newest first" if desc else "oldest first"
        report(
            f"text '{word}' first rows, {order}", statistics.median(firsts) * 1000, f"{min(shown):,}+ rows"
        )
        report(f"text '{word}' 200 rows final, {order}", statistics.median(pages) * 1000)
        report(
            f"text '{word}' count complete, {order}", statistics.median(fulls) * 1000, f"{p.count():,} hits"
        )


def bench_text_baseline(cur: Any, n: int) -> None:
    sample = min(n, 1_000_000)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        cur.execute(
            f"SELECT count(*) FROM (SELECT raw FROM events LIMIT {sample}) WHERE raw::VARCHAR ILIKE '%user123%'"
        ).fetchall()
        times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1000
    report(f"baseline: raw ILIKE on {sample:,} rows", ms, f"-> ~{ms * n / sample / 1000:.1f} s for all {n:,}")


def bench_detail(case: CaseFile, runs: int) -> None:
    """The detail of a random event, cold (ids sampled across the case, each read once) and as in
    the app: the row was just shown in a table page, whose columns' vectors DuckDB then holds.
    fetch_raw and the baseline (the same lookup with the id as a parameter, as fetch_raw was
    written before: DuckDB prunes row groups on literals only) alternate on fresh ids."""
    cur = case.cursor()
    n = max(runs, 21)
    ids = [r[0] for r in cur.execute(f"SELECT event_id FROM events USING SAMPLE {3 * n + 6} ROWS").fetchall()]
    it = iter(ids)
    report("fetch_event (random ids)", median_ms(lambda: fetch_event(cur, next(it)), n))
    raw_t, base_t = [], []
    for _ in range(n):
        for fn, out in (
            (lambda i: fetch_raw(cur, i), raw_t),
            (lambda i: cur.execute("SELECT raw FROM events WHERE event_id = ?", [i]).fetchall(), base_t),
        ):
            i = next(it)
            t = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - t)
    report("fetch_raw: the raw record (random ids)", statistics.median(raw_t) * 1000)
    report("baseline: the same with the id as a parameter", statistics.median(base_t) * 1000)
    pager = EventPager(case.cursor, EventFilter(), COLUMNS)
    pager.prepare()
    rnd = random.Random(5)
    times = []
    for _ in range(max(runs, 21)):
        page = pager.page(rnd.randrange(max(1, pager.count() - 200)), 200)
        event_id = int(page.column("event_id")[100].as_py())
        t = time.perf_counter()
        fetch_event(cur, event_id)
        times.append(time.perf_counter() - t)
    report("fetch_event of a row of the page just shown", statistics.median(times) * 1000)


def bench_timeline(cur: Any, runs: int) -> None:
    ext = time_extent(cur)
    if ext is None:
        return
    first, last = ext
    end = last + dt.timedelta(seconds=1)
    report("timeline full range, 2000 buckets", median_ms(lambda: bucket_counts(cur, first, end, 2000), runs))
    filt = EventFilter(text="user123")
    report(
        "timeline full range, free text 'user123'",
        median_ms(lambda: bucket_counts(cur, first, end, 2000, filt=filt), max(3, runs // 2)),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="size of the synthetic case without --case")
    ap.add_argument("--case", help="an imported case with current derived structures")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument(
        "--words", default="GetObject,user123,zzqxnotthere", help="comma-separated free-text words"
    )
    ap.add_argument("--only", choices=["pages", "text", "detail", "timeline"], help="one group only")
    args = ap.parse_args()
    path = ensure_case(args)
    with CaseFile.open(path, read_only=True) as case:
        cur = case.cursor()
        n = int(cur.execute("SELECT count(*) FROM events").fetchall()[0][0])
        print(f"{n:,} events in {path}", flush=True)
        if args.only in (None, "detail"):
            bench_detail(case, args.runs)
        if args.only in (None, "pages"):
            bench_page_baseline(case, args.runs)
            for label, text in (
                ("unfiltered", ""),
                ("action:GetObject", "action:GetObject"),
                ("outcome:failure", "outcome:failure"),
            ):
                bench_pages(case, args.runs, label, EventFilter(text=text))
        if args.only in (None, "text"):
            bench_text_baseline(cur, n)
            for word in args.words.split(","):
                bench_text(case, args.runs, word)
            for word in args.words.split(",")[:3]:
                bench_pages(case, args.runs, f"text {word}", EventFilter(text=word))
        if args.only in (None, "timeline"):
            bench_timeline(cur, args.runs)


if __name__ == "__main__":
    main()
