"""Import benchmark for GuardDuty, CloudWatch Logs, Route 53 Resolver, CloudTrail Insights and
`aws cloudtrail lookup-events` output.

    python benchmarks/ingest_aws_json.py --records 200000 [--repeat 3] [--formats aws_guardduty_jsonl,...]

For each format, generates N records (variations of the format's test sample, so record sizes are
realistic) as gzipped files of 5,000 records in the format's delivered shape, cached in the work
folder. Then prints, as medians over --repeat runs, the floor (gunzip + orjson parse of every file
on two processes, measured in the same run) and Caseline's import in a fresh
`caseline import --no-search-index` process: records/s and the ratio to the floor; then the
storage floor (`storage_floor.py`: the imported rows written into a fresh events table from
memory, nothing parsed) as a ratio to the same floor.
The machine is shared and noisy: compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
from child_cpu import with_child_cpu
from evidence_cache import cached_evidence
from ingest_cloudtrail import caseline_import  # the same timed, RSS-watched import subprocess
from isal import isal_zlib  # the floor inflates as the import does (viewer/core/gunzip.py)
from storage_floor import measure as storage_floor

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "data" / "formats"
PER_FILE = 5000
T0 = 1714521600  # 2024-05-01T00:00:00Z


def _sample(name: str) -> bytes:
    [path] = [p for p in (SAMPLES / name).iterdir() if p.name != "expected.json"]
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _iso_ms(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _ip(rng: random.Random) -> str:
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"


def _finding(rng: random.Random, templates: list[dict], i: int, t: float) -> dict:
    f = copy.deepcopy(templates[i % len(templates)])
    f["id"] = f"{rng.getrandbits(128):032x}"
    f["arn"] = f["arn"].rsplit("/", 1)[0] + "/" + f["id"]
    f["service"]["eventFirstSeen"], f["service"]["eventLastSeen"] = (
        _iso_ms(t),
        _iso_ms(t + rng.random() * 3600),
    )
    f["createdAt"] = f["updatedAt"] = _iso_ms(t + 3700)
    f["severity"] = rng.choice([2, 5, 8])
    return f


def _pascal(o: object) -> object:
    if isinstance(o, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_pascal(v) for v in o]
    return o


def _gd_templates() -> list[dict]:
    return [json.loads(line) for line in _sample("aws_guardduty_jsonl").decode().splitlines()[:2]]


def _cwl_event(rng: random.Random, i: int, t: float, message: str) -> dict:
    ms = int(t * 1000)
    return {
        "logStreamName": f"2024/05/01/[$LATEST]{rng.getrandbits(128):032x}",
        "timestamp": ms,
        "message": message,
        "ingestionTime": ms + rng.randrange(200, 5000),
        "eventId": f"{rng.getrandbits(180):056d}"[:56],
    }


def _lambda_message(rng: random.Random, i: int) -> str:
    return (
        f"[INFO]\t2024-05-01T10:00:00.000Z\t{rng.getrandbits(128):032x}\tprocessed order {i} "
        f"for customer {rng.randrange(10**6)} from {_ip(rng)} in {rng.randrange(1, 900)} ms\n"
    )


def _ct_messages() -> list[str]:
    doc = json.loads(_sample("aws_cloudtrail_cwl_subscription"))
    return [e["message"] for e in doc["logEvents"]]


def _resolver(rng: random.Random, templates: list[dict], i: int, t: float) -> dict:
    r = copy.deepcopy(templates[i % len(templates)])
    r["query_timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    r["srcport"] = str(rng.randrange(1024, 65535))
    r["query_name"] = f"host{rng.randrange(10**5)}.example.com."
    return r


def _insight(rng: random.Random, templates: list[dict], i: int, t: float) -> dict:
    r = copy.deepcopy(templates[i % len(templates)])
    r["eventID"] = f"{rng.getrandbits(128):032x}"
    r["sharedEventID"] = f"{rng.getrandbits(128):032x}"
    r["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return r


# format name -> (file suffix, writer of one file's bytes from (rng, first index, count, t0))
Writer = Callable[[random.Random, int, int, float], bytes]


def _jsonl(records: list) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _writers() -> dict[str, Writer]:
    gd = _gd_templates()
    ct = _ct_messages()
    r53 = [json.loads(line) for line in _sample("aws_route53_resolver").decode().splitlines()]
    insights = json.loads(_sample("aws_cloudtrail_insights"))["Records"]

    def times(t0: float, n: int) -> list[float]:
        return [t0 + k * 0.1 for k in range(n)]

    def gd_jsonl(rng: random.Random, i0: int, n: int, t0: float) -> bytes:
        return _jsonl([_finding(rng, gd, i0 + k, t) for k, t in enumerate(times(t0, n))])

    def gd_get(rng: random.Random, i0: int, n: int, t0: float) -> bytes:
        findings = [_pascal(_finding(rng, gd, i0 + k, t)) for k, t in enumerate(times(t0, n))]
        return orjson.dumps({"Findings": findings}, option=orjson.OPT_INDENT_2)

    def cwl_filter(rng: random.Random, i0: int, n: int, t0: float) -> bytes:
        events = [
            _cwl_event(rng, i0 + k, t, _lambda_message(rng, i0 + k)) for k, t in enumerate(times(t0, n))
        ]
        # The events array alone: see the report on the searchedLogStreams key and the array path.
        return orjson.dumps({"events": events})

    def subscription(messages: Callable[[int], str], group: str) -> Writer:
        def write(rng: random.Random, i0: int, n: int, t0: float) -> bytes:
            payloads = []
            for start in range(0, n, 100):  # ~100 events per payload, like a Firehose batch
                ts = times(t0 + start * 0.1, min(100, n - start))
                events = [
                    {
                        "id": f"{rng.getrandbits(180):056d}"[:56],
                        "timestamp": int(t * 1000),
                        "message": messages(i0 + start + k),
                    }
                    for k, t in enumerate(ts)
                ]
                payloads.append(
                    {
                        "messageType": "DATA_MESSAGE",
                        "owner": "111122223333",
                        "logGroup": group,
                        "logStream": "stream-1",
                        "subscriptionFilters": ["to-firehose"],
                        "logEvents": events,
                    }
                )
            return _jsonl(payloads)

        return write

    def ct_message(i: int) -> str:
        rec = json.loads(ct[i % len(ct)])
        rec["eventID"] = f"{random.Random(i).getrandbits(128):032x}"
        return json.dumps(rec, separators=(",", ":"))

    def lookup_events(rng: random.Random, i0: int, n: int, t0: float) -> bytes:
        """`aws cloudtrail lookup-events` output: the CLI merges its pages into one document."""
        events = []
        for k, t in enumerate(times(t0, n)):
            message = ct_message(i0 + k)
            rec = json.loads(message)
            events.append(
                {
                    "EventId": rec["eventID"],
                    "EventName": rec["eventName"],
                    "ReadOnly": str(rec.get("readOnly", "true")).lower(),
                    "AccessKeyId": rec.get("userIdentity", {}).get("accessKeyId", ""),
                    "EventTime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t)),
                    "EventSource": rec["eventSource"],
                    "Username": rec.get("userIdentity", {}).get("userName", "unknown"),
                    "Resources": [],
                    "CloudTrailEvent": message,
                }
            )
        return orjson.dumps({"Events": events}, option=orjson.OPT_INDENT_2)

    def r53_lines(rng: random.Random, i0: int, n: int, t0: float) -> bytes:
        return _jsonl([_resolver(rng, r53, i0 + k, t) for k, t in enumerate(times(t0, n))])

    def insights_doc(rng: random.Random, i0: int, n: int, t0: float) -> bytes:
        return orjson.dumps(
            {"Records": [_insight(rng, insights, i0 + k, t) for k, t in enumerate(times(t0, n))]}
        )

    rng0 = random.Random(0)
    return {
        "aws_guardduty_jsonl": gd_jsonl,
        "aws_guardduty_get_findings": gd_get,
        "aws_cloudwatch_logs_filter": cwl_filter,
        "aws_cloudwatch_logs_subscription": subscription(
            lambda i: _lambda_message(rng0, i), "/aws/lambda/orders"
        ),
        "aws_cloudtrail_cwl_subscription": subscription(ct_message, "aws-cloudtrail-logs-111122223333"),
        "aws_cloudtrail_lookup": lookup_events,
        "aws_route53_resolver": r53_lines,
        "aws_cloudtrail_insights": insights_doc,
    }


def _write_file(args: tuple[str, Path, int, int]) -> int:
    name, folder, index, n = args
    rng = random.Random(f"{name}{index}")
    data = _writers()[name](rng, index * PER_FILE, n, T0 + index * 600)
    (folder / f"{name}-{index:05d}.json.gz").write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    return n


def generate(workdir: Path, name: str, records: int) -> list[Path]:
    folder = workdir / f"{name}-{records}"

    def build() -> None:
        jobs = [
            (name, folder, i, min(PER_FILE, records - i * PER_FILE)) for i in range(-(-records // PER_FILE))
        ]
        with ProcessPoolExecutor(2) as pool:
            assert sum(pool.map(_write_file, jobs)) == records

    cached_evidence(folder, "complete-v1", build)
    return sorted(folder.glob("*.json.gz"))


def _parse_file(path: Path) -> int:
    text = isal_zlib.decompress(path.read_bytes(), 31)
    try:
        orjson.loads(text)
        return 1
    except orjson.JSONDecodeError:  # JSON lines
        return sum(1 for line in text.splitlines() if line and orjson.loads(line) is not None)


def floor(files: list[Path]) -> float:
    t = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        assert sum(pool.map(_parse_file, files)) > 0
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default=",".join(_writers()))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caseline-bench-aws-json"))
    args = ap.parse_args()
    for name in args.formats.split(","):
        files = generate(args.workdir, name, args.records)
        gz = sum(f.stat().st_size for f in files)
        floors = [with_child_cpu(floor, files) for _ in range(args.repeat)]
        low = statistics.median(t for t, _ in floors)
        case = args.workdir / f"{name}.caseline"
        runs = [with_child_cpu(caseline_import, files[0].parent, case) for _ in range(args.repeat)]
        secs = statistics.median(r[0] for r, _ in runs)
        store = storage_floor(case, args.repeat)[0]
        case.unlink(missing_ok=True)
        print(
            f"{name:36s} {args.records:,} records, {gz / 1e6:6.1f} MB gz | floor {args.records / low:10,.0f} rec/s "
            f"{statistics.median(c for _, c in floors):5.1f} CPU-s | caseline {args.records / secs:9,.0f} rec/s "
            f"{statistics.median(c for _, c in runs):5.1f} CPU-s = {secs / low:.2f}x the floor | storage floor "
            f"{store:.2f}s = {store / low:.2f}x the floor, the import {secs / store:.2f}x it",
            flush=True,
        )


if __name__ == "__main__":
    main()
