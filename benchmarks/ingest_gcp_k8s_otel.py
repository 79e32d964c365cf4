"""Import benchmark for the GCP, Kubernetes, OTLP and ECS formats, against the parse floor.

    python benchmarks/ingest_gcp_k8s_otel.py --records 200000 [--repeat 3] [--formats gcp_audit,otel_logs]

For each format, generates N records (variations of the format's test sample, so record sizes
are realistic) as gzipped files of 5,000 records in the format's usual layout, cached in the
work folder. Then prints, as medians over --repeat runs, the floor (gunzip + orjson parse of
every file on two processes, measured in the same run) and Caseline's import in a fresh
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
import shutil
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
from child_cpu import with_child_cpu
from ingest_cloudtrail import caseline_import  # the same timed, RSS-watched import subprocess
from storage_floor import measure as storage_floor

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "data" / "formats"
PER_FILE = 5000
T0 = 1714521600  # 2024-05-01T00:00:00Z


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def _ip(rng: random.Random) -> str:
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"


def _lines(name: str) -> list[dict]:
    [path] = [p for p in (SAMPLES / name).iterdir() if p.name != "expected.json"]
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _gcp_entry(rng: random.Random, tmpl: dict, i: int, t: float) -> dict:
    e = copy.deepcopy(tmpl)
    e["insertId"] = f"{rng.getrandbits(48):012x}"
    e["timestamp"], e["receiveTimestamp"] = _iso(t), _iso(t + rng.random() * 2)
    if "protoPayload" in e:
        e["protoPayload"]["requestMetadata"]["callerIp"] = _ip(rng)
    else:
        e["jsonPayload"]["start_time"], e["jsonPayload"]["end_time"] = _iso(t - 30), _iso(t)
        e["jsonPayload"]["connection"]["src_port"] = rng.randrange(1024, 65535)
        e["jsonPayload"]["bytes_sent"] = str(rng.randrange(40, 10**6))
    return e


def _k8s_event(rng: random.Random, tmpl: dict, i: int, t: float) -> dict:
    e = copy.deepcopy(tmpl)
    e["auditID"] = f"{rng.getrandbits(128):032x}"
    e["requestReceivedTimestamp"], e["stageTimestamp"] = _iso(t), _iso(t + 0.05)
    e["sourceIPs"] = [_ip(rng)]
    return e


def _ecs(rng: random.Random, tmpl: dict, i: int, t: float) -> dict:
    e = copy.deepcopy(tmpl)
    e["@timestamp"] = _iso(t)
    if "source.ip" in e:
        e["source.ip"] = _ip(rng)
    return e


def _write_jsonl(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _write_array(records: list[dict]) -> bytes:
    return json.dumps(records, indent=2, sort_keys=True).encode()


def _write_aks(records: list[dict]) -> bytes:
    rid = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS"
    wrapped = [
        {
            "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
            "category": "kube-audit",
            "resourceId": rid,
            "properties": {"log": orjson.dumps(r).decode(), "stream": "stdout", "pod": "kube-apiserver-0"},
            "time": r["stageTimestamp"],
        }
        for r in records
    ]
    return orjson.dumps({"records": wrapped})


def _write_otlp(records: list[dict]) -> bytes:
    """One ExportLogsServiceRequest per line, 100 log records each, as the collector batches."""
    out = []
    tmpl = _lines("otel_logs")[0]
    for k in range(0, len(records), 100):
        req = copy.deepcopy(tmpl)
        req["resourceLogs"][0]["scopeLogs"][0]["logRecords"] = records[k : k + 100]
        out.append(orjson.dumps(req) + b"\n")
    return b"".join(out)


def _otlp_record(rng: random.Random, tmpl: dict, i: int, t: float) -> dict:
    r = copy.deepcopy(tmpl)
    r["timeUnixNano"] = str(int(t * 1e9))
    r["observedTimeUnixNano"] = str(int((t + 0.01) * 1e9))
    r["traceId"] = f"{rng.getrandbits(128):032X}"
    r["attributes"][-1]["value"]["stringValue"] = f"{rng.getrandbits(80):020X}"
    return r


# format -> (record templates, one record, file writer)
FORMATS: dict[str, tuple[Callable[[], list[dict]], Callable, Callable[[list[dict]], bytes]]] = {
    "gcp_audit_jsonl": (lambda: _lines("gcp_audit_jsonl"), _gcp_entry, _write_jsonl),
    "gcp_audit": (
        lambda: json.loads((SAMPLES / "gcp_audit" / "audit.json").read_text()),
        _gcp_entry,
        _write_array,
    ),
    "gcp_vpc_flow": (lambda: _lines("gcp_vpc_flow"), _gcp_entry, _write_jsonl),
    "k8s_audit": (lambda: _lines("k8s_audit"), _k8s_event, _write_jsonl),
    "k8s_audit_aks": (lambda: _lines("k8s_audit")[1:], _k8s_event, _write_aks),
    "otel_logs": (
        lambda: _lines("otel_logs")[0]["resourceLogs"][0]["scopeLogs"][0]["logRecords"],
        _otlp_record,
        _write_otlp,
    ),
    "ecs_json": (lambda: _lines("ecs_json")[:2], _ecs, _write_jsonl),
}


def _write_file(args: tuple[str, Path, int, int]) -> int:
    name, folder, index, n = args
    templates, make, write = FORMATS[name]
    tmpls = templates()
    rng = random.Random(f"{name}{index}")
    t0 = T0 + index * 3600  # one file an hour, like a sink's hourly batches
    recs = [make(rng, tmpls[i % len(tmpls)], i, t0 + i * 3600 / n) for i in range(n)]
    (folder / f"{index:05d}_S0.json.gz").write_bytes(gzip.compress(write(recs), compresslevel=6, mtime=0))
    return n


def generate(root: Path, name: str, records: int) -> list[Path]:
    folder = root / f"{name}-{records}"
    marker = root / f".{name}-{records}.complete-v1"  # outside the evidence folder: not imported
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        jobs = [
            (name, folder, i, min(PER_FILE, records - i * PER_FILE)) for i in range(-(-records // PER_FILE))
        ]
        with ProcessPoolExecutor(2) as pool:
            assert sum(pool.map(_write_file, jobs)) == records
        marker.touch()
    return sorted(folder.glob("*.json.gz"))


def _parse_file(path: Path) -> int:
    """The floor's work for one file: gunzip, then parse the document or each line."""
    data = zlib.decompress(path.read_bytes(), 31)
    try:
        orjson.loads(data)
        return 1
    except orjson.JSONDecodeError:
        return sum(1 for line in data.splitlines() if line and orjson.loads(line) is not None)


def floor(files: list[Path]) -> float:
    t = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        assert sum(pool.map(_parse_file, files, chunksize=4)) > 0
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caseline-bench-gcp-k8s-otel"))
    args = ap.parse_args()
    print(
        f"{'format':<18}{'records':>10}{'gz MB':>8}{'floor rec/s':>14}{'import rec/s':>15}{'x floor':>9}{'peak MiB':>10}"
        f"{'floor CPU-s':>12}{'import CPU-s':>13}{'store x':>9}"
    )
    for name in args.formats.split(","):
        files = generate(args.workdir, name, args.records)
        gz = sum(f.stat().st_size for f in files) / 1e6
        floors = [with_child_cpu(floor, files) for _ in range(args.repeat)]
        two = statistics.median(t for t, _ in floors)
        case = args.workdir / f"{name}.caseline"
        timed = [with_child_cpu(caseline_import, files[0].parent, case) for _ in range(args.repeat)]
        runs = [r for r, _ in timed]
        secs = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs) / 2**20
        cpu = (statistics.median(c for _, c in floors), statistics.median(c for _, c in timed))
        store = storage_floor(case, args.repeat)[0]
        case.unlink(missing_ok=True)
        n = args.records
        print(
            f"{name:<18}{n:>10,}{gz:>8.1f}{n / two:>14,.0f}{n / secs:>15,.0f}{secs / two:>9.2f}{peak:>10,.0f}"
            f"{cpu[0]:>12.1f}{cpu[1]:>13.1f}{store / two:>9.2f}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
