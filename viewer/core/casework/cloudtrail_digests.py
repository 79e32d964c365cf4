"""CloudTrail digest files as AWS documents them, read from the evidence.

What the documentation ("CloudTrail digest file structure", "Validating CloudTrail log file
integrity with custom implementations") and the AWS CLI's `validate-logs` establish:
- each log file entry's `hashValue` is the hex SHA-256 of the log file's *uncompressed* content;
- `previousDigestHashValue` is the hex SHA-256 of the previous digest's uncompressed content;
- a digest is signed (SHA256withRSA, PKCS #1 v1.5) over the UTF-8 string
  `digestEndTime \\n digestS3Bucket/digestS3Object \\n hex(sha256(uncompressed digest)) \\n
  previousDigestSignature` (the literal `null` when there is no previous digest);
- the digest's own signature is *not* in the file: it is the S3 object metadata
  `x-amz-meta-signature`, which a copy of the bucket does not keep. Offline, the signature of
  digest N is the `previousDigestSignature` of digest N+1 of the same chain; the newest digest of a
  chain therefore cannot be authenticated from files alone.

The digest content itself is not stored in the case (the ledger keeps its path, size and
SHA-256), so digests are read from the evidence and checked against the ledger's hash first.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import itertools
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from viewer.core.casework.evidence_files import (
    EvidenceLocator,
    LedgerEntry,
    Location,
    open_chunks,
    read_bytes,
)

REQUIRED_KEYS = (
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
)


class DigestFormatError(ValueError):
    pass


@dataclass
class Digest:
    entry: LedgerEntry
    location: Location
    body: dict[str, Any]
    inflated_sha256: str  # of the uncompressed content: what the next digest's previousDigestHashValue holds
    on_disk_sha256: str  # of the file as stored: compared with the ledger

    @property
    def key(self) -> str:
        return str(self.body["digestS3Object"])

    @property
    def start(self) -> dt.datetime:
        return parse_time(self.body["digestStartTime"])

    @property
    def end(self) -> dt.datetime:
        return parse_time(self.body["digestEndTime"])

    @property
    def previous_key(self) -> str | None:
        prev = self.body.get("previousDigestS3Object")
        return str(prev) if prev else None

    @property
    def stream(self) -> str:
        """One chain per account, region and trail: the key without its date folders and end time."""
        return stream_of(self.key)

    def string_to_sign(self) -> bytes:
        previous = self.body.get("previousDigestSignature")
        return (
            f"{self.body['digestEndTime']}\n{self.body['digestS3Bucket']}/{self.body['digestS3Object']}\n"
            f"{self.inflated_sha256}\n{'null' if previous is None else previous}"
        ).encode()


def parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def s3_key_of(path: str) -> str:
    """The S3 key of a file as saved from the bucket: from its AWSLogs/ segment (prefix and local
    folders dropped); files not saved under AWSLogs/ keep their name only."""
    p = path.rsplit("!", 1)[-1].replace("\\", "/")
    i = p.find("AWSLogs/")
    return p[i:] if i >= 0 else p.rsplit("/", 1)[-1]


def stream_of(key: str) -> str:
    k = s3_key_of(key)
    head, _, _ = k.partition("/CloudTrail-Digest/")
    name = k.rsplit("/", 1)[-1]
    # ..._<YYYYMMDDTHHMMSSZ>.json.gz: the AWS CLI cuts the same 24 characters (key[-24:-8] is the time).
    return f"{head}|{name[:-24] if name.endswith('.json.gz') else name}"


# <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz (digest-file structure page, S3 layout)
_LOG_NAME = re.compile(r"^\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z_\w+\.json(\.gz)?$")


def is_cloudtrail_log_key(path: str) -> bool:
    """A CloudTrail log file as delivered to S3: under a /CloudTrail/ folder or with the delivery name."""
    p = path.rsplit("!", 1)[-1].replace("\\", "/")
    return "/CloudTrail/" in p or bool(_LOG_NAME.match(p.rsplit("/", 1)[-1]))


def load_digest(entry: LedgerEntry, locator: EvidenceLocator) -> tuple[Digest | None, str]:
    """(digest, problem): the digest read from the evidence, or None and why it could not be."""
    loc, why = locator.locate(entry)
    if loc is None:
        return None, why
    try:
        raw = read_bytes(loc)
    except (OSError, KeyError) as exc:
        return None, f"cannot be read at {loc.describe()}: {exc}"
    try:
        inflated = inflate(raw)
        body = json.loads(inflated)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DigestFormatError(f"not a readable digest (gzip JSON): {exc}") from exc
    missing = [k for k in REQUIRED_KEYS if not isinstance(body, dict) or k not in body]
    if missing:
        raise DigestFormatError(f"not a valid digest: missing {', '.join(missing)}")
    return Digest(entry, loc, body, hashlib.sha256(inflated).hexdigest(), hashlib.sha256(raw).hexdigest()), ""


def inflate(raw: bytes) -> bytes:
    """Delivered objects are gzip; a copy someone gunzipped is hashed as it is."""
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def uncompressed_sha256(loc: Location) -> str:
    """Streamed: a log file is never held whole; gzip members are followed (wbits 47 = auto)."""
    h = hashlib.sha256()
    chunks = open_chunks(loc)
    first = next(chunks, b"")
    if first[:2] != b"\x1f\x8b":
        h.update(first)
        for block in chunks:
            h.update(block)
        return h.hexdigest()
    d = zlib.decompressobj(47)
    for block in itertools.chain([first], chunks):
        data = block
        while data:
            h.update(d.decompress(data))
            data = d.unused_data
            if data:  # a concatenated gzip member starts here
                d = zlib.decompressobj(47)
    h.update(d.flush())
    return h.hexdigest()
