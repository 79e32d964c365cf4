"""The sample case's network evidence (VPC flow logs, GuardDuty findings) imported with its CloudTrail:
every record accounted for, the attacker's address one entity across the three sources, the flow-log
gap where CloudTrail says it is, and each finding pointing at what truth.json says it does.

Expected values come from truth.json (computed by the generator from the files it wrote) and are
checked against the case with SQL of their own, never against numbers typed here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from support.sample_case import shared_network_case

from viewer.core.case_file import CaseFile
from viewer.core.entities import api, network, pivots
from viewer.core.ingest import ImportReport

NETWORK_SOURCES = {"vpcflow", "guardduty"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaseFile, dict, ImportReport, Path]:
    return shared_network_case(tmp_path_factory)


@pytest.fixture(scope="module")
def cur(built) -> duckdb.DuckDBPyConnection:
    return built[0].cursor()


@pytest.fixture(scope="module")
def net(built) -> dict:
    return built[1]["network"]


def rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return cur.execute(sql, params or []).fetchall()


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_network_evidence_is_accounted_for(built, cur, net) -> None:
    case, truth, report, _ = built
    files = [f for f in report.files if f.format in ("aws_vpc_flow", "aws_guardduty_get_findings")]
    assert all(f.reconciled and not f.warnings for f in files)
    by_format = Counter(f.format for f in files)
    assert by_format == {"aws_vpc_flow": net["flow_logs"]["files"], "aws_guardduty_get_findings": 1}
    seen = {fmt: sum(f.counts.seen for f in files if f.format == fmt) for fmt in by_format}
    assert seen == {
        "aws_vpc_flow": net["flow_logs"]["records"],
        "aws_guardduty_get_findings": len(net["guardduty"]["findings"]),
    }
    assert sum(f.counts.duplicate + f.counts.rejected for f in files) == 0
    ledger = [r for r in case.ledger() if r["format"] in by_format]
    assert all(
        r["records_seen"] == r["records_kept"] + r["records_rejected"] + r["records_duplicate"]
        for r in ledger
    )
    stored = dict(rows(cur, "SELECT source_type, count(*) FROM events GROUP BY 1"))
    assert stored["vpcflow"] == net["flow_logs"]["records"]
    assert stored["guardduty"] == len(net["guardduty"]["findings"])
    ct = truth["counts"]
    assert stored["cloudtrail"] == ct["records_on_disk"] - ct["identical_duplicate_records"]
    assert rows(cur, "SELECT count(*) FROM import_warnings") == [(0,)]
    nodata = rows(cur, "SELECT count(*) FROM events WHERE source_type = 'vpcflow' AND action = 'NODATA'")
    assert nodata == [(net["flow_logs"]["nodata_records"],)]


def test_attacker_ip_is_one_entity_across_three_sources(cur, net) -> None:
    ip = net["port_scan"]["source_ip"]
    row = next(r for r in pivots.panel_rows(cur, "ip", search=ip).rows if r.entity == ip)
    assert {"cloudtrail", "vpcflow", "guardduty"} <= set(row.sources)
    by_sql = dict(
        rows(
            cur,
            "SELECT source_type, count(*) FROM events WHERE src_ip = ? OR dst_ip = ? GROUP BY 1",
            [ip, ip],
        )
    )
    assert row.events == sum(by_sql.values())
    report = api.pivot_report(cur, "ip", ip)
    assert report["matches"] == [ip]
    assert {c["source"]: c["events"] for c in report["counts_by_source"]} == by_sql
    # Every GuardDuty finding naming the address is one of those truth.json says come from it.
    named = {f["id"] for f in net["guardduty"]["findings"] if f["remote_ip"] == ip}
    found = rows(cur, "SELECT event_uid FROM events WHERE source_type = 'guardduty' AND src_ip = ?", [ip])
    assert {r[0] for r in found} == named and named


def test_flow_gap_matches_cloudtrail(built, cur, net) -> None:
    gap = net["flow_log_gap"]
    ct = dict(
        rows(
            cur,
            "SELECT action, ts FROM events WHERE source_type = 'cloudtrail' "
            "AND action IN ('DeleteFlowLogs', 'CreateFlowLogs')",
        )
    )
    assert ct["DeleteFlowLogs"] == when(gap["deleted_at"]) and ct["CreateFlowLogs"] == when(gap["created_at"])
    deleted = rows(
        cur,
        "SELECT json_extract_string(raw, '$.requestParameters.DeleteFlowLogsRequest.FlowLogId.content') "
        "FROM events WHERE action = 'DeleteFlowLogs'",
    )
    created = rows(
        cur,
        "SELECT json_extract_string(raw, '$.responseElements.CreateFlowLogsResponse.flowLogIdSet.item') "
        "FROM events WHERE action = 'CreateFlowLogs'",
    )
    assert deleted == [(gap["deleted_flow_log"],)] and created == [(gap["new_flow_log"],)]
    (before, after, inside) = rows(
        cur,
        """SELECT max(coalesce(ts_end, ts)) FILTER (WHERE ts < ?), min(ts) FILTER (WHERE ts >= ?),
                  count(*) FILTER (WHERE coalesce(ts_end, ts) > ? AND ts < ?)
           FROM events WHERE source_type = 'vpcflow'""",
        [ct["DeleteFlowLogs"], ct["CreateFlowLogs"], ct["DeleteFlowLogs"], ct["CreateFlowLogs"]],
    )[0]
    assert inside == 0
    assert before <= ct["DeleteFlowLogs"] and before == when(gap["last_record_end"])
    assert after >= ct["CreateFlowLogs"] and after == when(gap["first_record_start"])
    assert after - ct["CreateFlowLogs"] < dt.timedelta(minutes=2)
    assert ct["DeleteFlowLogs"] - before < dt.timedelta(minutes=11)
    # Each flow log's objects carry its id in their names, on their side of the gap only.
    names = rows(
        cur,
        """SELECT CASE WHEN ev.rel_path LIKE '%' || ? || '%' THEN 'old' ELSE 'new' END, min(e.ts), max(e.ts)
           FROM events e JOIN evidence ev USING (evidence_id) WHERE e.source_type = 'vpcflow' GROUP BY 1""",
        [gap["deleted_flow_log"]],
    )
    spans = {r[0]: (r[1], r[2]) for r in names}
    assert spans["old"][1] < ct["DeleteFlowLogs"] < ct["CreateFlowLogs"] <= spans["new"][0]


def test_scan_flows_match_truth_and_the_port_probe_finding(cur, net) -> None:
    scan = net["port_scan"]
    got = rows(
        cur,
        """SELECT target_id, src_ip, dst_ip, src_port, dst_port, outcome FROM events
           WHERE source_type = 'vpcflow' AND (src_ip = ? OR dst_ip = ?) ORDER BY ts, dst_port, src_ip""",
        [scan["source_ip"], scan["source_ip"]],
    )
    want = [
        (f["instance_id"], f["src_ip"], f["dst_ip"], f["src_port"], f["dst_port"])
        + ("success" if f["action"] == "ACCEPT" else "failure",)
        for f in sorted(scan["flows"], key=lambda f: (f["start"], f["dst_port"], f["src_ip"]))
    ]
    assert got == want
    accepted = {(r[0], r[4]) for r in got if r[5] == "success" and r[2] != scan["source_ip"]}
    assert accepted == {
        (next(f for f in scan["flows"] if f["action"] == "ACCEPT")["instance_id"], scan["open_port"])
    }
    probe = next(f for f in net["guardduty"]["findings"] if f["type"].startswith("Recon:EC2/PortProbe"))
    event = rows(
        cur,
        "SELECT event_id, target_id, dst_ip, dst_port FROM events WHERE event_uid = ?",
        [probe["id"]],
    )[0]
    assert event[1:] == (probe["instance_id"], probe["private_ip"], scan["open_port"])
    assert (probe["instance_id"], scan["open_port"]) in accepted


def test_finding_links_name_instance_key_and_addresses(cur, net) -> None:
    for f in net["guardduty"]["findings"]:
        event_id = rows(cur, "SELECT event_id FROM events WHERE event_uid = ?", [f["id"]])[0][0]
        links = network.finding_links(cur, int(event_id))
        if f["access_key_id"]:
            assert links.get("access_key") == [f["access_key_id"]]
            assert links.get("principal") == [f["principal_id"]]
        if f["instance_id"]:
            assert links.get("instance") == [f["instance_id"]] and links.get("eni") == [f["eni"]]
            assert {f["private_ip"], f["public_ip"], f["remote_ip"]} == set(links.get("ip", []))


def test_findings_match_truth_and_cloudtrail(cur, net) -> None:
    findings = net["guardduty"]["findings"]
    stored = {
        r[0]: r[1:]
        for r in rows(
            cur,
            "SELECT event_uid, action, credential_id, src_ip, target_id, user_agent, ts, ts_end FROM events "
            "WHERE source_type = 'guardduty'",
        )
    }
    assert set(stored) == {f["id"] for f in findings}
    for f in findings:
        kind, key, ip, target, ua, first, last = stored[f["id"]]
        assert (kind, key, ip, ua) == (f["type"], f["access_key_id"], f["remote_ip"], f["user_agent"])
        assert (first, last) == (when(f["first_seen"]), when(f["last_seen"]))
        assert target == (f["instance_id"] or f["bucket"] or f["access_key_id"])
        if key is None:
            continue
        # The key really did something from that address in CloudTrail, first and last when GuardDuty says.
        span = rows(
            cur,
            "SELECT min(ts), max(ts), count(*) FILTER (WHERE action = ?) FROM events "
            "WHERE source_type = 'cloudtrail' AND credential_id = ? AND src_ip = ? AND ts BETWEEN ? AND ?",
            [f["api"], key, ip, first, last],
        )[0]
        assert span[:2] == (first, last) and span[2] >= 1
        if f["bucket"]:
            objects = rows(
                cur,
                "SELECT count(*) FROM events WHERE source_type = 'cloudtrail' AND credential_id = ? "
                "AND action = 'GetObject' AND json_extract_string(raw, '$.requestParameters.bucketName') = ?",
                [key, f["bucket"]],
            )
            assert objects[0][0] > 0
    opened = net["guardduty"]["opened_by_responder"]
    asked = rows(
        cur,
        "SELECT json_extract(raw, '$.requestParameters.findingIds') FROM events WHERE action = 'GetFindings'",
    )
    assert [json.loads(r[0]) for r in asked] == [[opened]]
    assert any(f["id"] == opened and f["type"].endswith("CloudTrailLoggingDisabled") for f in findings)


def test_endpoint_calls_in_cloudtrail_have_their_flows(cur, net) -> None:
    """Each prod call CloudTrail shows through the VPC endpoint while a flow log existed has a flow
    from the same address on the endpoint's interface, spanning the call's time."""
    endpoint = next(i for i in net["flow_logs"]["interfaces"] if i["role"] == "vpc endpoint")
    gap = net["flow_log_gap"]
    missing = rows(
        cur,
        """SELECT count(*) FROM events c
           WHERE c.source_type = 'cloudtrail' AND c.region = ? AND c.cloud_account = ?
             AND json_extract_string(c.raw, '$.vpcEndpointId') IS NOT NULL
             AND NOT (c.ts >= ? AND c.ts < ?)
             AND NOT EXISTS (SELECT 1 FROM events f WHERE f.source_type = 'vpcflow' AND f.target_id = ?
                             AND f.src_ip = c.src_ip AND f.dst_ip = ? AND c.ts BETWEEN f.ts AND f.ts_end)""",
        [
            net["flow_logs"]["region"],
            "111111111111",
            when(gap["deleted_at"]),
            when(gap["first_record_start"]),
            endpoint["eni"],
            endpoint["private_ip"],
        ],
    )
    through = rows(
        cur,
        "SELECT count(*) FROM events WHERE source_type = 'cloudtrail' "
        "AND json_extract_string(raw, '$.vpcEndpointId') IS NOT NULL AND region = ?",
        [net["flow_logs"]["region"]],
    )
    assert through[0][0] > 500 and missing == [(0,)]
    # The app servers' SSM agents call from the address their interface has in the flow log.
    for iface in net["flow_logs"]["interfaces"]:
        if iface["instance_id"]:
            ips = rows(
                cur,
                "SELECT DISTINCT src_ip FROM events WHERE action = 'UpdateInstanceInformation' "
                "AND json_extract_string(raw, '$.requestParameters.instanceId') = ?",
                [iface["instance_id"]],
            )
            assert ips == [(iface["private_ip"],)]
