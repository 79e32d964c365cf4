"""Import benchmark: Caseline against the decompress+parse floor, measured in the same run.

    python benchmarks/ingest_cloudtrail.py --events 1000000 [--repeat 3] [--per-file 1000] [--workdir /tmp/caseline-bench]

Generates N realistic CloudTrail events (~1.5 KB each) as gz files in the S3 delivery layout
(cached in the work folder), then prints, as medians over --repeat runs:
  * the floor: gunzip + orjson parse of every file, on one core and on two processes;
  * Caseline's import (a fresh `caseline import --no-search-index` subprocess per run, alternating
    with the two-core floor): events/s, CPU-s, peak RSS, ratio to the floor, the case file size
    against the gzipped evidence; then the structures built after the import commits;
  * the storage floor (`storage_floor.py`): the imported rows written into a fresh events table
    from memory, nothing parsed, which no import keeping these columns can beat;
  * read paths on the resulting case, when the read-side modules are present: a timeline bucket
    query, 200-row pages of the time-sorted table (the columns it shows) at nine places, again at
    nine others in a fresh DuckDB instance after the window's background load of those columns
    (`page_warmup`), and a free-text search.
The machine is shared and noisy: compare ratios, not absolute figures, across machines.
The case is deleted at the end; set KEEP_CASE=1 to keep it (a 10M case takes ~13 min to rebuild).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import gzip
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
import psutil
import storage_floor
from evidence_cache import cached_evidence
from isal import isal_zlib  # the floor inflates as the import does (viewer/core/gunzip.py)

REPO = Path(__file__).resolve().parents[1]
PER_FILE = 1000
ACCOUNTS = ["111122223333", "444455556666", "777788889999"]
REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"]
CALLS = [
    ("s3.amazonaws.com", "GetObject", True, "Data"),
    ("s3.amazonaws.com", "PutObject", False, "Data"),
    ("ec2.amazonaws.com", "DescribeInstances", True, "Management"),
    ("iam.amazonaws.com", "ListRoles", True, "Management"),
    ("sts.amazonaws.com", "AssumeRole", True, "Management"),
    ("kms.amazonaws.com", "Decrypt", True, "Management"),
    ("logs.amazonaws.com", "DescribeLogGroups", True, "Management"),
    ("lambda.amazonaws.com", "Invoke", False, "Data"),
    ("ec2.amazonaws.com", "RunInstances", False, "Management"),
    ("cloudtrail.amazonaws.com", "LookupEvents", True, "Management"),
]
AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/s3.cp",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.11.2",
    "console.amazonaws.com",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64",
]


def _record(rng: random.Random, t: float, i: int) -> dict:
    service, name, read_only, category = CALLS[i % len(CALLS)] if rng.random() < 0.3 else rng.choice(CALLS)
    account = rng.choice(ACCOUNTS)
    user = f"user{rng.randrange(400):03d}"
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    # Like real STS sessions: one temporary key and creation time per user per hour.
    session_start = int(t) // 3600 * 3600
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(session_start))
    key = (
        "ASIA"
        + uuid.UUID(int=random.Random(f"{user}{account}{session_start}").getrandbits(128)).hex[:16].upper()
    )
    rec = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA{account}EXAMPLE:{user}",
            "arn": f"arn:aws:sts::{account}:assumed-role/Engineer/{user}",
            "accountId": account,
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROA{account}EXAMPLE",
                    "arn": f"arn:aws:iam::{account}:role/Engineer",
                    "accountId": account,
                    "userName": "Engineer",
                },
                "attributes": {"creationDate": created, "mfaAuthenticated": "true"},
            },
        },
        "eventTime": ts,
        "eventSource": service,
        "eventName": name,
        "awsRegion": rng.choice(REGIONS),
        "sourceIPAddress": f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "userAgent": rng.choice(AGENTS),
        "requestParameters": {
            "bucketName": f"acme-data-{rng.randrange(50)}",
            "key": f"exports/{uuid.UUID(int=rng.getrandbits(128))}.parquet",
            "Host": "acme-data.s3.us-east-1.amazonaws.com",
        },
        "responseElements": None,
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "bytesTransferredOut": rng.randrange(100, 10**7),
            "x-amz-id-2": uuid.UUID(int=rng.getrandbits(128)).hex * 2,
        },
        "requestID": uuid.UUID(int=rng.getrandbits(128)).hex[:20].upper(),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": read_only,
        "resources": [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::acme-data/exports/{i}.parquet"},
            {"accountId": account, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-data"},
        ],
        "eventType": "AwsApiCall",
        "managementEvent": category == "Management",
        "recipientAccountId": account,
        "eventCategory": category,
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{service.split('.')[0]}.us-east-1.amazonaws.com",
        },
    }
    if rng.random() < 0.03:
        rec["errorCode"], rec["errorMessage"] = (
            "AccessDenied",
            "User is not authorized to perform this operation",
        )
    return rec


def _write_file(args: tuple[Path, int, int, float]) -> int:
    root, index, n, spacing = args
    rng = random.Random(index)
    t0 = 1714521600 + index * spacing  # 1,000-record files are ~10 minutes apart
    recs = [_record(rng, t0 + rng.random() * 900, i) for i in range(n)]
    account, region = ACCOUNTS[index % 3], REGIONS[index % 4]
    day = time.strftime("%Y/%m/%d", time.gmtime(t0))
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(t0 + 900))
    folder = root / "AWSLogs" / account / "CloudTrail" / region / day
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{account}_CloudTrail_{region}_{stamp}_{index:016X}.json.gz"
    (folder / name).write_bytes(gzip.compress(orjson.dumps({"Records": recs}), compresslevel=6, mtime=0))
    return n


def generate(root: Path, events: int, per_file: int = PER_FILE) -> list[Path]:
    """`events` records in files of `per_file`; the same time span whatever the file size."""

    def build() -> None:
        spacing = 600 * per_file / PER_FILE
        jobs = [
            (root, i, min(per_file, events - i * per_file), spacing)
            for i in range((events + per_file - 1) // per_file)
        ]
        with ProcessPoolExecutor(2) as pool:
            assert sum(pool.map(_write_file, jobs, chunksize=8)) == events

    cached_evidence(root, f"complete-v2-{events}", build)  # bump when the generated records change
    return sorted(root.rglob("*.json.gz"))


def _parse_file(path: Path) -> int:
    return len(orjson.loads(isal_zlib.decompress(path.read_bytes(), 31))["Records"])


def floor(files: list[Path], workers: int) -> float:
    t = time.perf_counter()
    if workers == 1:
        n = sum(_parse_file(f) for f in files)
    else:
        with ProcessPoolExecutor(workers) as pool:
            n = sum(pool.map(_parse_file, files, chunksize=16))
    assert n > 0
    return time.perf_counter() - t


def compile_bytecode() -> None:
    """Compile Caseline's modules to `__pycache__` as an installed Caseline has them (pip compiles
    a wheel's modules at install; Python writes the cache at a checkout's first run). Where
    PYTHONDONTWRITEBYTECODE is set, as on some CI machines, every timed run would otherwise compile
    ~200 modules from source first (~0.15 s a run, measured). Up-to-date files are skipped."""
    compileall.compile_dir(REPO / "viewer", quiet=1)


def caseline_import(evidence: Path, case: Path) -> tuple[float, float, float, int]:
    """Seconds, peak RSS (bytes), CPU seconds and peak temp folder (bytes: what DuckDB spilled to
    `<case>.tmp`) of one `caseline import` in a fresh process."""
    compile_bytecode()
    case.unlink(missing_ok=True)
    cpu0 = _children_cpu()
    t = time.perf_counter()
    # The free-text index is built after the import commits; it is timed separately (reindex).
    proc = psutil.Popen(
        [sys.executable, "-m", "viewer.cli", "import", str(case), str(evidence), "--no-search-index"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    peak = spill = 0
    exited = threading.Event()

    def watch() -> None:  # in a thread, so the time is read when the process exits, not at a poll
        nonlocal peak, spill
        while not exited.wait(0.05):
            with contextlib.suppress(psutil.NoSuchProcess):
                peak = max(peak, proc.memory_info().rss)
            spill = max(spill, _folder_bytes(case.with_name(case.name + ".tmp")))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stderr = proc.communicate()[1]
    elapsed = time.perf_counter() - t
    exited.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {stderr.decode() if stderr else ''}")
    return elapsed, peak, _children_cpu() - cpu0, spill


def _folder_bytes(folder: Path) -> int:
    total = 0
    with contextlib.suppress(FileNotFoundError):  # no folder yet, or a file just deleted
        for f in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                total += f.stat().st_size
    return total


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def read_paths(case: Path, repeat: int) -> None:
    """Timeline, paging and search on the imported case, if the read-side core is available."""
    sys.path.insert(0, str(REPO))
    try:
        from viewer.core.case_file import CaseFile
        from viewer.core.event_query import EventFilter
        from viewer.core.paging import EventPager
        from viewer.core.timeline import bucket_counts, time_extent
        from viewer.schema import default_columns
    except ImportError as exc:
        print(f"read paths: skipped ({exc})")
        return
    with CaseFile.open(case, read_only=True) as c:
        cur = c.cursor()
        lo, hi = time_extent(cur, EventFilter())
        med = _median(lambda: bucket_counts(cur, lo, hi, 2000), repeat)
        print(f"timeline 2,000 buckets, full range: {med * 1000:.1f} ms")
        columns = [f.name for f in default_columns()]  # what the table shows
        # A fresh pager per repetition: a pager keeps the rows it has read (its row cache), so
        # repeating a page on one pager measures the cache, not the read.
        prep = _median(lambda: EventPager(c.cursor, EventFilter(), columns).prepare(), repeat)
        n = EventPager(c.cursor, EventFilter(), columns).count()
        # Pages at nine places, each from a fresh pager (its first read of that part of the time
        # order too, as when the analyst jumps there); the first page of the run pays for the
        # process's cold start (DuckDB's blocks), shown apart.
        places = [n * k // 10 for k in range(1, 10)]
        times = []
        for at in [places[4], *places]:
            pager = EventPager(c.cursor, EventFilter(), columns)
            pager.prepare()
            started = time.perf_counter()
            pager.page(at, 200)
            times.append(time.perf_counter() - started)
        page = statistics.median(times[1:])
        print(
            f"table: prepare {prep * 1000:.0f} ms, 200-row page ({len(columns)} columns) at 9 places: "
            f"median {page * 1000:.1f} ms, slowest {max(times[1:]) * 1000:.1f} ms (first of the run: {times[0] * 1000:.0f} ms)"
        )

        print(warmed_pages(case, columns, places))

        def search() -> int:
            pager = EventPager(c.cursor, EventFilter(text="user123"), ["ts", "action"])
            pager.prepare()
            pager.page(0, 200)
            return pager.count()

        t = _median(search, repeat)
        print(f"free-text search 'user123': first page {t * 1000:.0f} ms ({search():,} hits)")


def warmed_pages(case: Path, columns: list[str], places: list[int]) -> str:
    """Pages at the nine places (shifted, so none was read before) in a fresh DuckDB instance
    after the window's background load of the shown columns (`page_warmup`), as the analyst
    meets them once a case has opened: from the one pager the window's table keeps per query
    (an unfiltered one keeps no rows, so each place is read from the case)."""
    from viewer.core.case_file import CaseFile
    from viewer.core.event_query import EventFilter
    from viewer.core.page_warmup import warm_pages
    from viewer.core.paging import EventPager

    with CaseFile.open(case, read_only=True) as c:
        pager = EventPager(c.cursor, EventFilter(), columns)
        pager.prepare()
        pager.page(0, 200)  # the window shows the top of the table before it loads anything
        warm = warm_pages(c.cursor(), columns)
        times = []
        for at in places:
            started = time.perf_counter()
            pager.page(at + 1_000, 200)
            times.append(time.perf_counter() - started)
    state = (
        f"{warm.seconds * 1000:.0f} ms, {warm.bytes / 2**20:.0f} MiB"
        if warm.loaded
        else "over its budget: not loaded"
    )
    return (
        f"table after loading the shown columns ahead ({state}): 200-row page at 9 other places: "
        f"median {statistics.median(times) * 1000:.1f} ms, slowest {max(times) * 1000:.1f} ms"
    )


def _median(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caseline-bench"))
    ap.add_argument(
        "--per-file",
        type=int,
        default=PER_FILE,
        help="records a file (default 1000); a CloudTrail bucket mostly holds files of tens of records",
    )
    args = ap.parse_args()
    layout = "" if args.per_file == PER_FILE else f"-per{args.per_file}"
    evidence = args.workdir / f"evidence-{args.events}{layout}"
    t = time.perf_counter()
    files = generate(evidence, args.events, args.per_file)
    gz_bytes = sum(f.stat().st_size for f in files)
    print(
        f"evidence: {args.events:,} events in {len(files):,} gz files, {gz_bytes / 1e6:.1f} MB "
        f"(ready in {time.perf_counter() - t:.1f}s)"
    )
    one = statistics.median(floor(files, 1) for _ in range(args.repeat))
    print(f"floor gunzip+orjson, 1 core: {one:.2f}s ({args.events / one:,.0f} ev/s)")
    # The 2-core floor and the import alternate, so a change in the machine's load reaches both:
    # the ratio of each pair is what carries over between runs and machines.
    case = args.workdir / f"bench-{args.events}{layout}.caseline"
    pairs = []
    for _ in range(args.repeat):
        two = floor(files, 2)
        secs, peak, cpu, spill = caseline_import(evidence, case)
        pairs.append((two, secs, peak, cpu, spill))
        print(
            f"  floor 2 processes {two:.2f}s | import {secs:.2f}s, {cpu:.1f} CPU-s, ratio {secs / two:.2f}x"
        )
    two = statistics.median(p[0] for p in pairs)
    secs = statistics.median(p[1] for p in pairs)
    cpu = statistics.median(p[3] for p in pairs)
    peak = max(p[2] for p in pairs)
    spill = max(p[4] for p in pairs)
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    size = case.stat().st_size
    print(f"floor gunzip+orjson, 2 processes: {two:.2f}s ({args.events / two:,.0f} ev/s)")
    print(
        f"caseline import: {secs:.2f}s median of {len(pairs)} ({args.events / secs:,.0f} ev/s, "
        f"{cpu:.1f} CPU-s), {ratio:.2f}x the 2-core floor (median of pair ratios), "
        f"peak RSS {peak / 2**20:,.0f} MiB, peak temp folder {spill / 2**20:,.0f} MiB"
    )
    print(
        f"case file {size / 1e6:.1f} MB = {size / gz_bytes:.2f}x the gzipped evidence "
        "(before the deferred structures)"
    )
    if args.events <= storage_floor.MAX_EVENTS:
        store_s, store_cpu = storage_floor.measure(case, args.repeat)
        print(
            f"storage floor (the imported rows written from memory into a fresh events table, "
            f"nothing parsed: benchmarks/storage_floor.py): {store_s:.2f}s, {store_cpu:.1f} CPU-s = "
            f"{store_s / two:.2f}x the 2-core parse floor; the import is {secs / store_s:.2f}x it, "
            f"{secs / (two + store_s):.2f}x parse and storage floors added"
        )
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "viewer.cli", "reindex", str(case)],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    index_s = time.perf_counter() - t
    size = case.stat().st_size
    print(
        f"deferred structures, built after the import commits (caseline reindex: search index, raw "
        f"fields): {index_s:.2f}s; case file now {size / 1e6:.1f} MB = {size / gz_bytes:.2f}x the gzipped evidence"
    )
    read_paths(case, args.repeat)
    if os.environ.get("KEEP_CASE") is None:
        case.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
