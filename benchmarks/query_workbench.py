"""Query workbench benchmark: aggregations, every library query, cancel, translation and completion.

    .venv/bin/python benchmarks/query_workbench.py --case PATH [--runs 5]
    .venv/bin/python benchmarks/query_workbench.py --events 1000000   # builds a synthetic case
    ... --library-dir OLD/resources/queries   # time another version of the library (before/after)
    ... --only aggregations,library,cancel,translation,completion
    ... --only library --languages kql,insights --names aws_instances_launched,aws_discovery_burst

Targets (issue #4, 10M events): typical group-by or time-bucketed aggregations under 300 ms;
every library query under 2 s; cancel takes effect within 0.5 s; completion under 100 ms;
translating any library query under 10 ms. The machine is shared, so every figure is a median
with the CPU seconds it took (process CPU, all DuckDB threads), next to same-run baselines:
`count(*)` and a full scan of one column (`count(DISTINCT action)`).
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support.synthetic_case import build_synthetic_case  # noqa: E402

from viewer.core import derived  # noqa: E402
from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.jobs import Cancelled, CancelToken  # noqa: E402
from viewer.core.query import library  # noqa: E402
from viewer.core.query.completion import gather  # noqa: E402
from viewer.core.query.runner import QueryRunner, translate  # noqa: E402

AGGREGATIONS = {
    "count by action": "SELECT action, count(*) FROM events GROUP BY action",
    "count by principal, top 20": "SELECT principal_id, count(*) n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 20",
    "events per hour (SQL time_bucket)": (
        "SELECT time_bucket(INTERVAL 1 HOUR, ts) h, count(*) FROM events GROUP BY 1 ORDER BY 1"
    ),
    "events per hour (KQL bin)": ("kql", "events | summarize count() by bin(ts, 1h) | sort by ts asc"),
    "events per hour (SQL epoch arithmetic)": (
        "SELECT make_timestamptz(epoch_us(ts) // 3600000000 * 3600000000) h, count(*) FROM events "
        "GROUP BY 1 ORDER BY 1"
    ),
    "failures per day and source (SQL time_bucket)": (
        "SELECT time_bucket(INTERVAL 1 DAY, ts) d, source_type, count(*) FROM events "
        "WHERE outcome = 'failure' GROUP BY ALL"
    ),
    "failures per day and source (KQL bin)": (
        "kql",
        "events | where outcome == 'failure' | summarize count() by bin(ts, 1d), source_type",
    ),
    "distinct IPs per principal (count DISTINCT)": (
        "SELECT principal_id, count(DISTINCT src_ip) FROM events GROUP BY 1"
    ),
    "distinct IPs per principal (two groupings)": (
        "SELECT principal_id, count(src_ip) FROM (SELECT principal_id, src_ip FROM events GROUP BY ALL) GROUP BY 1"
    ),
}


# The derived structures the queries timed here read (the inline ones, and raw_fields' rows).
# The search index too: Logs Insights `@message` filters read only the blocks it names.
QUERIED_STRUCTURES = [*(d.name for d in derived.DERIVED if d.inline), "raw_fields_build", "search_index"]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn: Callable[[], Any], runs: int, warm: bool = True) -> tuple[float, float]:
    """(median wall ms, median CPU seconds) of `runs` calls after one warm-up call."""
    if warm:
        fn()
    walls, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), cpu_seconds()
        fn()
        walls.append((time.perf_counter() - t) * 1000)
        cpus.append(cpu_seconds() - c)
    return statistics.median(walls), statistics.median(cpus)


def fmt(m: tuple[float, float]) -> str:
    return f"{m[0]:8.1f} ms  {m[1]:6.2f} CPU-s"


def baselines(cur: Any, runs: int) -> None:
    print(
        f"baseline count(*):          {fmt(measure(lambda: cur.execute('SELECT count(*) FROM events').fetchall(), runs))}"
    )
    scan = "SELECT count(DISTINCT action) FROM events"
    print(f"baseline one-column scan:   {fmt(measure(lambda: cur.execute(scan).fetchall(), runs))}")


def aggregations(runner: QueryRunner, runs: int) -> None:
    for label, query in AGGREGATIONS.items():
        lang, text = query if isinstance(query, tuple) else ("sql", query)

        def run(lang: str = lang, text: str = text) -> None:
            runner.discard(runner.run(lang, text))

        print(f"aggregation {label:46s} {fmt(measure(run, runs))}")


def library_queries(
    runner: QueryRunner, runs: int, folder: Path | None, languages: list[str], names: set[str] | None
) -> None:
    """Every language version of every library query (or those named), each timed on its own."""
    queries = library.load(folder) if folder else library.bundled()
    timed: dict[str, list[tuple[tuple[float, float], str]]] = {lang: [] for lang in languages}
    for q in queries:
        if names and q.name not in names:
            continue
        for lang in languages:
            if lang not in q.texts:
                continue

            def run(q: library.LibraryQuery = q, lang: str = lang) -> None:
                runner.discard(runner.run(lang, q.text(lang)))

            # A query over 10 s is timed once, without warm-up: the figure is what matters, not its noise.
            first = measure(run, 1, warm=False)
            m = first if first[0] > 10_000 else measure(run, max(1, runs // 2), warm=False)
            timed[lang].append((m, q.name))
            print(f"library {q.name:40s} {lang:8s} {fmt(m)}", flush=True)
    for lang, rows in timed.items():
        if not rows:
            continue
        walls = [m[0] for m, _ in rows]
        over = [n for m, n in rows if m[0] > 2000]
        slowest = max(rows)
        print(
            f"library {lang} queries ({len(rows)}): median {statistics.median(walls):.0f} ms, "
            f"slowest {slowest[1]} {slowest[0][0]:.0f} ms; over 2 s ({len(over)}): {over}"
        )


def cancel_latency(case: CaseFile, runs: int) -> None:
    """Start a heavy query on the runner's cursor in a thread, cancel it 0.3 s in, time until the
    call returns (the user's wait between pressing cancel and the editor being free)."""
    heavy = "SELECT count(DISTINCT raw::VARCHAR), count(DISTINCT src_ip || principal_id) FROM events"
    runner = QueryRunner(case)
    waits, completed = [], 0
    for _ in range(max(3, runs)):
        token = CancelToken()
        done: list[float] = []

        def work(token: CancelToken = token, done: list[float] = done) -> None:
            with contextlib.suppress(Cancelled):
                runner.discard(runner.run("sql", heavy, token))
            done.append(time.perf_counter())

        thread = threading.Thread(target=work)
        thread.start()
        time.sleep(0.3)
        pressed = time.perf_counter()
        token.cancel()
        thread.join()
        if done[0] - pressed < 0:
            completed += 1  # finished before the cancel: not a measurement
            continue
        waits.append((done[0] - pressed) * 1000)
    runner.close()
    print(
        f"cancel: median {statistics.median(waits):.1f} ms, max {max(waits):.1f} ms over {len(waits)} cancels "
        f"({completed} finished first)"
    )


def translation(runs: int) -> None:
    trans = []
    for q in library.bundled():
        for lang in ("kql", "insights"):
            if lang in q.texts:
                m = measure(lambda q=q, lang=lang: translate(lang, q.text(lang)), runs)
                trans.append((m[0], m[1] * 1000, q.name, lang))
    # Translation is single-threaded Python: its CPU time is what it costs on an idle machine.
    by_cpu = max(trans, key=lambda t: t[1])
    trans.sort(reverse=True)
    print(
        f"translation ({len(trans)} library queries): median {statistics.median(t for t, *_ in trans):.2f} ms "
        f"(CPU {statistics.median(t[1] for t in trans):.2f} ms), slowest {trans[0][2]} [{trans[0][3]}] "
        f"{trans[0][0]:.2f} ms; most CPU {by_cpu[2]} [{by_cpu[3]}] {by_cpu[1]:.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--library-dir", type=Path, help="time this folder's queries instead of the bundled ones")
    ap.add_argument("--only", default="aggregations,library,cancel,translation,completion")
    ap.add_argument("--languages", default="sql,kql,insights", help="library versions to time")
    ap.add_argument("--names", help="comma-separated library query names (default: all)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    path = Path(args.case) if args.case else Path(f"/tmp/caseline-bench/query-{args.events}.caseline")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        build_synthetic_case(path, args.events)
        with CaseFile.open(path) as case:  # the synthetic case is written directly: build what imports build
            cur = case.cursor()
            with case.transaction(cur):
                derived.update_all(cur)
    with CaseFile.open(path, read_only=True) as case:
        stale = derived.pending(case.cursor())
    if stale:  # what a user's case has once the background build ran; timing the fallbacks misleads
        with CaseFile.open(path) as case:
            started = time.perf_counter()
            timings = derived.update_deferred(case, only=QUERIED_STRUCTURES)
            print(f"built {', '.join(timings)} in {time.perf_counter() - started:.1f} s")
    case = CaseFile.open(path, read_only=True)
    cur = case.cursor()
    n = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
    print(f"case {path}: {n:,} events; derived structures pending: {derived.pending(cur)}")
    baselines(cur, args.runs)
    runner = QueryRunner(case)
    if "aggregations" in only:
        aggregations(runner, args.runs)
    if "library" in only:
        names = set(args.names.split(",")) if args.names else None
        library_queries(runner, args.runs, args.library_dir, args.languages.split(","), names)
    if "cancel" in only:
        cancel_latency(case, args.runs)
    if "translation" in only:
        translation(args.runs)
    if "completion" in only:
        m = measure(lambda: gather(cur), args.runs)
        print(f"completion words gathered: {fmt(m)} (once per case, in the background)")
        words = gather(cur)

        def popup() -> None:  # what a keystroke costs: the language's words, filtered by the prefix
            for prefix in ("re", "raw", "src", "co"):
                [w for w in words.words("sql") if w.lower().startswith(prefix)]

        print(f"completion popup (4 prefixes): {fmt(measure(popup, args.runs))}")
    baselines(cur, args.runs)  # again: the load may have changed while the rest ran


if __name__ == "__main__":
    main()
