"""CloudTrail digest validation against real RSA signatures, then tampering of every kind."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trail import T0, Trail, hourly_chain, new_key, write_key_file  # noqa: E402

from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.casework import cloudtrail_integrity, cloudtrail_keys, findings  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402


@pytest.fixture
def signing(tmp_path):
    key, fp = new_key()
    return key, fp, write_key_file(tmp_path / "keys.json", [(key, fp)])


def _case(tmp_path: Path, evidence: Path) -> CaseFile:
    case = CaseFile.create(tmp_path / "t.caseline")
    import_paths(case, [evidence])
    return case


def _by_subject(result, status):
    return {f.subject.rsplit("/", 1)[-1] for f in result.with_status(status)}


def test_untampered_trail_validates_except_the_newest_signature(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    logs, digests = hourly_chain(Trail(ev, key, fp), 4)
    case = _case(tmp_path, ev)
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    assert {f.subject for f in r.with_status("valid", "log_file")} == {lf.key for lf in logs}
    assert {f.subject for f in r.with_status("valid", "digest")} == {d.key for d in digests[:-1]}
    assert [f.subject for f in r.with_status("linked")] == [d.key for d in digests[1:]]
    # The newest digest's signature lives only in S3 metadata: reported, never passed as valid.
    assert [(f.subject, f.status) for f in r.failures] == [(digests[-1].key, "signature_unavailable")]
    assert not r.ok
    stored = findings.latest(case, "cloudtrail_digests")
    assert stored is not None and stored.run_id == r.run_id and len(stored.findings) == len(r.findings)


def test_modified_log_file_is_reported_by_name(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    logs, _ = hourly_chain(Trail(ev, key, fp), 3)
    case = _case(tmp_path, ev)
    raw = json.loads(logs[1].raw)
    raw["Records"][0]["sourceIPAddress"] = "10.0.0.1"
    logs[1].path.write_bytes(gzip.compress(json.dumps(raw).encode()))
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    assert [f.subject for f in r.with_status("modified", "log_file")] == [logs[1].key]
    assert {f.subject for f in r.with_status("valid", "log_file")} == {logs[0].key, logs[2].key}


def test_log_file_missing_from_evidence_and_file_deleted_after_import(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    logs, _ = hourly_chain(Trail(ev, key, fp), 3)
    logs[0].path.unlink()  # never collected
    case = _case(tmp_path, ev)
    logs[2].path.unlink()  # imported, then lost
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    assert [f.subject for f in r.with_status("missing", "log_file")] == [logs[0].key]
    assert [f.subject for f in r.with_status("not_present", "log_file")] == [logs[2].key]
    assert [f.subject for f in r.with_status("valid", "log_file")] == [logs[1].key]


def test_broken_chain_link_and_altered_digest(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    _, digests = hourly_chain(Trail(ev, key, fp), 4)
    body = dict(digests[1].body)
    body["logFiles"] = []  # hide a log file from the record
    digests[1].path.write_bytes(gzip.compress(json.dumps(body).encode()))
    case = _case(tmp_path, ev)
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    assert [f.subject for f in r.with_status("broken_link")] == [digests[2].key]
    assert [f.subject for f in r.with_status("invalid_signature")] == [digests[1].key]
    # The log file the altered digest no longer lists is now uncovered.
    assert len(r.with_status("not_covered")) == 1


def test_deleted_digest_in_the_middle_breaks_the_chain(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    logs, digests = hourly_chain(Trail(ev, key, fp), 4)
    digests[1].path.unlink()
    case = _case(tmp_path, ev)
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    assert [f.subject for f in r.with_status("previous_missing")] == [digests[2].key]
    assert [f.subject for f in r.with_status("not_covered")] == [logs[1].key]
    gaps = r.with_status("gap")
    assert [(g.detail["previous"], g.detail["next"]) for g in gaps] == [(digests[0].key, digests[2].key)]


def test_signed_by_unknown_key_and_by_another_key_under_a_known_fingerprint(tmp_path, signing):
    key, fp, key_file = signing
    other, other_fp = new_key()
    ev = tmp_path / "evidence"
    trail = Trail(ev, key, fp)
    _, first = hourly_chain(trail, 2)
    s = T0 + dt.timedelta(hours=2)
    d_unknown = trail.digest(s, s + dt.timedelta(hours=1), [trail.log_file(s)], first[-1], other, other_fp)
    s2 = s + dt.timedelta(hours=1)
    d_forged = trail.digest(s2, s2 + dt.timedelta(hours=1), [trail.log_file(s2)], d_unknown, other, fp)
    s3 = s2 + dt.timedelta(hours=1)
    trail.digest(s3, s3 + dt.timedelta(hours=1), [trail.log_file(s3)], d_forged)
    case = _case(tmp_path, ev)
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    unknown = r.with_status("unknown_key")
    assert [f.subject for f in unknown] == [d_unknown.key] and other_fp in unknown[0].message
    assert [f.subject for f in r.with_status("invalid_signature")] == [d_forged.key]
    assert {f.subject for f in r.with_status("valid", "digest")} == {d.key for d in first}


def test_gap_where_validation_was_off_and_uncovered_log_file(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    trail = Trail(ev, key, fp)
    _, before = hourly_chain(trail, 2)
    hole = T0 + dt.timedelta(hours=3)
    stray = trail.log_file(hole)  # delivered while validation was off: no digest lists it
    restart = T0 + dt.timedelta(hours=5)
    _, after = hourly_chain(trail, 2, start=restart)  # the chain restarts without a link
    case = _case(tmp_path, ev)
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    gaps = r.with_status("gap")
    assert len(gaps) == 1
    assert gaps[0].detail["previous"] == before[-1].key and gaps[0].detail["next"] == after[0].key
    assert gaps[0].detail["from"] == (T0 + dt.timedelta(hours=2)).isoformat()
    assert gaps[0].detail["to"] == restart.isoformat()
    assert [f.subject for f in r.with_status("not_covered")] == [stray.key]
    # The last digest before the gap is authenticated by nobody: no successor carries its signature.
    assert set(_by_subject(r, "signature_unavailable")) == {
        before[-1].key.rsplit("/", 1)[-1],
        after[-1].key.rsplit("/", 1)[-1],
    }


def test_keys_stored_in_the_case_are_used(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    _, digests = hourly_chain(Trail(ev, key, fp), 2)
    case = _case(tmp_path, ev)
    assert cloudtrail_keys.store_keys(case, cloudtrail_keys.load_key_file(key_file)) == 1
    assert cloudtrail_keys.store_keys(case, cloudtrail_keys.load_key_file(key_file)) == 0
    r = cloudtrail_integrity.validate(case)
    assert [f.subject for f in r.with_status("valid", "digest")] == [digests[0].key]


def test_no_keys_means_not_verified(tmp_path, signing):
    key, fp, _ = signing
    ev = tmp_path / "evidence"
    _, digests = hourly_chain(Trail(ev, key, fp), 2)
    case = _case(tmp_path, ev)
    r = cloudtrail_integrity.validate(case)
    assert not r.with_status("valid", "digest")
    assert [f.subject for f in r.with_status("unknown_key")] == [digests[0].key]


def test_validation_reads_a_moved_evidence_folder(tmp_path, signing):
    key, fp, key_file = signing
    ev = tmp_path / "evidence"
    logs, _ = hourly_chain(Trail(ev, key, fp), 2)
    case = _case(tmp_path, ev)
    moved = tmp_path / "copy" / "evidence"
    moved.parent.mkdir()
    ev.rename(moved)
    gone = cloudtrail_integrity.validate(case, key_file=key_file, store=False)
    assert {f.status for f in gone.findings if f.subject_kind == "digest"} == {"missing"}
    found = cloudtrail_integrity.validate(case, tmp_path / "copy", key_file=key_file)
    assert {f.subject for f in found.with_status("valid", "log_file")} == {lf.key for lf in logs}


def test_bad_key_file_is_refused_with_its_entry(tmp_path):
    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps({"PublicKeyList": [{"Fingerprint": "ab", "Value": "bm90IGEga2V5"}]}))
    with pytest.raises(cloudtrail_keys.KeyFileError, match=r"\[0\].*not a DER RSA public key"):
        cloudtrail_keys.load_key_file(bad)
