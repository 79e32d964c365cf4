"""The bundled sample case: fake signatures and a logging gap, checked against its truth.json."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.sample_case import build_sample_case  # noqa: E402
from trail import new_key, write_key_file  # noqa: E402

from viewer.core.casework import cloudtrail_integrity, custody  # noqa: E402


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    case, truth = build_sample_case(root)
    yield case, truth, root
    case.close()


def test_sample_gap_unverifiable_signatures_and_every_log_hash(sample, tmp_path):
    case, truth, _root = sample
    key_file = write_key_file(tmp_path / "keys.json", [new_key()])
    r = cloudtrail_integrity.validate(case, key_file=key_file)
    digests = truth["digests"]
    gaps = r.with_status("gap")
    assert sorted(g.detail["next"] for g in gaps) == sorted(digests["chain_restarts_after_gap"])
    assert sorted(g.detail["previous"] for g in gaps) == sorted(
        digests["last_prod_digest_before_gap"].values()
    )
    assert {g.detail["to"] for g in gaps} == {truth["logging_gap"]["restarted_at"]}
    # Fake signatures: nothing may come out "valid"; each is unknown-key or has no signature offline.
    assert not r.with_status("valid", "digest")
    signature_states = {f.status for f in r.findings if f.subject_kind == "digest"}
    assert signature_states == {"unknown_key", "signature_unavailable"}
    assert len(r.with_status("unknown_key")) + len(r.with_status("signature_unavailable")) == digests["count"]
    assert len(r.with_status("valid", "log_file")) == truth["counts"]["log_files"]
    assert sorted(f.subject for f in r.with_status("starts_before_evidence")) == sorted(
        digests["chain_heads_pointing_outside_collection"]
    )
    assert not r.ok


def test_sample_custody_verifies_every_file(sample):
    case, truth, _root = sample
    r = custody.verify(case)
    assert r.ok
    unchanged = r.with_status("unchanged")
    assert len(unchanged) == truth["counts"]["log_files"] + truth["digests"]["count"]
