"""Pivot panels, actor chains and the correlation build at 1M / 10M events.

    .venv/bin/python benchmarks/pivots.py [--sizes 1m,10m] [--repeat 5] [--case-10m PATH] [--inline [PAIRS]]

1M: imports the evidence of benchmarks/ingest_cloudtrail.py (/tmp/caseline-bench), or --evidence, into a fresh
case with the entity structure left out of `derived`, then runs the entity build on it in its own
transaction, what the import's inline step does except that it reads every issuing record from
`raw` (an import parses them from its stage, `import_picks`): build wall and CPU seconds against
the import's, same run, an upper bound. With --inline it also imports again with the build (and
the stage's picks) inside the import, alternating with imports without it, and reports the median
of the pairs' differences: the real cost. 10M: the case at --case-10m (a COPY: it is modified) gets its entity
tables built as an existing case does at its first update; the import time is extrapolated from
this run's 1M import rate (said so). Then, per size: every pivot panel (top 200 by events) over
the whole case and time filters of 1 h, 90 min, 1 day, 3 days and 30 days; the actor chain of
one event with a temporary key; the `events_actor` column for one event. Medians. The machine is
shared and noisy: compare CPU seconds and ratios, not wall times across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewer.core import derived  # noqa: E402
from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.entities import actors, builder, import_picks, pivots  # noqa: E402
from viewer.core.entities.kinds import KINDS  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402

CASES = {"10m": Path("/tmp/h5/c10m.caseline")}
EVIDENCE = {"1m": Path("/tmp/caseline-bench/evidence-1000000")}
WORK = Path("/tmp/ent")


def medians_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(wall, process CPU) medians in ms; the first run warms DuckDB's caches, as a panel the
    analyst re-sorts would be."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


@contextlib.contextmanager
def clock() -> Iterator[dict[str, float]]:
    """Wall and process CPU seconds (DuckDB's and the importer's threads included)."""
    got: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    yield got
    got["wall"], got["cpu"] = time.perf_counter() - wall, time.process_time() - cpu


def import_case(size: str, with_entities: bool, tag: str = "") -> tuple[CaseFile, dict[str, float]]:
    """Import the evidence into a fresh case under /tmp/ent; returns (case, wall/cpu seconds)."""
    path = WORK / f"imported_{size}_{'with' if with_entities else 'without'}{tag}.caseline"
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    case = CaseFile.create(path)
    files = sorted(p for p in EVIDENCE[size].rglob("*") if p.is_file() and not p.name.startswith("."))
    keep, capturing = derived.DERIVED, import_picks.SOURCES
    if not with_entities:  # and without the picks the import parses for it (import_picks)
        derived.DERIVED = tuple(d for d in keep if d.name != "entities")
        import_picks.SOURCES = ()
    try:
        with clock() as took:
            import_paths(case, files)
    finally:
        derived.DERIVED, import_picks.SOURCES = keep, capturing
    return case, took


def build(case: CaseFile) -> dict[str, float]:
    """The inline step of an import, in its own transaction (and the derived version mark)."""
    cur = case.cursor()
    with clock() as took:
        with case.transaction(cur):
            derived.update_all(cur)
        cur.execute("CHECKPOINT")
    return took


def inline_cost(size: str, without: dict[str, float], pairs: int) -> None:
    """The real cost of the inline build: imports with it, each next to one without it (the first
    pair reuses the import above), alternating so that a slow spell of the shared host hits both
    sides; the ratio of each pair, then their median."""
    ratios: list[tuple[float, float]] = []
    for i in range(pairs):
        if i:
            other, without = import_case(size, with_entities=False, tag="_pairs")  # the first is open
            other.close()
        other, both = import_case(size, with_entities=True)
        other.close()
        ratios.append((both["wall"] / without["wall"] - 1, both["cpu"] / without["cpu"] - 1))
        print(
            f"pair {i + 1}: without the entity build {without['wall']:.1f} s wall, {without['cpu']:.1f} s CPU; "
            f"with it {both['wall']:.1f} s wall, {both['cpu']:.1f} s CPU: "
            f"+{ratios[-1][0]:.1%} wall, +{ratios[-1][1]:.1%} CPU"
        )
    wall = statistics.median(r[0] for r in ratios)
    cpu = statistics.median(r[1] for r in ratios)
    print(
        f"inline entity build, median of {pairs} pairs: +{wall:.1%} wall, +{cpu:.1%} CPU (target: at most 20%)"
    )


def time_filters(cur: object) -> dict[str, tuple[dt.datetime, dt.datetime] | None]:
    """The panels' time filters: none, then 1 h, 90 min, 1 day, 3 days and 30 days, none of them
    on hour or day boundaries (so each has partial edge hours)."""
    lo, hi = cur.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]  # type: ignore[attr-defined]
    mid = lo + (hi - lo) / 2
    at = mid.replace(minute=20, second=0, microsecond=0)
    day = mid.replace(minute=7, second=11, microsecond=0)
    return {
        "whole case": None,
        "1 h": (at, at + dt.timedelta(hours=1)),
        "90 min": (at, at + dt.timedelta(minutes=90)),
        "1 day": (day, day + dt.timedelta(days=1)),
        "3 days": (lo + dt.timedelta(hours=26, minutes=13), lo + dt.timedelta(days=4, hours=2, minutes=47)),
        "30 days": (lo + dt.timedelta(days=3, minutes=7, seconds=11), lo + dt.timedelta(days=33, minutes=31)),
    }


def run_size(size: str, repeat: int, rates: tuple[float, float] | None, inline: int) -> tuple[float, float]:
    """Returns (events per wall second, events per CPU second) of the 1M import."""
    print(f"\n== {size} ==")
    if size == "1m":
        case, imp = import_case(size, with_entities=False)
        cur = case.cursor()
        events = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        rates = (events / imp["wall"], events / imp["cpu"])
        label = "measured"
    else:
        case = CaseFile.open(CASES[size])
        cur = case.cursor()
        for table in builder.TABLES:  # a copy: measure the first build of an existing case
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute("DELETE FROM case_meta WHERE key = 'derived:entities'")
        events = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        if rates is None:
            raise SystemExit("10m needs the 1M import of this run (--sizes 1m,10m) or --import-rates")
        imp = {"wall": events / rates[0], "cpu": events / rates[1]}
        label = "extrapolated from this run's 1M import rate"
    took = build(case)
    print(
        f"events {events:,}; import {imp['wall']:.1f} s wall, {imp['cpu']:.1f} s CPU ({label}); "
        f"entity build {took['wall']:.1f} s wall, {took['cpu']:.1f} s CPU; "
        f"ratio wall {took['wall'] / imp['wall']:.1%}, CPU {took['cpu'] / imp['cpu']:.1%}"
    )
    if size == "1m" and inline:
        inline_cost(size, imp, inline)
    sizes = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in builder.TABLES}
    print("table rows:", ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
    spans = time_filters(cur)
    print(f"{'panel':18} " + " ".join(f"{name:>13}" for name in spans))
    print(f"{'':18} (wall / CPU ms, medians of {repeat})")
    for kind in KINDS:
        cells = [
            medians_ms(lambda r=r, k=kind.name: pivots.panel_rows(cur, k, r, limit=200), repeat)
            for r in spans.values()
        ]
        print(f"{kind.name:18} " + " ".join(f"{w:7.1f}/{c:5.1f}" for w, c in cells))
    baseline = medians_ms(
        lambda: cur.execute(
            "SELECT principal_id, count(*) n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 20"
        ).fetchall(),
        repeat,
    )
    print(
        f"baseline: plain top-20 principals GROUP BY over events {baseline[0]:.1f} ms wall, {baseline[1]:.1f} ms CPU"
    )
    probe = cur.execute(
        "SELECT credential_id FROM credential_actor ORDER BY depth DESC, credential_id LIMIT 1"
    ).fetchall()
    if probe:
        event = cur.execute(
            "SELECT max(event_id) FROM events WHERE credential_id = ?", [probe[0][0]]
        ).fetchall()[0][0]
        chain = actors.actor_chain(cur, int(event))
        ms = medians_ms(lambda: actors.actor_chain(cur, int(event)), repeat)
        print(
            f"actor chain, one event ({len(chain.hops) if chain else 0} hops): {ms[0]:.1f} ms wall, {ms[1]:.1f} ms CPU"
        )
        col = medians_ms(
            lambda: cur.execute("SELECT actor FROM events_actor WHERE event_id = ?", [int(event)]).fetchall(),
            repeat,
        )
        print(f"events_actor.actor of one event: {col[0]:.1f} ms wall, {col[1]:.1f} ms CPU")
    case.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--inline",
        type=int,
        nargs="?",
        const=3,
        default=0,
        metavar="PAIRS",
        help="also import 1M with the build inline, PAIRS times (default 3), each beside one without it",
    )
    parser.add_argument("--case-10m", type=Path, default=CASES["10m"], help="a copy of a 10M case (modified)")
    parser.add_argument(
        "--evidence",
        type=Path,
        help="evidence folder for the 1M import (default: the CloudTrail of ingest_cloudtrail.py; "
        "e.g. the VPC flow logs of ingest_aws_text.py)",
    )
    parser.add_argument("--import-rates", help="WALL,CPU events/s of an earlier 1M import (to run 10m alone)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    CASES["10m"] = args.case_10m
    if args.evidence:
        EVIDENCE["1m"] = args.evidence
    rates = tuple(float(x) for x in args.import_rates.split(",")) if args.import_rates else None
    for size in args.sizes.split(","):
        rates = run_size(size.strip(), args.repeat, rates, args.inline)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
