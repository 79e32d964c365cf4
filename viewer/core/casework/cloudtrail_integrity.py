"""Offline CloudTrail log-file integrity validation from the digest files in the evidence.

Works from the case (the ledger says which digests and log files were imported, with their
hashes) plus the evidence folder (the digests' and log files' bytes; see `cloudtrail_digests` for
why). For every digest: its file is the one imported, it sits at the S3 key it names, its link to
the previous digest holds (hash of the previous digest), and its signature verifies with a known
public key. For every log file a digest lists: it is in the evidence and its uncompressed SHA-256
matches. Then: CloudTrail log files no digest lists, and periods a chain does not cover (log file
validation disabled, logging stopped), are reported. Nothing unchecked is reported as valid.
"""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from collections import defaultdict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from viewer.core.case_file import CaseFile
from viewer.core.casework import findings
from viewer.core.casework.cloudtrail_digests import (
    Digest,
    DigestFormatError,
    is_cloudtrail_log_key,
    load_digest,
    s3_key_of,
    uncompressed_sha256,
)
from viewer.core.casework.cloudtrail_keys import PublicKey, case_keys, load_key_file
from viewer.core.casework.evidence_files import EvidenceLocator, LedgerEntry, ledger_entries, sha256_and_size
from viewer.core.casework.findings import Finding, IntegrityResult

SIGNATURE_ALGORITHM = "SHA256withRSA"


def validate(
    case: CaseFile,
    evidence_dir: str | os.PathLike[str] | None = None,
    *,
    keys: list[PublicKey] | None = None,
    key_file: str | os.PathLike[str] | None = None,
    store: bool = True,
) -> IntegrityResult:
    """Validate every digest in the ledger and the log files they list; store the findings when
    the case is writable. Keys: those stored in the case, plus `keys`, plus those in `key_file`."""
    started = dt.datetime.now(dt.UTC)
    all_keys = {k.fingerprint: k for k in case_keys(case)}
    all_keys.update({k.fingerprint: k for k in keys or []})
    if key_file is not None:
        all_keys.update({k.fingerprint: k for k in load_key_file(key_file)})
    entries = ledger_entries(case)
    locator = EvidenceLocator(entries, evidence_dir)
    out: list[Finding] = []
    digests = _load_digests([e for e in entries if e.role == "digest"], locator, out)
    by_key = {d.key: d for d in digests}
    streams: dict[str, list[Digest]] = defaultdict(list)
    for d in digests:
        streams[d.stream].append(d)
    for chain in streams.values():
        chain.sort(key=lambda d: (d.end, d.key))
        out.extend(_check_chain(chain, by_key, all_keys))
    logs = _log_entries(entries)
    covered = _check_log_files(digests, logs, locator, out)
    out.extend(_uncovered(logs, covered))
    if not digests and not any(f.subject_kind == "digest" for f in out):
        out.append(
            Finding(
                "digest",
                str(case.path),
                "no_digests",
                False,
                "no CloudTrail digest files in the case: log file integrity cannot be validated",
            )
        )
    result = IntegrityResult(
        "cloudtrail_digests",
        out,
        {
            "evidence_dir": str(evidence_dir) if evidence_dir is not None else None,
            "key_file": str(key_file) if key_file is not None else None,
            "key_fingerprints": sorted(all_keys),
        },
        started_at=started,
    )
    if store:
        findings.store(case, result)
    return result


def _load_digests(entries: list[LedgerEntry], locator: EvidenceLocator, out: list[Finding]) -> list[Digest]:
    digests: list[Digest] = []
    for e in entries:
        try:
            d, why = load_digest(e, locator)
        except DigestFormatError as exc:
            out.append(
                Finding("digest", e.path, "invalid_format", False, f"{e.file_name}: {exc}", e.evidence_id)
            )
            continue
        except zipfile.BadZipFile as exc:
            out.append(Finding("digest", e.path, "unreadable", False, f"{e.file_name}: {exc}", e.evidence_id))
            continue
        if d is None:
            out.append(
                Finding(
                    "digest",
                    e.path,
                    "missing",
                    False,
                    f"{e.file_name}: digest not available, nothing it lists can be validated: {why}",
                    e.evidence_id,
                )
            )
            continue
        if d.on_disk_sha256 != e.sha256:
            out.append(
                Finding(
                    "digest",
                    e.path,
                    "modified",
                    False,
                    f"{e.file_name}: the digest file differs from the one imported (SHA-256 "
                    f"{d.on_disk_sha256}, ledger {e.sha256}); validating the file as found",
                    e.evidence_id,
                    {"location": d.location.describe()},
                )
            )
        if not _same_place(e.path, d.key):
            out.append(
                Finding(
                    "digest",
                    e.path,
                    "moved",
                    False,
                    f"{e.file_name}: not at the S3 key it names ({d.key}): moved or renamed",
                    e.evidence_id,
                )
            )
        digests.append(d)
    return digests


def _check_chain(chain: list[Digest], by_key: dict[str, Digest], keys: dict[str, PublicKey]) -> list[Finding]:
    """Links and signatures of one account/region/trail chain, oldest first."""
    out: list[Finding] = []
    signature_of: dict[str, str] = {}  # digest key -> its signature, taken from its successor
    for i, d in enumerate(chain):
        prev_key = d.previous_key
        name = d.key.rsplit("/", 1)[-1]
        eid = d.entry.evidence_id
        if prev_key is None or d.body.get("previousDigestSignature") is None:
            if i == 0:
                out.append(
                    Finding(
                        "chain",
                        d.key,
                        "chain_start",
                        True,
                        f"{name}: first digest of its chain (no previous digest)",
                        eid,
                    )
                )
            else:
                before = chain[i - 1]
                out.append(
                    _gap(
                        before,
                        d,
                        "the chain restarts without a link to the previous digest (log file "
                        "validation was turned off or logging was stopped)",
                    )
                )
            continue
        prev = by_key.get(prev_key)
        if prev is None:
            if i == 0:
                out.append(
                    Finding(
                        "chain",
                        d.key,
                        "starts_before_evidence",
                        True,
                        f"{name}: links to {prev_key.rsplit('/', 1)[-1]}, which is older than the "
                        "evidence collected; that link was not checked",
                        eid,
                        {"previous": prev_key},
                    )
                )
            else:
                out.append(
                    Finding(
                        "chain",
                        d.key,
                        "previous_missing",
                        False,
                        f"{name}: BROKEN CHAIN - the previous digest {prev_key} is not in the evidence "
                        "(deleted or not collected)",
                        eid,
                        {"previous": prev_key},
                    )
                )
                if d.start > chain[i - 1].end:
                    out.append(
                        _gap(
                            chain[i - 1],
                            d,
                            f"the digest between them ({prev_key.rsplit('/', 1)[-1]}) is missing",
                        )
                    )
            continue
        signature_of[prev.key] = str(d.body["previousDigestSignature"])
        expected = str(d.body.get("previousDigestHashValue") or "")
        if prev.inflated_sha256 != expected.lower():
            out.append(
                Finding(
                    "chain",
                    d.key,
                    "broken_link",
                    False,
                    f"{name}: BROKEN CHAIN - previous digest {prev.key.rsplit('/', 1)[-1]} hashes to "
                    f"{prev.inflated_sha256}, this digest recorded {expected}",
                    eid,
                    {"previous": prev.key},
                )
            )
        else:
            out.append(
                Finding(
                    "chain",
                    d.key,
                    "linked",
                    True,
                    f"{name}: links to the previous digest (hash matches)",
                    eid,
                    {"previous": prev.key},
                )
            )
        if d.start > prev.end:
            out.append(_gap(prev, d, "digests are missing between them"))
    for d in chain:
        out.append(_check_signature(d, signature_of.get(d.key), keys))
    return out


def _gap(before: Digest, after: Digest, why: str) -> Finding:
    return Finding(
        "chain",
        after.key,
        "gap",
        False,
        f"NO DIGESTS from {before.end:%Y-%m-%dT%H:%M:%SZ} to {after.start:%Y-%m-%dT%H:%M:%SZ} "
        f"({after.stream.split('|')[-1].rstrip('_')}): {why}; log files delivered then are not covered",
        after.entry.evidence_id,
        {
            "from": before.end.isoformat(),
            "to": after.start.isoformat(),
            "previous": before.key,
            "next": after.key,
        },
    )


def _check_signature(d: Digest, signature: str | None, keys: dict[str, PublicKey]) -> Finding:
    name = d.key.rsplit("/", 1)[-1]
    eid = d.entry.evidence_id
    fp = str(d.body.get("digestPublicKeyFingerprint", "")).lower()
    detail = {"fingerprint": fp}
    algorithm = d.body.get("digestSignatureAlgorithm", SIGNATURE_ALGORITHM)
    if algorithm != SIGNATURE_ALGORITHM:
        return Finding(
            "digest",
            d.key,
            "unsupported_algorithm",
            False,
            f"{name}: signature algorithm {algorithm!r} is not {SIGNATURE_ALGORITHM}; not verified",
            eid,
            detail,
        )
    if signature is None:
        return Finding(
            "digest",
            d.key,
            "signature_unavailable",
            False,
            f"{name}: signature NOT VERIFIED - it is kept in the S3 object metadata "
            "(x-amz-meta-signature), not in the file, and no later digest in the evidence carries it",
            eid,
            detail,
        )
    key = keys.get(fp)
    if key is None:
        known = (
            f"is not among the {len(keys)} public key(s) supplied"
            if keys
            else "is unknown (no public keys supplied)"
        )
        return Finding(
            "digest",
            d.key,
            "unknown_key",
            False,
            f"{name}: signature NOT VERIFIED - signed by key {fp}, which {known}",
            eid,
            detail,
        )
    try:
        key.rsa_key().verify(
            bytes.fromhex(signature), d.string_to_sign(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return Finding(
            "digest",
            d.key,
            "invalid_signature",
            False,
            f"{name}: INVALID SIGNATURE with key {fp} - the digest, its location or the previous "
            "signature was altered, or it was not signed by this key",
            eid,
            detail,
        )
    return Finding("digest", d.key, "valid", True, f"{name}: signature valid (key {fp})", eid, detail)


def _log_entries(entries: list[LedgerEntry]) -> dict[str, LedgerEntry]:
    """CloudTrail log files as delivered to S3 (the files digests can cover), by file name: the
    delivered names are unique (account, region, time, random part), and matching by name also
    finds files saved without their S3 folders."""
    return {
        e.file_name: e
        for e in entries
        if e.role not in ("digest", "container") and is_cloudtrail_log_key(e.path)
    }


def _same_place(path: str, key: str) -> bool:
    """The digest file is where its digestS3Object says (by S3 key when the folders were kept)."""
    here = s3_key_of(path)
    return here == s3_key_of(key) if here.startswith("AWSLogs/") else here == key.rsplit("/", 1)[-1]


def _check_log_files(
    digests: list[Digest], logs: dict[str, LedgerEntry], locator: EvidenceLocator, out: list[Finding]
) -> set[str]:
    covered: set[str] = set()
    for d in digests:
        for item in d.body.get("logFiles") or []:
            key = str(item.get("s3Object", ""))
            name = key.rsplit("/", 1)[-1]
            covered.add(name)
            out.append(
                _check_log_file(d, key, str(item.get("hashValue", "")).lower(), logs.get(name), locator)
            )
    return covered


def _check_log_file(
    d: Digest, key: str, expected: str, entry: LedgerEntry | None, locator: EvidenceLocator
) -> Finding:
    name = key.rsplit("/", 1)[-1]
    digest_name = d.key.rsplit("/", 1)[-1]
    detail: dict[str, object] = {"digest": d.key, "expected_sha256_uncompressed": expected}
    if entry is None:
        return Finding(
            "log_file",
            key,
            "missing",
            False,
            f"{name}: MISSING - listed by digest {digest_name} but not in the case's evidence",
            None,
            detail,
        )
    loc, why = locator.locate(entry)
    if loc is None:
        return Finding(
            "log_file",
            key,
            "not_present",
            False,
            f"{name}: NOT CHECKED - imported, but the file is not available now ({why})",
            entry.evidence_id,
            detail,
        )
    actual = uncompressed_sha256(loc)
    on_disk, _size = sha256_and_size(loc)
    detail.update({"actual_sha256_uncompressed": actual, "location": loc.describe()})
    if actual != expected:
        return Finding(
            "log_file",
            key,
            "modified",
            False,
            f"{name}: MODIFIED - uncompressed SHA-256 {actual} does not match digest {digest_name} "
            f"({expected})",
            entry.evidence_id,
            detail,
        )
    if on_disk != entry.sha256:
        return Finding(
            "log_file",
            key,
            "differs_from_import",
            False,
            f"{name}: the file now matches digest {digest_name}, but it is not the file that was "
            f"imported (ledger SHA-256 {entry.sha256}): the case's events came from other bytes",
            entry.evidence_id,
            detail,
        )
    return Finding(
        "log_file",
        key,
        "valid",
        True,
        f"{name}: hash matches digest {digest_name}",
        entry.evidence_id,
        detail,
    )


def _uncovered(logs: dict[str, LedgerEntry], covered: set[str]) -> list[Finding]:
    out = []
    for name, e in sorted(logs.items()):
        if name in covered:
            continue
        out.append(
            Finding(
                "log_file",
                s3_key_of(e.path),
                "not_covered",
                False,
                f"{name}: NOT COVERED - no digest in the evidence lists this log file, "
                "so its integrity cannot be validated",
                e.evidence_id,
            )
        )
    return out
