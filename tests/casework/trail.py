"""A CloudTrail trail written the way CloudTrail delivers it to S3, with really signed digests.

Log files and digests go under `AWSLogs/<account>/CloudTrail[-Digest]/<region>/Y/m/d/` with the
documented names; each digest lists the log files of its hour with the SHA-256 of their
uncompressed bytes, links to the previous digest (hash of its uncompressed bytes and its
signature) and is signed SHA256withRSA over the documented string with a key generated per test.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "acme-trail-bucket"
TRAIL = "main-trail"


def new_key() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, hashlib.md5(_der(key)).hexdigest()


def _der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def write_key_file(path: Path, keys: list[tuple[rsa.RSAPrivateKey, str]]) -> Path:
    """What `aws cloudtrail list-public-keys --output json` prints."""
    path.write_text(
        json.dumps(
            {
                "PublicKeyList": [
                    {
                        "Value": base64.b64encode(_der(k)).decode(),
                        "ValidityStartTime": "2024-01-01T00:00:00+00:00",
                        "ValidityEndTime": "2024-12-31T00:00:00+00:00",
                        "Fingerprint": fp,
                    }
                    for k, fp in keys
                ]
            }
        )
    )
    return path


def z(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LogFile:
    key: str
    raw: bytes
    path: Path


@dataclass
class Digest:
    key: str
    body: dict
    raw: bytes
    signature: str
    path: Path


class Trail:
    def __init__(self, root: Path, key: rsa.RSAPrivateKey, fingerprint: str) -> None:
        self.root, self.key, self.fingerprint = root, key, fingerprint
        self.n = 0

    def log_file(self, delivered: dt.datetime, records: int = 3) -> LogFile:
        recs = []
        for i in range(records):
            self.n += 1
            recs.append(
                {
                    "eventVersion": "1.09",
                    "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": ACCOUNT},
                    "eventTime": z(delivered - dt.timedelta(minutes=4, seconds=i)),
                    "eventSource": "s3.amazonaws.com",
                    "eventName": "ListBuckets",
                    "awsRegion": REGION,
                    "sourceIPAddress": "198.51.100.7",
                    "userAgent": "aws-cli/2",
                    "requestID": f"req-{self.n}",
                    "eventID": str(uuid.UUID(int=self.n)),
                    "eventType": "AwsApiCall",
                    "recipientAccountId": ACCOUNT,
                }
            )
        raw = json.dumps({"Records": recs}).encode()
        name = f"{ACCOUNT}_CloudTrail_{REGION}_{delivered:%Y%m%dT%H%MZ}_{uuid.uuid4().hex[:16]}.json.gz"
        key = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{delivered:%Y/%m/%d}/{name}"
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(raw, mtime=0))
        return LogFile(key, raw, path)

    def digest(
        self,
        start: dt.datetime,
        end: dt.datetime,
        logs: list[LogFile],
        previous: Digest | None,
        signer: rsa.RSAPrivateKey | None = None,
        fingerprint: str | None = None,
    ) -> Digest:
        key = (
            f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{end:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{end:%Y%m%dT%H%M%SZ}.json.gz"
        )
        body = {
            "awsAccountId": ACCOUNT,
            "digestStartTime": z(start),
            "digestEndTime": z(end),
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": fingerprint or self.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": z(end),
            "oldestEventTime": z(start),
            "previousDigestS3Bucket": BUCKET if previous else None,
            "previousDigestS3Object": previous.key if previous else None,
            "previousDigestHashValue": hashlib.sha256(previous.raw).hexdigest() if previous else None,
            "previousDigestHashAlgorithm": "SHA-256" if previous else None,
            "previousDigestSignature": previous.signature if previous else None,
            "logFiles": [
                {
                    "s3Bucket": BUCKET,
                    "s3Object": lf.key,
                    "hashValue": hashlib.sha256(lf.raw).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": z(end),
                    "oldestEventTime": z(start),
                }
                for lf in logs
            ],
        }
        raw = json.dumps(body).encode()
        to_sign = (
            f"{body['digestEndTime']}\n{BUCKET}/{key}\n{hashlib.sha256(raw).hexdigest()}\n"
            f"{previous.signature if previous else 'null'}"
        ).encode()
        signature = (signer or self.key).sign(to_sign, padding.PKCS1v15(), hashes.SHA256()).hex()
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(raw, mtime=0))
        return Digest(key, body, raw, signature, path)


T0 = dt.datetime(2024, 5, 1, 0, 30, tzinfo=dt.UTC)


def hourly_chain(trail: Trail, hours: int, start: dt.datetime = T0, previous: Digest | None = None):
    """`hours` digests, one log file delivered in each hour; returns (logs, digests)."""
    logs, digests = [], []
    for h in range(hours):
        s, e = start + dt.timedelta(hours=h), start + dt.timedelta(hours=h + 1)
        lf = trail.log_file(s + dt.timedelta(minutes=20))
        d = trail.digest(s, e, [lf], previous)
        logs.append(lf)
        digests.append(d)
        previous = d
    return logs, digests
