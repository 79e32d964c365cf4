"""Free-text index benchmark: build cost, size and search latency against a raw scan, in one run.

    python benchmarks/search_index.py [--events 1000000] [--repeat 5] [--workdir /tmp/caseline-bench]
                                      [--case an-imported.caseline] [--evidence folder]

Generates realistic CloudTrail evidence with `ingest_cloudtrail.generate` (cached in the work
folder, shared with that benchmark), imports it with `import_paths` (or copies --case, an already
imported case of the same evidence, to save the import), drops any search index in the copy, then
prints:
  * the index build (`update_index` in a transaction, as the import calls it): seconds per 1M
    events, and its size against the gzipped evidence;
  * medians of `search()` first hits / complete for a rare token, a principal name, an IP, two
    words, a very common word and a prefix;
  * the baseline: ILIKE over the raw JSON for the rare token, in the same run.
The machine is shared and noisy: compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from ingest_cloudtrail import generate  # noqa: E402

from viewer.core import search_index  # noqa: E402
from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402

OLD_AND_NEW_TABLES = (
    "search_postings",
    "search_terms",
    "search_index_batches",
    "search_blocks",
    "search_block_terms",
)


def _storage_mb(cur: object, table: str) -> float:
    """Bytes DuckDB's blocks hold for a table (256 KB blocks), a file-size-independent measure."""
    rows = cur.execute(  # type: ignore[attr-defined]
        f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('{table}') WHERE block_id >= 0"
    ).fetchall()
    return rows[0][0] * 262144 / 1e6


def prepare_case(args: argparse.Namespace, evidence: Path) -> Path:
    case_path = args.workdir / f"search-{args.events}.caseline"
    for p in (case_path, Path(str(case_path) + ".wal")):
        p.unlink(missing_ok=True)
    if args.case:
        shutil.copyfile(args.case, case_path)
        print(f"case copied from {args.case}")
    else:
        case = CaseFile.create(case_path)
        t = time.perf_counter()
        import_paths(case, [str(evidence)])
        print(f"import: {time.perf_counter() - t:.1f} s")
        case.close()
    with CaseFile.open(case_path) as case:
        cur = case.cursor()
        for table in OLD_AND_NEW_TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute("CHECKPOINT")
    return case_path


def build(case_path: Path, gz_bytes: int) -> None:
    with CaseFile.open(case_path) as case:
        cur = case.cursor()
        events = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        search_index.create_tables(cur)
        t = time.perf_counter()
        with case.transaction(cur):
            stats = search_index.update_index(cur)
        secs = time.perf_counter() - t
        cur.execute("CHECKPOINT")
        sizes = {tbl: _storage_mb(cur, tbl) for tbl in ("events", "search_blocks", "search_block_terms")}
    index_mb = sizes["search_blocks"] + sizes["search_block_terms"]
    print(
        f"index build: {events:,} events, {stats.blocks:,} blocks, {stats.terms:,} block terms in {secs:.1f} s "
        f"= {secs * 1e6 / events:.1f} s per 1M events"
    )
    print(
        f"sizes: events {sizes['events']:.0f} MB, index {index_mb:.1f} MB = {index_mb * 1e6 / gz_bytes:.2f}x "
        f"the gzipped evidence ({gz_bytes / 1e6:.0f} MB); case file {case_path.stat().st_size / 1e6:.0f} MB"
    )


def queries(cur: object) -> dict[str, str]:
    """Query words taken from the case itself so they exist whatever the generator's seed."""
    mid = cur.execute(  # type: ignore[attr-defined]
        "SELECT json_extract_string(raw, '$.requestID'), src_ip, principal_name FROM events "
        "WHERE event_id = (SELECT quantile_disc(event_id, 0.5) FROM events)"
    ).fetchall()[0]
    return {
        "rare token (requestID)": mid[0],
        "principal name": mid[2],
        "ip": mid[1],
        "two words": f"{mid[2]} GetObject",
        "very common word": "AwsApiCall",
        "prefix": f"{mid[2][:-1]}*",
    }


def _timed_search(cur: object, text: str) -> tuple[float, float, int, int]:
    t = time.perf_counter()
    first = total = None
    first_n = 0
    for msg in search_index.search(cur, text, limit=200):  # type: ignore[arg-type]
        if first is None:
            first, first_n = time.perf_counter() - t, len(msg.event_ids)
        if msg.done:
            total = msg.total
    assert first is not None and total is not None
    return first, time.perf_counter() - t, first_n, total


def measure(case_path: Path, repeat: int) -> None:
    with CaseFile.open(case_path, read_only=True) as case:
        cur = case.cursor()
        assert search_index.is_ready(cur)
        qs = queries(cur)
        for label, text in qs.items():
            runs = [_timed_search(cur, text) for _ in range(repeat)]
            f = statistics.median(r[0] for r in runs) * 1000
            c = statistics.median(r[1] for r in runs) * 1000
            print(
                f"search {label:24s} {text!r:28s} first {f:8.1f} ms  complete {c:8.1f} ms  {runs[0][3]:>9,} hits"
            )
        rare = qs["rare token (requestID)"]
        times = []
        for _ in range(max(1, repeat // 2)):
            t = time.perf_counter()
            n = cur.execute(
                "SELECT count(*) FROM events WHERE raw::VARCHAR ILIKE ?", [f"%{rare}%"]
            ).fetchall()[0][0]
            times.append(time.perf_counter() - t)
        print(
            f"baseline raw ILIKE scan for the rare token: {statistics.median(times) * 1000:.0f} ms ({n} hits)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caseline-bench"))
    ap.add_argument("--case", type=Path, help="an already imported case of the same evidence (copied)")
    ap.add_argument("--evidence", type=Path, help="evidence folder (default: <workdir>/evidence-<events>)")
    args = ap.parse_args()
    evidence = args.evidence or args.workdir / f"evidence-{args.events}"
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = generate(evidence, args.events)
    gz_bytes = sum(f.stat().st_size for f in files)
    print(f"evidence: {args.events:,} events in {len(files):,} gz files, {gz_bytes / 1e6:.1f} MB")
    case_path = prepare_case(args, evidence)
    build(case_path, gz_bytes)
    measure(case_path, args.repeat)


if __name__ == "__main__":
    main()
