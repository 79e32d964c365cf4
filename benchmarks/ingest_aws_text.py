"""Import benchmark for the AWS text formats against a line-splitting floor, in the same run.

    python benchmarks/ingest_aws_text.py --lines 1000000 [--repeat 3] [--formats vpc,s3,alb] [--per-file N]

For each format, generates N realistic lines in files shaped like the real delivery (cached in
the work folder): VPC Flow Logs as .log.gz with a header, 5,000 records a file; S3 server access
logs as plain files of 200 records (they are thousands of tiny files); ALB access logs as .log.gz
of 2,000 records a file. Then prints, as medians over --repeat runs:
  * the floor: gunzip (or read) + bytes.split into lines of every file, on two processes;
  * Caseline's import (a fresh `caseline import --no-search-index` per run): records/s, CPU
    microseconds a record, the highest peak RSS of the runs, and the ratio to the floor;
  * the storage floor (`storage_floor.py`): the imported rows written into a fresh events table
    from memory, nothing parsed, which no import keeping these columns can beat.
The machine is shared and noisy: compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from isal import isal_zlib  # the floor inflates as the import does (viewer/core/gunzip.py)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_cpu import with_child_cpu  # noqa: E402
from evidence_cache import cached_evidence  # noqa: E402
from ingest_cloudtrail import caseline_import  # noqa: E402  (the same subprocess timing)
from storage_floor import measure as storage_floor  # noqa: E402

T0 = 1714521600  # 2024-05-01T00:00:00Z
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64 prompt/off command/s3.cp",
    "curl/8.5.0",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.2",
]


def _vpc_line(rng: random.Random, t: int) -> str:
    if rng.random() < 0.01:
        return f"2 123456789012 eni-0{rng.randrange(16**8):08x}0000000 - - - - - - - {t} {t + 60} - NODATA"
    # As in a real VPC, each interface has its own private address and sees flows both ways:
    # egress from it, ingress to it, with peers on the internet or (one in ten) inside the VPC.
    # (Random private addresses on a few interfaces would make every flow a new address binding.)
    nic = rng.randrange(64)
    own = f"10.0.{nic // 16}.{nic % 16 + 10}"
    peer = (
        f"10.0.{rng.randrange(8, 256)}.{rng.randrange(1, 255)}"
        if rng.random() < 0.1
        else f"203.0.113.{rng.randrange(1, 255)}"
    )
    src, dst = (own, peer) if rng.random() < 0.5 else (peer, own)
    proto = rng.choice((6, 6, 6, 17, 1))
    return (
        f"2 123456789012 eni-0{nic:02x}a1b2c3d4e5f60 {src} {dst} "
        f"{rng.randrange(1024, 65536)} {rng.choice((443, 22, 80, 53, 3306))} {proto} "
        f"{rng.randrange(1, 500)} {rng.randrange(40, 10**6)} {t} {t + rng.randrange(1, 60)} "
        f"{'ACCEPT' if rng.random() < 0.9 else 'REJECT'} OK"
    )


def _s3_line(rng: random.Random, t: int) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
    key = f"exports/{uuid.UUID(int=rng.getrandbits(128))}.parquet"
    op, method = rng.choice(
        (("REST.GET.OBJECT", "GET"), ("REST.PUT.OBJECT", "PUT"), ("REST.HEAD.OBJECT", "HEAD"))
    )
    status = 200 if rng.random() < 0.95 else 403
    err = "-" if status == 200 else "AccessDenied"
    rid = uuid.UUID(int=rng.getrandbits(128)).hex[:16].upper()
    host_id = uuid.UUID(int=rng.getrandbits(128)).hex * 2
    return (
        f"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [{stamp}] "
        f"192.0.2.{rng.randrange(1, 255)} arn:aws:iam::123456789012:user/user{rng.randrange(400):03d} {rid} {op} {key} "
        f'"{method} /amzn-s3-demo-bucket1/{key} HTTP/1.1" {status} {err} {rng.randrange(10**7)} {rng.randrange(10**7)} '
        f'{rng.randrange(1, 300)} {rng.randrange(1, 100)} "-" "{rng.choice(AGENTS)}" - {host_id} SigV4 '
        "ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSv1.2 - -"
    )


def _alb_line(rng: random.Random, t: int) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{rng.randrange(10**6):06d}Z"
    path = f"/api/v1/items/{rng.randrange(10**6)}"
    status = rng.choice((200, 200, 200, 302, 404, 500))
    return (
        f"https {stamp} app/my-loadbalancer/50dc6c495c0c9188 198.51.100.{rng.randrange(1, 255)}:{rng.randrange(1024, 65536)} "
        f"10.0.0.{rng.randrange(1, 255)}:80 0.000 0.{rng.randrange(1000):03d} 0.000 {status} {status} "
        f'{rng.randrange(100, 5000)} {rng.randrange(100, 10**6)} "GET https://www.example.com:443{path} HTTP/1.1" '
        f'"{rng.choice(AGENTS)}" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
        "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
        f'"Root=1-{t:08x}-{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}" "www.example.com" '
        '"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 0 '
        f'{stamp} "forward" "-" "-" "10.0.0.1:80" "{status}" "-" "-" TID_{uuid.UUID(int=rng.getrandbits(128)).hex}'
    )


VPC_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
# name -> (line maker, records per file, gzip, header line, file name pattern)
FORMATS: dict[str, tuple[Callable[[random.Random, int], str], int, bool, str | None, str]] = {
    "vpc": (
        _vpc_line,
        5000,
        True,
        VPC_HEADER,
        "123456789012_vpcflowlogs_us-east-1_fl-0abc_{stamp}_{i:08x}.log.gz",
    ),
    "s3": (_s3_line, 200, False, None, "{stamp}-{i:016X}"),
    "alb": (
        _alb_line,
        2000,
        True,
        None,
        "123456789012_elasticloadbalancing_us-east-2_app.my-lb_{stamp}_{i:08x}.log.gz",
    ),
}


def _write_file(args: tuple[str, Path, int, int, float]) -> int:
    name, root, index, n, spacing = args
    make, _, gz, header, pattern = FORMATS[name]
    rng = random.Random(f"{name}{index}")
    t0 = T0 + int(index * spacing)
    lines = [make(rng, t0 + rng.randrange(300)) for _ in range(n)]
    if header:
        lines.insert(0, header)
    data = ("\n".join(lines) + "\n").encode()
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S" if not gz else "%Y%m%dT%H%MZ", time.gmtime(t0))
    folder = root / time.strftime("%Y/%m/%d", time.gmtime(t0))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / pattern.format(stamp=stamp, i=index)).write_bytes(
        gzip.compress(data, 6, mtime=0) if gz else data
    )
    return n


def generate(name: str, root: Path, lines: int, per_file: int | None = None) -> list[Path]:
    """`lines` records in files of the format's usual size (or `per_file`), over the same span."""
    usual = FORMATS[name][1]
    per_file = per_file or usual

    def build() -> None:
        spacing = 300 * per_file / usual
        jobs = [
            (name, root, i, min(per_file, lines - i * per_file), spacing)
            for i in range((lines + per_file - 1) // per_file)
        ]
        with ProcessPoolExecutor(2) as pool:
            assert sum(pool.map(_write_file, jobs, chunksize=16)) == lines

    cached_evidence(root, f"complete-v2-{lines}", build)
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _split_file(path: Path) -> int:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = isal_zlib.decompress(data, 31)
    return len(data.split(b"\n"))


def floor(files: list[Path]) -> float:
    t = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        assert sum(pool.map(_split_file, files, chunksize=64)) > 0
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="vpc,s3,alb")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caseline-bench-text"))
    ap.add_argument(
        "--per-file",
        type=int,
        default=None,
        help="records a file instead of each format's usual size (S3 access logs: often a few lines)",
    )
    args = ap.parse_args()
    layout = f"-per{args.per_file}" if args.per_file else ""
    for name in args.formats.split(","):
        evidence = args.workdir / f"{name}-{args.lines}{layout}"
        files = generate(name, evidence, args.lines, args.per_file)
        size = sum(f.stat().st_size for f in files)
        floors = [with_child_cpu(floor, files) for _ in range(args.repeat)]
        base = statistics.median(t for t, _ in floors)
        base_cpu = statistics.median(c for _, c in floors)
        case = args.workdir / f"{name}-{args.lines}{layout}.caseline"
        runs = [with_child_cpu(caseline_import, evidence, case) for _ in range(args.repeat)]
        secs = statistics.median(r[0] for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        peak = max(r[1] for r, _ in runs)
        print(
            f"{name}: {args.lines:,} lines in {len(files):,} files ({size / 1e6:.0f} MB on disk); "
            f"floor gunzip+split 2 processes {base:.2f}s, {base_cpu:.1f} CPU-s ({args.lines / base:,.0f} lines/s); "
            f"caseline import {secs:.2f}s, {cpu:.1f} CPU-s ({args.lines / secs:,.0f} records/s, "
            f"{cpu / args.lines * 1e6:.1f} us CPU a record, peak RSS {peak / 1e9:.2f} GB), "
            f"{secs / base:.1f}x the floor",
            flush=True,
        )
        store_s, store_cpu = storage_floor(case, args.repeat)
        print(
            f"{name}: storage floor (the imported rows written from memory, nothing parsed) "
            f"{store_s:.2f}s, {store_cpu:.1f} CPU-s ({args.lines / store_s:,.0f} rows/s); "
            f"the import is {secs / store_s:.2f}x it",
            flush=True,
        )
        case.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
