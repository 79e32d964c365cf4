"""The bundled sample case imports to exactly its ground truth (truth.json, computed by the generator).

The case is the whole bundle, CloudTrail plus the network evidence, as `make sample` imports it;
these tests count its CloudTrail half (tests/test_sample_case_network.py counts the rest)."""

from __future__ import annotations

import pytest
from support.sample_case import shared_network_case

from viewer.core.case_file import CaseFile


@pytest.fixture(scope="module")
def sample_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaseFile, dict]:
    case, truth, _, _ = shared_network_case(tmp_path_factory)
    return case, truth


def test_every_record_is_accounted_for(sample_case: tuple[CaseFile, dict]) -> None:
    case, truth = sample_case
    counts = truth["counts"]
    ledger = case.ledger()
    events = [r for r in ledger if r["role"] == "events" and r["format"] == "aws_cloudtrail"]
    assert len(events) == counts["log_files"]
    assert len([r for r in ledger if r["role"] == "digest"]) == counts["digest_files"]
    assert sum(r["records_seen"] for r in events) == counts["records_on_disk"]
    assert sum(r["records_duplicate"] for r in events) == counts["identical_duplicate_records"]
    network = truth["network"]
    others = network["flow_logs"]["records"] + len(network["guardduty"]["findings"])
    assert case.summary().events == counts["records_on_disk"] - counts["identical_duplicate_records"] + others
    assert case.cursor().execute("SELECT count(*) FROM import_warnings").fetchall() == [(0,)]


def test_attacker_ips_find_exactly_the_attacker_events(sample_case: tuple[CaseFile, dict]) -> None:
    case, truth = sample_case
    ips = truth["attacker"]["ips"]
    n = (
        case.cursor()
        .execute(
            f"SELECT count(*) FROM events WHERE source_type = 'cloudtrail' AND src_ip IN ({', '.join('?' * len(ips))})",
            ips,
        )
        .fetchall()[0][0]
    )
    assert n == truth["counts"]["attacker_unique_events"]


def test_leaked_key_and_temporary_keys_are_credentials(sample_case: tuple[CaseFile, dict]) -> None:
    case, truth = sample_case
    keys = set(truth["attacker"]["long_term_access_keys"]) | set(truth["attacker"]["temporary_access_keys"])
    seen = {r[0] for r in case.cursor().execute("SELECT DISTINCT credential_id FROM events").fetchall()}
    leaked = next(k for k, v in truth["attacker"]["long_term_access_keys"].items() if "leaked" in v)
    assert leaked in seen
    assert keys & seen, "the attacker's keys appear as credential ids"
