"""The AWS incident sample case generator: determinism, S3 layout, digests, ground truth.

The generator is run as a script (the way the README tells students to run it) into
temporary directories; the checks read the files back exactly as an importer would.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "sample_cases" / "generate_aws_incident.py"

LOG_RE = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/CloudTrail/(?P<region>[a-z]{2}-[a-z]+-\d)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/"
    r"(?P=acct)_CloudTrail_(?P=region)_(?P<stamp>(?P=y)(?P=m)(?P=d)T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
DIGEST_RE = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/CloudTrail-Digest/(?P<region>[a-z]{2}-[a-z]+-\d)/(?P<y>\d{4})/(?P<m>\d{2})/"
    r"(?P<d>\d{2})/(?P=acct)_CloudTrail-Digest_(?P=region)_(?P<trail>[A-Za-z0-9._-]+)_(?P<home>[a-z]{2}-[a-z]+-\d)_"
    r"(?P<stamp>(?P=y)(?P=m)(?P=d)T\d{6}Z)\.json\.gz$"
)
REQUIRED = ("eventTime", "eventID", "eventSource", "eventName", "awsRegion", "recipientAccountId")


def run_generator(out: Path) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out / "evidence")],
        check=True,
        capture_output=True,
        text=True,
    )


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aws_incident")
    run_generator(root)
    return root


@pytest.fixture(scope="module")
def keys(case: Path) -> list[str]:
    evidence = case / "evidence"
    return sorted(p.relative_to(evidence).as_posix() for p in evidence.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def logs(case: Path, keys: list[str]) -> dict[str, tuple[bytes, list[dict[str, Any]]]]:
    """Log file key -> (uncompressed bytes, records)."""
    out = {}
    for key in keys:
        if "/CloudTrail/" in key:
            raw = gzip.decompress((case / "evidence" / key).read_bytes())
            out[key] = (raw, json.loads(raw)["Records"])
    return out


@pytest.fixture(scope="module")
def digests(case: Path, keys: list[str]) -> dict[str, tuple[bytes, dict[str, Any]]]:
    out = {}
    for key in keys:
        if "/CloudTrail-Digest/" in key:
            raw = gzip.decompress((case / "evidence" / key).read_bytes())
            out[key] = (raw, json.loads(raw))
    return out


@pytest.fixture(scope="module")
def truth(case: Path) -> dict[str, Any]:
    return json.loads((case / "truth.json").read_text(encoding="utf-8"))


def test_two_runs_are_byte_identical(case: Path, tmp_path: Path) -> None:
    run_generator(tmp_path)
    assert tree_hashes(tmp_path) == tree_hashes(case)


def test_layout_matches_cloudtrail_s3_delivery(keys: list[str], logs: dict, digests: dict) -> None:
    assert keys and len(logs) + len(digests) == len(keys)
    for key in keys:
        assert LOG_RE.match(key) or DIGEST_RE.match(key), key
    for key in digests:
        m = DIGEST_RE.match(key)
        assert m and m["home"] == "us-east-1"


def test_every_log_file_is_gzip_json_with_complete_records(logs: dict) -> None:
    for key, (_, records) in logs.items():
        assert isinstance(records, list) and records, key
        m = LOG_RE.match(key)
        assert m is not None, key
        for rec in records:
            for field in REQUIRED:
                assert rec.get(field), (key, field)
            assert rec["recipientAccountId"] == m["acct"]
            assert rec["eventTime"].endswith("Z")
        # The file name is the delivery time: at or after the newest record, to the minute.
        stamp = m["stamp"]
        newest = max(r["eventTime"] for r in records)
        assert f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}" >= newest[:16]


def test_some_files_are_not_time_ordered(logs: dict) -> None:
    unordered = [
        k
        for k, (_, recs) in logs.items()
        if [r["eventTime"] for r in recs] != sorted(r["eventTime"] for r in recs)
    ]
    assert unordered


def test_digests_hash_the_uncompressed_log_files(logs: dict, digests: dict) -> None:
    referenced: Counter[str] = Counter()
    for key, (_, body) in digests.items():
        assert body["digestS3Object"] == key
        assert body["digestSignatureAlgorithm"] == "SHA256withRSA"
        for entry in body["logFiles"]:
            raw, records = logs[entry["s3Object"]]
            assert entry["hashAlgorithm"] == "SHA-256"
            assert entry["hashValue"] == hashlib.sha256(raw).hexdigest()
            assert entry["newestEventTime"] == max(r["eventTime"] for r in records)
            assert entry["oldestEventTime"] == min(r["eventTime"] for r in records)
            referenced[entry["s3Object"]] += 1
    assert set(referenced) == set(logs) and set(referenced.values()) == {1}


def test_digest_chain_links_and_breaks(digests: dict, truth: dict) -> None:
    heads, restarts = [], []
    for key, (_, body) in digests.items():
        prev = body["previousDigestS3Object"]
        if prev is None:
            restarts.append(key)
            assert body["previousDigestSignature"] is None and body["previousDigestHashValue"] is None
        elif prev in digests:
            assert body["previousDigestHashValue"] == hashlib.sha256(digests[prev][0]).hexdigest()
            assert body["digestStartTime"] == digests[prev][1]["digestEndTime"]
        else:
            heads.append(key)
    info = truth["digests"]
    assert sorted(heads) == info["chain_heads_pointing_outside_collection"]
    assert sorted(restarts) == info["chain_restarts_after_gap"]
    assert len(heads) == 9 and len(restarts) == 3


def test_logging_gap_is_consistent(logs: dict, digests: dict, truth: dict) -> None:
    gap = truth["logging_gap"]
    stop, start = (t.replace("+00:00", "Z") for t in (gap["stopped_at"], gap["restarted_at"]))
    prod = gap["account"]
    for _, records in logs.values():
        for rec in records:
            if rec["recipientAccountId"] == prod:
                assert not stop < rec["eventTime"] < start, rec["eventID"]
    # No digest may open while the trail is stopped; the last one before the gap opens
    # at most a delivery delay (minutes) after StopLogging.
    latest_open = (datetime.fromisoformat(gap["stopped_at"]) + timedelta(minutes=15)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    for _, body in digests.values():
        if body["awsAccountId"] == prod:
            opens = body["digestStartTime"]
            assert opens < latest_open and body["digestEndTime"] <= start or opens >= start, body[
                "digestS3Object"
            ]
    for key in truth["digests"]["chain_restarts_after_gap"]:
        assert digests[key][1]["digestStartTime"] == start


def test_truth_counts_match_disk(case: Path, keys: list[str], logs: dict, digests: dict, truth: dict) -> None:
    counts = truth["counts"]
    records = [r for _, recs in logs.values() for r in recs]
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        by_id[rec["eventID"]].append(rec)
    assert counts["log_files"] == len(logs)
    assert counts["digest_files"] == len(digests)
    assert counts["records_on_disk"] == len(records)
    assert counts["unique_event_ids"] == len(by_id)
    dups = {eid: recs for eid, recs in by_id.items() if len(recs) > 1}
    assert counts["identical_duplicate_records"] == sum(len(v) - 1 for v in dups.values()) >= 1
    assert all(all(r == recs[0] for r in recs) for recs in dups.values())
    assert [d["eventID"] for d in truth["duplicates"]] == sorted(dups)
    assert counts["bytes_on_disk"] == sum((case / "evidence" / k).stat().st_size for k in keys)
    assert counts["bytes_on_disk"] < 3_000_000
    assert 3000 <= counts["unique_event_ids"] - counts["attacker_unique_events"] <= 6000
    assert truth["accounts"].keys() == {r["recipientAccountId"] for r in records}
    assert set(truth["regions"]) == {r["awsRegion"] for r in records}


def test_truth_attacker_events_match_disk(logs: dict, truth: dict) -> None:
    records = [r for _, recs in logs.values() for r in recs]
    ips = set(truth["attacker"]["ips"])
    from_attacker = [r for r in records if r["sourceIPAddress"] in ips]
    stage_ids = {eid for s in truth["stages"] if s["name"] != "response" for eid in s["event_ids"]}
    assert len(from_attacker) == truth["counts"]["attacker_records_on_disk"]
    assert {r["eventID"] for r in from_attacker} == stage_ids
    assert len(stage_ids) == truth["counts"]["attacker_unique_events"]
    assert sum(s["event_count"] for s in truth["stages"] if s["name"] != "response") == len(stage_ids)
    firsts = [s["first_event_time"] for s in truth["stages"] if s["name"] != "response"]
    assert firsts == sorted(firsts)
    by_id = {r["eventID"]: r for r in records}
    for stage in truth["stages"]:
        times = sorted(by_id[e]["eventTime"] for e in stage["event_ids"])
        assert stage["first_event_time"] == times[0].replace("Z", "+00:00")
        assert stage["last_event_time"] == times[-1].replace("Z", "+00:00")


def test_story_pivots_are_present(logs: dict, truth: dict) -> None:
    records = [r for _, recs in logs.values() for r in recs]
    attacker = truth["attacker"]
    temp_keys = set(attacker["temporary_access_keys"])
    issued = {
        r["responseElements"]["credentials"]["accessKeyId"]
        for r in records
        if r["eventName"] == "AssumeRole" and r["sourceIPAddress"] in attacker["ips"]
    }
    assert temp_keys <= issued
    used = {
        r["userIdentity"].get("accessKeyId") for r in records if r["userIdentity"]["type"] == "AssumedRole"
    }
    assert temp_keys <= used
    for pair in truth["cross_account_assume_role"]:
        shared = [r for r in records if r.get("sharedEventID") == pair["sharedEventID"]]
        assert {r["recipientAccountId"] for r in shared} == {"111111111111", "333333333333"}
    hidden = [r for r in records if r["userIdentity"].get("userName") == "HIDDEN_DUE_TO_SECURITY_REASONS"]
    assert [r["eventID"] for r in hidden] == truth["hidden_username_event_ids"]
    assert hidden[0]["responseElements"] == {"ConsoleLogin": "Failure"}
    gets = [r for r in records if r["eventName"] == "GetObject" and r["sourceIPAddress"] in attacker["ips"]]
    assert len(gets) == truth["exfiltration"]["get_object_count"]
    assert (
        sum(r["additionalEventData"]["bytesTransferredOut"] for r in gets)
        == truth["exfiltration"]["bytes_transferred_out"]
    )
    assert any(r["sourceIPAddress"].endswith(".amazonaws.com") for r in records)


def test_committed_truth_matches_generator(truth: dict) -> None:
    """Other tests read sample_cases/aws_incident/truth.json; it must be what the script writes."""
    committed = REPO / "sample_cases" / "aws_incident" / "truth.json"
    assert json.loads(committed.read_text(encoding="utf-8")) == truth


def test_readme_quotes_the_generated_indicators(truth: dict) -> None:
    readme = (REPO / "sample_cases" / "aws_incident" / "README.md").read_text(encoding="utf-8")
    attacker = truth["attacker"]
    quoted = [
        *attacker["ips"],
        *attacker["long_term_access_keys"],
        *attacker["temporary_access_keys"],
        *attacker["principal_arns"],
        attacker["rotated_ci_deploy_key"],
        attacker["deleted_flow_log"],
        truth["duplicates"][0]["eventID"],
        truth["cross_account_assume_role"][0]["sharedEventID"],
        f"{truth['exfiltration']['bytes_transferred_out']:,}",
    ]
    quoted += [s["first_event_time"] for s in truth["stages"]]
    network = truth["network"]
    gap, scan = network["flow_log_gap"], network["port_scan"]
    quoted += [gap["new_flow_log"], gap["deleted_at"], scan["first_start"], scan["source_ip"]]
    quoted += [network["guardduty"]["opened_by_responder"], network["guardduty"]["administrator_detector_id"]]
    quoted += [f["type"] for f in network["guardduty"]["findings"]]
    opened = next(f for f in scan["flows"] if f["action"] == "ACCEPT" and f["direction"] == "ingress")
    quoted += [opened["instance_id"], opened["eni"], f"port `{opened['dst_port']}`"]
    missing = [q for q in quoted if q not in readme]
    assert not missing


# -- network evidence: VPC flow logs and GuardDuty findings ------------------------------------
FLOW_RE = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/vpcflowlogs/(?P<region>[a-z]{2}-[a-z]+-\d)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/"
    r"(?P=acct)_vpcflowlogs_(?P=region)_(?P<log>fl-[0-9a-f]{17})_(?P<stamp>(?P=y)(?P=m)(?P=d)T\d{4}Z)_[0-9a-f]{8}"
    r"\.log\.gz$"
)
FLOW_FIELDS_REQUIRED = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
    "log-status vpc-id subnet-id instance-id flow-direction pkt-srcaddr pkt-dstaddr"
).split()


@pytest.fixture(scope="module")
def flows(case: Path, truth: dict) -> dict[str, list[dict[str, str]]]:
    """Flow object key (below the bucket folder) -> its records as field -> value."""
    bucket = case / "network_evidence" / truth["network"]["flow_logs"]["bucket"]
    out = {}
    for path in sorted(bucket.rglob("*")):
        if path.is_file():
            lines = gzip.decompress(path.read_bytes()).decode().splitlines()
            fields = lines[0].split()
            assert set(FLOW_FIELDS_REQUIRED) <= set(fields), path
            assert all(len(line.split()) == len(fields) for line in lines[1:]), path
            out[path.relative_to(bucket).as_posix()] = [
                dict(zip(fields, line.split(), strict=True)) for line in lines[1:]
            ]
    return out


def utc(epoch: str) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat()


def test_flow_logs_are_s3_delivery_objects(case: Path, flows: dict, truth: dict) -> None:
    info = truth["network"]["flow_logs"]
    assert len(flows) == info["files"] and sum(len(r) for r in flows.values()) == info["records"]
    lines: Counter[tuple[str, ...]] = Counter()
    for key, records in flows.items():
        m = FLOW_RE.match(key)
        assert m and m["acct"] == "111111111111" and m["region"] == info["region"], key
        assert records, key
        stamp = m["stamp"]
        delivered = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}"
        for rec in records:
            assert rec["vpc-id"] == info["vpc_id"] and rec["account-id"] == m["acct"]
            assert int(rec["start"]) <= int(rec["end"]) and utc(rec["end"])[:16] <= delivered
            assert (rec["log-status"] == "NODATA") == (rec["srcaddr"] == "-")
            lines[tuple(rec.values())] += 1
    # A flow record has no id: identical lines would be dropped as duplicates on import.
    assert max(lines.values()) == 1
    nodata = sum(1 for recs in flows.values() for r in recs if r["log-status"] == "NODATA")
    assert nodata == info["nodata_records"] > 0
    assert (
        sum(1 for recs in flows.values() for r in recs if r["action"] == "REJECT") == info["reject_records"]
    )


def test_flow_log_gap_on_disk_matches_cloudtrail(flows: dict, logs: dict, truth: dict) -> None:
    gap = truth["network"]["flow_log_gap"]
    records = [r for _, recs in logs.values() for r in recs]
    deleted = next(r for r in records if r["eventName"] == "DeleteFlowLogs")
    created = next(r for r in records if r["eventName"] == "CreateFlowLogs")
    assert (
        deleted["requestParameters"]["DeleteFlowLogsRequest"]["FlowLogId"]["content"]
        == gap["deleted_flow_log"]
    )
    assert (
        created["responseElements"]["CreateFlowLogsResponse"]["flowLogIdSet"]["item"] == gap["new_flow_log"]
    )
    assert deleted["eventTime"].replace("Z", "+00:00") == gap["deleted_at"]
    assert created["eventTime"].replace("Z", "+00:00") == gap["created_at"]
    ends, starts = defaultdict(list), defaultdict(list)
    for key, recs in flows.items():
        m = FLOW_RE.match(key)
        assert m is not None
        ends[m["log"]] += [utc(r["end"]) for r in recs]
        starts[m["log"]] += [utc(r["start"]) for r in recs]
    assert set(ends) == {gap["deleted_flow_log"], gap["new_flow_log"]}
    assert max(ends[gap["deleted_flow_log"]]) == gap["last_record_end"] <= gap["deleted_at"]
    assert min(starts[gap["new_flow_log"]]) == gap["first_record_start"] >= gap["created_at"]
    assert (
        min(starts[gap["deleted_flow_log"]])
        == truth["network"]["flow_logs"]["by_flow_log"][gap["deleted_flow_log"]]["first_start"]
    )


def test_scan_comes_from_the_discovery_address_after_describe_instances(
    flows: dict, logs: dict, truth: dict
) -> None:
    scan = truth["network"]["port_scan"]
    probes = [r for recs in flows.values() for r in recs if scan["source_ip"] in (r["srcaddr"], r["dstaddr"])]
    assert len(probes) == len(scan["flows"])
    assert {int(r["dstport"]) for r in probes if r["srcaddr"] == scan["source_ip"]} == {
        22,
        3389,
        5432,
        6379,
        8080,
    }
    accepted = [r for r in probes if r["action"] == "ACCEPT" and r["flow-direction"] == "ingress"]
    assert [int(r["dstport"]) for r in accepted] == [scan["open_port"]]
    described = max(
        r["eventTime"]
        for _, recs in logs.values()
        for r in recs
        if r["eventName"] == "DescribeInstances"
        and r["sourceIPAddress"] == scan["source_ip"]
        and r["recipientAccountId"] == "111111111111"
    )
    discovery = next(s for s in truth["stages"] if s["name"] == "discovery")
    assert described.replace("Z", "+00:00") < scan["first_start"] < discovery["last_event_time"]


def test_guardduty_export_is_get_findings_output(case: Path, logs: dict, truth: dict) -> None:
    gd = truth["network"]["guardduty"]
    doc = json.loads((case / "network_evidence" / gd["file"]).read_text(encoding="utf-8"))
    assert list(doc) == ["Findings"] and len(doc["Findings"]) == len(gd["findings"])
    for f, want in zip(doc["Findings"], gd["findings"], strict=True):
        assert re.fullmatch(r"[0-9a-f]{32}", f["Id"]) and f["Id"] == want["id"]
        assert f["SchemaVersion"] == "2.0" and f["AccountId"] == "111111111111"
        assert (
            f["Arn"].endswith(f"/finding/{f['Id']}")
            and f["Service"]["DetectorId"] == gd["member_detector_id"]
        )
        assert (
            f["Service"]["EventFirstSeen"] <= f["Service"]["EventLastSeen"] < f["CreatedAt"] <= f["UpdatedAt"]
        )
    asked = [r for _, recs in logs.values() for r in recs if r["eventName"] == "GetFindings"]
    assert [r["requestParameters"]["findingIds"] for r in asked] == [[gd["opened_by_responder"]]]
    assert asked[0]["requestParameters"]["detectorId"] == gd["administrator_detector_id"]
    opened = next(f for f in doc["Findings"] if f["Id"] == gd["opened_by_responder"])
    assert opened["CreatedAt"] < asked[0]["eventTime"]  # it existed when the responder opened it
