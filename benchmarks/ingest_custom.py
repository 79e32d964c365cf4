"""Import benchmark for custom formats (generic CSV and JSON Lines) against parse floors, same run.

    python benchmarks/ingest_custom.py --records 500000 [--repeat 3] [--workdir /tmp/caseline-bench]

Generates N records per format (cached in the work folder), shaped like what users map by hand:
  * csv:   a VPN / firewall session export, plain CSV files of 100,000 rows (ISO time without
           offset, read in Europe/Berlin; 8 columns, 7 mapped);
  * jsonl: an application audit log, .jsonl.gz files of 50,000 records (epoch milliseconds,
           nested actor object, event id).
Both formats are saved in a private config folder and found by detection, as a user's would be.
Prints, as medians over --repeat runs, records/s of `caseline import --no-search-index` (a fresh
process per run) and, for each, the floor on two processes: gunzip/read + split lines (csv), and
gunzip + orjson parse of every line (jsonl). The machine is shared: compare ratios in one run.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import statistics
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_cpu import with_child_cpu  # noqa: E402
from evidence_cache import cached_evidence  # noqa: E402
from ingest_aws_text import floor as split_floor  # noqa: E402  (read/gunzip + split lines, 2 processes)
from ingest_cloudtrail import REPO, caseline_import  # noqa: E402  (the same subprocess timing)

sys.path.insert(0, str(REPO))
from viewer.formats import custom_store  # noqa: E402
from viewer.formats.custom import CustomFormat, Shape  # noqa: E402
from viewer.formats.timeparse import TimeFormat, TimeSpec  # noqa: E402

T0 = 1714521600  # 2024-05-01T00:00:00Z
PER_FILE = {"csv": 100_000, "jsonl": 50_000}
USERS = [f"user{i:03d}" for i in range(300)]
ACTIONS = ["login", "logout", "read", "write", "delete", "share", "download"]

FORMATS = {
    "csv": CustomFormat(
        name="bench_vpn_csv",
        shape=Shape.CSV,
        time_field="Start Time",
        time=TimeSpec(TimeFormat.ISO8601, "Europe/Berlin"),
        sniff_keys=("Start Time", "User", "Client IP", "Action", "Result", "Port", "Bytes", "Device"),
        fields={
            "principal_name": "User",
            "src_ip": "Client IP",
            "action": "Action",
            "outcome": "Result",
            "dst_port": "Port",
            "bytes": "Bytes",
            "target_id": "Device",
        },
    ),
    "jsonl": CustomFormat(
        name="bench_app_jsonl",
        shape=Shape.JSONL,
        time_field="ts",
        time=TimeSpec(TimeFormat.EPOCH_MS),
        sniff_keys=("ts", "id", "actor", "op", "target", "result", "region"),
        fields={
            "event_uid": "id",
            "principal_name": "actor.name",
            "src_ip": "actor.ip",
            "action": "op",
            "target_id": "target",
            "outcome": "result",
            "region": "region",
        },
    ),
}


def _csv_rows(rng: random.Random, start: int, n: int) -> str:
    lines = ["Start Time,User,Client IP,Action,Result,Port,Bytes,Device"]
    for i in range(n):
        t = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + i // 20))
        lines.append(
            f"{t},{rng.choice(USERS)},198.51.100.{rng.randrange(1, 255)},{rng.choice(ACTIONS)},"
            f"{'OK' if rng.random() < 0.93 else 'DENIED'},{rng.choice((443, 22, 1194))},"
            f"{rng.randrange(100, 10**7)},vpn-gw-{rng.randrange(4)}"
        )
    return "\n".join(lines) + "\n"


def _jsonl_rows(rng: random.Random, start: int, n: int) -> str:
    recs = (
        orjson.dumps(
            {
                "ts": (start + i // 20) * 1000 + rng.randrange(1000),
                "id": f"{start:x}-{i:08d}",
                "actor": {"name": rng.choice(USERS), "ip": f"203.0.113.{rng.randrange(1, 255)}", "mfa": True},
                "op": rng.choice(ACTIONS),
                "target": f"doc/{rng.randrange(10**6):06d}",
                "result": "success" if rng.random() < 0.95 else "denied",
                "region": rng.choice(("eu-west-1", "us-east-1")),
                "client": {
                    "agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0",
                    "session": rng.getrandbits(64),
                },
            }
        ).decode()
        for i in range(n)
    )
    return "\n".join(recs) + "\n"


def _write_file(args: tuple[str, Path, int, int]) -> int:
    kind, root, index, n = args
    rng = random.Random(index)
    start = T0 + index * 6000
    if kind == "csv":
        (root / f"vpn-sessions-{index:04d}.csv").write_text(_csv_rows(rng, start, n))
    else:
        data = _jsonl_rows(rng, start, n).encode()
        (root / f"app-audit-{index:04d}.jsonl.gz").write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    return n


def generate(kind: str, root: Path, records: int) -> list[Path]:
    def build() -> None:
        per = PER_FILE[kind]
        jobs = [(kind, root, i, min(per, records - i * per)) for i in range((records + per - 1) // per)]
        with ProcessPoolExecutor(2) as pool:
            assert sum(pool.map(_write_file, jobs)) == records

    cached_evidence(root, f"complete-v1-{records}", build)
    return sorted(p for p in root.iterdir() if not p.name.startswith("."))


def _parse_lines(path: Path) -> int:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompress(data, 31)
    return sum(1 for line in data.splitlines() if line and orjson.loads(line))


def json_floor(files: list[Path]) -> float:
    t = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        assert sum(pool.map(_parse_lines, files)) > 0
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="csv,jsonl")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caseline-bench"))
    args = ap.parse_args()
    # The formats live in a private config folder; the import subprocesses inherit it.
    os.environ[custom_store.CONFIG_ENV] = str(args.workdir / "custom-config")
    for kind in args.formats.split(","):
        custom_store.save(FORMATS[kind], overwrite=True)
        evidence = args.workdir / f"custom-{kind}-{args.records}"
        files = generate(kind, evidence, args.records)
        size = sum(f.stat().st_size for f in files)
        print(f"{kind}: {args.records:,} records in {len(files)} files, {size / 1e6:.1f} MB")
        measure = split_floor if kind == "csv" else json_floor
        floors = [with_child_cpu(measure, files) for _ in range(args.repeat)]
        base = statistics.median(t for t, _ in floors)
        what = "read/gunzip + split lines" if kind == "csv" else "gunzip + orjson parse"
        print(
            f"  floor ({what}, 2 processes): {base:.2f}s, "
            f"{statistics.median(c for _, c in floors):.1f} CPU-s ({args.records / base:,.0f} records/s)"
        )
        case = args.workdir / f"custom-{kind}.caseline"
        timed = [with_child_cpu(caseline_import, evidence, case) for _ in range(args.repeat)]
        runs = [r for r, _ in timed]
        secs = statistics.median(r[0] for r in runs)
        print(
            f"  caseline import custom:{FORMATS[kind].name}: {secs:.2f}s median of {len(runs)} "
            f"({args.records / secs:,.0f} records/s, {statistics.median(c for _, c in timed):.1f} CPU-s), "
            f"{secs / base:.1f}x the floor, "
            f"peak RSS {max(r[1] for r in runs) / 2**20:,.0f} MiB"
        )
        case.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
