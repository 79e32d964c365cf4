"""Generate the AWS incident sample case as CloudTrail delivers it to S3.

Usage::

    python sample_cases/generate_aws_incident.py --out sample_cases/aws_incident/evidence

Writes ``AWSLogs/<account>/CloudTrail/...`` log files and ``CloudTrail-Digest/...``
digest files under ``--out``, and a machine-readable ground truth (``truth.json``,
next to the evidence directory by default). The output is deterministic: one seeded
RNG, gzip with mtime 0 and no file name, stable iteration order. Running twice gives
byte-identical files, which is what lets tests and the README quote exact values.

Why the S3 layout rather than a flat JSON file: importing CloudTrail means coping
with what S3 holds — unordered records, five-minute-ish delivery files, a global
event delivered twice, a digest chain with a hole where logging was stopped.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aws_incident_attack import (  # noqa: E402
    CI_KEY_DEACTIVATED,
    CI_KEY_ROTATED_AT,
    SELECTORS_CLEARED,
    SELECTORS_RESTORED,
    START_LOGGING,
    STOP_LOGGING,
    Step,
)
from aws_incident_model import (  # noqa: E402
    HOME_REGION,
    LOG_BUCKET,
    PROD,
    TRAILS,
    Event,
    build_record,
    iso,
    rand_alnum,
    stable_hex,
    ts,
)
from aws_incident_network_evidence import build_network  # noqa: E402
from aws_incident_response import attack_and_response  # noqa: E402
from aws_incident_services import background_calls  # noqa: E402
from aws_incident_truth import build_truth  # noqa: E402

SEED = 20240312
START = ts("2024-03-11T00:00:00")
DAYS = [START + timedelta(days=n) for n in range(5)]
MAX_RECORDS_PER_FILE = 120
DEFAULT_OUT = Path(__file__).resolve().parent / "aws_incident" / "evidence"


@dataclass
class LogFile:
    """One delivered object: its S3 key, records in delivery order, and its bytes."""

    account: str
    region: str
    delivered: datetime
    key: str
    records: list[dict[str, Any]]
    raw: bytes = b""
    gz: bytes = b""


@dataclass
class DigestFile:
    account: str
    region: str
    key: str
    body: dict[str, Any]
    raw: bytes = b""
    gz: bytes = b""


def gzip_bytes(data: bytes) -> bytes:
    """gzip with a zero mtime and an empty name: the header must not vary between runs."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as fh:
        fh.write(data)
    return buf.getvalue()


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def logging_on(ev: Event) -> bool:
    """Whether the prod trail would have recorded ``ev`` (StopLogging and selector changes)."""
    if ev.account != PROD:
        return True
    if STOP_LOGGING < ev.when < START_LOGGING:
        return False
    return not (ev.is_data and SELECTORS_CLEARED <= ev.when < SELECTORS_RESTORED)


def collect_events(rng: random.Random) -> tuple[list[Event], dict[str, str]]:
    """Render the script first, then the noise, so attacker eventIDs do not move when noise is tuned."""
    steps: list[Step] = attack_and_response(rng)
    stage_of: dict[str, str] = {}
    events: list[Event] = []
    for step in steps:
        ev = build_record(rng, step.call)
        ev.stage, ev.tags = step.stage, set(step.tags)
        if not logging_on(ev):
            raise AssertionError(
                f"scripted event falls in the logging gap: {ev.record['eventName']} {ev.when}"
            )
        events.append(ev)
        stage_of[ev.record["eventID"]] = step.stage or "response"
    for call in background_calls(rng, DAYS, CI_KEY_DEACTIVATED, CI_KEY_ROTATED_AT):
        ev = build_record(rng, call)
        if logging_on(ev):
            events.append(ev)
    return events, stage_of


def streams_of(events: list[Event]) -> dict[tuple[str, str], list[Event]]:
    """Group records by the (account, region) stream that delivers them.

    The ``duplicated`` event (a global IAM call) is also delivered in prod's
    eu-west-1 stream, byte-identical, as CloudTrail's at-least-once delivery allows.
    """
    streams: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for ev in events:
        streams[(ev.account, ev.region)].append(ev)
        if "duplicated" in ev.tags:
            streams[(ev.account, "eu-west-1")].append(ev)
    return streams


def jostle(rng: random.Random, records: list[dict[str, Any]]) -> None:
    """CloudTrail files are roughly but not strictly time-ordered; swap neighbours at random."""
    for i in range(len(records) - 1):
        if rng.random() < 0.35:
            records[i], records[i + 1] = records[i + 1], records[i]


def log_key(account: str, region: str, delivered: datetime, unique: str) -> str:
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
    )


def stream_files(rng: random.Random, account: str, region: str, events: list[Event]) -> list[LogFile]:
    """Cut one stream into 5-15 minute delivery windows, delivered 2-6 minutes after their newest record."""
    events = sorted(events, key=lambda e: (e.when, e.record["eventID"]))
    files: list[LogFile] = []
    i = 0
    while i < len(events):
        end = events[i].when + timedelta(minutes=rng.randint(5, 15))
        j = i
        while j < len(events) and events[j].when < end:
            j += 1
        batch = events[i:j]
        delivered = batch[-1].when + timedelta(seconds=rng.randint(120, 360))
        for k in range(0, len(batch), MAX_RECORDS_PER_FILE):
            records = [ev.record for ev in batch[k : k + MAX_RECORDS_PER_FILE]]
            jostle(rng, records)
            files.append(
                LogFile(
                    account,
                    region,
                    delivered,
                    log_key(account, region, delivered, rand_alnum(rng, 16)),
                    records,
                )
            )
        i = j
    return files


def build_log_files(rng: random.Random, events: list[Event]) -> list[LogFile]:
    streams = streams_of(events)
    files: list[LogFile] = []
    for account, region in sorted(streams):
        files.extend(stream_files(rng, account, region, streams[(account, region)]))
    for lf in files:
        lf.raw = compact({"Records": lf.records})
        lf.gz = gzip_bytes(lf.raw)
    return files


def fake_signature(to_sign: str) -> str:
    """A deterministic 256-byte hex string standing in for an RSA-2048 signature (no key exists)."""
    return b"".join(hashlib.sha256(to_sign.encode() + bytes([i])).digest() for i in range(8)).hex()


def digest_key(account: str, region: str, end: datetime) -> str:
    return (
        f"AWSLogs/{account}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{account}_CloudTrail-Digest_"
        f"{region}_{TRAILS[account]}_{HOME_REGION}_{end:%Y%m%dT%H%M%SZ}.json.gz"
    )


def digest_slots(
    account: str, region: str, until: datetime, files: list[LogFile]
) -> list[tuple[datetime, datetime]]:
    """Hourly digest windows for one stream, minus the hours the prod trail was stopped.

    Each stream has its own minute:second phase, as real trails do. The first post-gap
    window starts at the StartLogging time and links to no previous digest.
    """
    phase = timedelta(seconds=30 + int(stable_hex(f"phase:{account}:{region}", 8), 16) % 3540)
    slots: list[tuple[datetime, datetime]] = []
    end = START + phase
    last_before_gap = max([f.delivered for f in files if f.delivered < START_LOGGING] + [STOP_LOGGING])
    while end - timedelta(hours=1) <= until:
        start = end - timedelta(hours=1)
        if account != PROD or start < last_before_gap:
            slots.append((start, end))
        elif end > START_LOGGING:
            slots.append((max(start, START_LOGGING), end))
        end += timedelta(hours=1)
    return slots


def digest_body(
    account: str,
    region: str,
    start: datetime,
    end: datetime,
    files: list[LogFile],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """A digest in the documented field order; ``previous`` carries the chain link or None at a gap."""
    times = [r["eventTime"] for f in files for r in f.records]
    entries = [
        {
            "s3Bucket": LOG_BUCKET,
            "s3Object": f.key,
            "hashValue": hashlib.sha256(f.raw).hexdigest(),
            "hashAlgorithm": "SHA-256",
            "newestEventTime": max(r["eventTime"] for r in f.records),
            "oldestEventTime": min(r["eventTime"] for r in f.records),
        }
        for f in files
    ]
    prev = previous or {}
    return {
        "awsAccountId": account,
        "digestStartTime": iso(start),
        "digestEndTime": iso(end),
        "digestS3Bucket": LOG_BUCKET,
        "digestS3Object": digest_key(account, region, end),
        "digestPublicKeyFingerprint": stable_hex(f"cloudtrail-signing-key:{region}", 32),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max(times) if times else None,
        "oldestEventTime": min(times) if times else None,
        "previousDigestS3Bucket": prev.get("bucket"),
        "previousDigestS3Object": prev.get("key"),
        "previousDigestHashValue": prev.get("hash"),
        "previousDigestHashAlgorithm": prev.get("algorithm"),
        "previousDigestSignature": prev.get("signature"),
        "logFiles": entries,
    }


def outside_link(account: str, region: str, end: datetime) -> dict[str, Any]:
    """The first digest in the evidence points at one delivered before the collection window."""
    key = digest_key(account, region, end)
    return {
        "bucket": LOG_BUCKET,
        "key": key,
        "algorithm": "SHA-256",
        "hash": hashlib.sha256(f"outside-collection:{key}".encode()).hexdigest(),
        "signature": fake_signature(f"outside-collection:{key}"),
    }


def stream_digests(account: str, region: str, files: list[LogFile], until: datetime) -> list[DigestFile]:
    digests: list[DigestFile] = []
    previous: dict[str, Any] | None = None
    for n, (start, end) in enumerate(digest_slots(account, region, until, files)):
        if n == 0:
            previous = outside_link(account, region, start)
        elif start == START_LOGGING:
            previous = None  # logging was stopped: the chain restarts without a link
        inside = [f for f in files if start <= f.delivered < end]
        body = digest_body(account, region, start, end, inside, previous)
        raw = compact(body)
        inflated_hash = hashlib.sha256(raw).hexdigest()
        signature = fake_signature(
            f"{body['digestEndTime']}\n{LOG_BUCKET}/{body['digestS3Object']}\n"
            f"{inflated_hash}\n{body['previousDigestSignature'] or 'null'}"
        )
        digests.append(DigestFile(account, region, body["digestS3Object"], body, raw, gzip_bytes(raw)))
        previous = {
            "bucket": LOG_BUCKET,
            "key": body["digestS3Object"],
            "hash": inflated_hash,
            "algorithm": "SHA-256",
            "signature": signature,
        }
    return digests


def build_digests(log_files: list[LogFile]) -> list[DigestFile]:
    """One digest per hour per account/region, covering the log files delivered in that hour."""
    until = max(f.delivered for f in log_files)
    by_stream: dict[tuple[str, str], list[LogFile]] = defaultdict(list)
    for f in log_files:
        by_stream[(f.account, f.region)].append(f)
    digests: list[DigestFile] = []
    for account, region in sorted(by_stream):
        digests.extend(stream_digests(account, region, by_stream[(account, region)], until))
    covered = {e["s3Object"] for d in digests for e in d.body["logFiles"]}
    missing = [f.key for f in log_files if f.key not in covered]
    if missing:
        raise AssertionError(f"log files not referenced by any digest: {missing[:3]}")
    return digests


def write_tree(out: Path, log_files: list[LogFile], digests: list[DigestFile]) -> int:
    """Replace ``out/AWSLogs`` with the generated objects; returns the bytes written."""
    root = out / "AWSLogs"
    if root.exists():
        shutil.rmtree(root)
    total = 0
    for key, data in sorted([(f.key, f.gz) for f in log_files] + [(d.key, d.gz) for d in digests]):
        path = out / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def generate(
    out: Path, truth_path: Path, seed: int = SEED, network_out: Path | None = None
) -> dict[str, Any]:
    """Build everything in memory, then write it; returns the ground truth that was saved.

    CloudTrail goes to ``out``; the flow logs and GuardDuty findings to ``network_out``
    (default: ``network_evidence`` beside ``out``), built from the CloudTrail events.
    """
    rng = random.Random(seed)
    events, stage_of = collect_events(rng)
    log_files = build_log_files(rng, events)
    digests = build_digests(log_files)
    size = write_tree(out, log_files, digests)
    truth = build_truth(seed, log_files, digests, stage_of, size)
    truth["network"] = build_network(seed, events, DAYS, network_out or default_network_out(out), gzip_bytes)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth


def default_network_out(out: Path) -> Path:
    return out.parent / "network_evidence"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="evidence directory (gets AWSLogs/...)")
    parser.add_argument(
        "--truth", type=Path, default=None, help="ground truth path (default: <out>/../truth.json)"
    )
    parser.add_argument(
        "--network-out",
        type=Path,
        default=None,
        help="flow logs and GuardDuty findings (default: <out>/../network_evidence)",
    )
    parser.add_argument("--seed", type=int, default=SEED, help="RNG seed; the README describes the default")
    args = parser.parse_args(argv)
    truth_path = args.truth or args.out.parent / "truth.json"
    network_out = args.network_out or default_network_out(args.out)
    truth = generate(args.out, truth_path, args.seed, network_out)
    counts, flows = truth["counts"], truth["network"]["flow_logs"]
    print(
        f"wrote {counts['log_files']} log files, {counts['digest_files']} digest files, "
        f"{counts['records_on_disk']} records ({counts['bytes_on_disk']} bytes) to {args.out}; "
        f"{flows['files']} flow log files ({flows['records']} records) and "
        f"{len(truth['network']['guardduty']['findings'])} GuardDuty findings to {network_out}; "
        f"truth in {truth_path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
