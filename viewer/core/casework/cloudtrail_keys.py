"""CloudTrail's public keys for digest signatures: from a key file, or stored in the case.

Key file format: exactly what `aws cloudtrail list-public-keys --output json` prints, i.e.
`{"PublicKeyList": [{"Value": "<base64>", "ValidityStartTime": ..., "ValidityEndTime": ...,
"Fingerprint": "<hex>"}]}`. `Value` is the DER-encoded PKCS #1 RSA public key (the CLI prints
blobs as base64); times are ISO 8601 strings or epoch seconds. Because CloudTrail signs with one
key pair per region and ListPublicKeys does not name the region, a file may also map regions to
such outputs: `{"us-east-1": {"PublicKeyList": [...]}, ...}`, or be a bare list of key objects.
Keys are matched to digests by `digestPublicKeyFingerprint` == `Fingerprint`, as the AWS CLI does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from viewer.core.case_file import CaseFile


class KeyFileError(ValueError):
    """The key file cannot be used; the message names the entry at fault."""


@dataclass(frozen=True)
class PublicKey:
    fingerprint: str
    der: bytes  # DER PKCS #1 RSAPublicKey
    validity_start: dt.datetime | None
    validity_end: dt.datetime | None
    region: str | None
    source: str

    def rsa_key(self) -> rsa.RSAPublicKey:
        key = serialization.load_der_public_key(self.der)
        if not isinstance(key, rsa.RSAPublicKey):
            raise KeyFileError(f"key {self.fingerprint} is not an RSA key")
        return key


def load_key_file(path: str | os.PathLike[str]) -> list[PublicKey]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"{p}: cannot read the key file as JSON: {exc}") from exc
    keys = parse_keys(data, str(p))
    if not keys:
        raise KeyFileError(f"{p}: no public keys in the file (expected a ListPublicKeys output)")
    return keys


def parse_keys(data: Any, source: str) -> list[PublicKey]:
    """Keys from a ListPublicKeys output, a list of key objects, or a region -> output mapping."""
    if isinstance(data, list):
        return [_key(item, source, None, f"[{i}]") for i, item in enumerate(data)]
    if isinstance(data, dict) and "PublicKeyList" in data:
        return parse_keys(data["PublicKeyList"], source)
    if isinstance(data, dict) and all(isinstance(v, dict | list) for v in data.values()):
        out: list[PublicKey] = []
        for region, sub in data.items():
            items = sub.get("PublicKeyList", []) if isinstance(sub, dict) else sub
            out.extend(_key(item, source, str(region), f"{region}[{i}]") for i, item in enumerate(items))
        return out
    raise KeyFileError(f"{source}: not a ListPublicKeys output (no PublicKeyList)")


def _key(item: Any, source: str, region: str | None, where: str) -> PublicKey:
    if not isinstance(item, dict) or "Fingerprint" not in item or "Value" not in item:
        raise KeyFileError(f"{source} {where}: a key needs Fingerprint and Value")
    try:
        der = base64.b64decode(str(item["Value"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{source} {where}: Value is not base64: {exc}") from exc
    key = PublicKey(
        str(item["Fingerprint"]).strip().lower(),
        der,
        _time(item.get("ValidityStartTime")),
        _time(item.get("ValidityEndTime")),
        region or item.get("Region"),
        source,
    )
    try:
        key.rsa_key()
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{source} {where}: Value is not a DER RSA public key: {exc}") from exc
    return key


def _time(v: Any) -> dt.datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, int | float):
        return dt.datetime.fromtimestamp(v, dt.UTC)
    t = dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


def store_keys(case: CaseFile, keys: list[PublicKey]) -> int:
    """Add keys to the case (a fingerprint already stored is kept as it was); returns how many were new."""
    case.require_writable("store CloudTrail public keys")
    cur = case.cursor()
    added = 0
    with case.transaction(cur):
        for k in keys:
            exists = cur.execute(
                "SELECT count(*) FROM cloudtrail_public_keys WHERE fingerprint = ?", [k.fingerprint]
            ).fetchall()[0][0]
            if exists:
                continue
            cur.execute(
                "INSERT INTO cloudtrail_public_keys VALUES (?, ?, ?, ?, ?, ?, now())",
                [
                    k.fingerprint,
                    base64.b64encode(k.der).decode(),
                    k.validity_start,
                    k.validity_end,
                    k.region,
                    k.source,
                ],
            )
            added += 1
        case.log_activity("public_keys_stored", {"added": added, "offered": len(keys)}, cur)
    return added


def case_keys(case: CaseFile) -> list[PublicKey]:
    rows = (
        case.cursor()
        .execute(
            "SELECT fingerprint, value_der_b64, validity_start, validity_end, region, source "
            "FROM cloudtrail_public_keys ORDER BY fingerprint"
        )
        .fetchall()
    )
    return [PublicKey(r[0], base64.b64decode(r[1]), r[2], r[3], r[4], r[5]) for r in rows]
