"""Query workbench benchmark: aggregations, every library query, translation and completion.

    .venv/bin/python benchmarks/query_workbench.py --case PATH [--runs 5]
    .venv/bin/python benchmarks/query_workbench.py --events 1000000   # builds a synthetic case

Targets (issue #4, 10M events): typical group-by or time-bucketed aggregations under 300 ms;
every library query under 2 s; completion under 100 ms; translating any library query under
10 ms. A plain `count(*)` and a full scan of one column (`count(DISTINCT action)`) are printed as
same-run baselines, since the machine is shared.
"""

from __future__ import annotations

import argparse
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

from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.query import library  # noqa: E402
from viewer.core.query.completion import gather  # noqa: E402
from viewer.core.query.runner import QueryRunner, translate  # noqa: E402

AGGREGATIONS = {
    "count by action": "SELECT action, count(*) FROM events GROUP BY action",
    "count by principal, top 20": "SELECT principal_id, count(*) n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 20",
    "events per hour": "SELECT time_bucket(INTERVAL 1 HOUR, ts) h, count(*) FROM events GROUP BY 1 ORDER BY 1",
    "failures per day and source": (
        "SELECT time_bucket(INTERVAL 1 DAY, ts) d, source_type, count(*) FROM events "
        "WHERE outcome = 'failure' GROUP BY ALL"
    ),
    "distinct IPs per principal": "SELECT principal_id, count(DISTINCT src_ip) FROM events GROUP BY 1",
}


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    path = Path(args.case) if args.case else Path(f"/tmp/caseline-bench/query-{args.events}.caseline")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        build_synthetic_case(path, args.events)
    case = CaseFile.open(path, read_only=True)
    cur = case.cursor()
    n = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
    print(f"case {path}: {n:,} events")
    print(
        f"baseline count(*): {median_ms(lambda: cur.execute('SELECT count(*) FROM events').fetchall(), args.runs):.1f} ms"
    )
    scan = "SELECT count(DISTINCT action) FROM events"
    print(f"baseline one-column scan: {median_ms(lambda: cur.execute(scan).fetchall(), args.runs):.1f} ms")
    for label, sql in AGGREGATIONS.items():
        print(
            f"aggregation {label}: {median_ms(lambda sql=sql: cur.execute(sql).fetchall(), args.runs):.1f} ms"
        )
    runner = QueryRunner(case)
    slow = []
    for q in library.bundled():

        def run(q: library.LibraryQuery = q) -> None:
            res = runner.run("sql", q.text("sql"))
            runner.discard(res)

        ms = median_ms(run, max(1, args.runs // 2))
        slow.append((ms, q.name))
    slow.sort(reverse=True)
    print(
        f"library SQL queries ({len(slow)}): median {statistics.median(m for m, _ in slow):.0f} ms, "
        f"slowest {slow[0][1]} {slow[0][0]:.0f} ms; over 2 s: {[x for _, x in slow if _ > 2000]}"
    )
    trans = []
    for q in library.bundled():
        for lang in ("kql", "insights"):
            if lang in q.texts:
                try:
                    trans.append(
                        (
                            median_ms(lambda q=q, lang=lang: translate(lang, q.text(lang)), args.runs),
                            q.name,
                            lang,
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
                    print(f"  cannot translate {q.name} [{lang}]: {exc}")
    if trans:
        trans.sort(reverse=True)
        print(
            f"translation ({len(trans)} library queries): median {statistics.median(t for t, *_ in trans):.2f} ms, "
            f"slowest {trans[0][1]} [{trans[0][2]}] {trans[0][0]:.2f} ms"
        )
    print(
        f"completion words gathered: {median_ms(lambda: gather(cur), args.runs):.0f} ms (once per case, in the background)"
    )


if __name__ == "__main__":
    main()
