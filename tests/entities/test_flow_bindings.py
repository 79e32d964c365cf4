"""VPC flow records' address <-> ENI <-> instance bindings, which the build reads from the events'
columns and reads `raw` only for records with packet-level addresses or no data: checked against
the same rule applied to every raw record in plain SQL, over text layouts with and without
flow-direction, packet addresses that differ from the interface's own, NODATA lines, and Parquet."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from viewer.core.case_file import CaseFile
from viewer.core.entities import builder, import_picks, network_build
from viewer.core.ingest import import_paths

ACCOUNT = "123456789012"
T0 = 1714557900  # 2024-05-01T10:05:00Z


def _flow_file(folder: Path, name: str, header: str, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b_20240501T1010Z_{name}.log"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _evidence(folder: Path) -> list[Path]:
    v2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    v5 = v2 + " instance-id flow-direction"
    pkt = v2 + " instance-id pkt-srcaddr pkt-dstaddr flow-direction"
    files = [
        # Default format: no direction, so the private address of the two is the interface's.
        _flow_file(
            folder,
            "v2",
            v2,
            [
                f"2 {ACCOUNT} eni-0aaa 10.0.1.5 198.51.100.20 4000 443 6 5 500 {T0} {T0 + 60} ACCEPT OK",
                f"2 {ACCOUNT} eni-0aaa 203.0.113.7 10.0.1.5 5000 22 6 5 500 {T0 + 10} {T0 + 70} REJECT OK",
                f"2 {ACCOUNT} eni-0bbb 172.20.3.4 172.15.9.9 4001 80 6 5 500 {T0 + 3700} {T0 + 3760} ACCEPT OK",
                f"2 {ACCOUNT} eni-0bbb 172.15.9.9 192.168.7.1 4002 80 6 5 500 {T0 + 3800} {T0 + 3860} ACCEPT OK",
                f"2 {ACCOUNT} eni-0ccc - - - - - - - {T0 + 20} {T0 + 80} - NODATA",
                f"2 {ACCOUNT} - 10.0.9.9 198.51.100.21 4003 443 6 5 500 {T0 + 30} {T0 + 90} ACCEPT OK",
            ],
        ),
        # v5 fields: the direction says which address is the interface's.
        _flow_file(
            folder,
            "v5",
            v5,
            [
                f"5 {ACCOUNT} eni-0ddd 203.0.113.8 10.0.2.6 5100 22 6 5 500 {T0} {T0 + 60} ACCEPT OK i-0d1 ingress",
                f"5 {ACCOUNT} eni-0ddd 10.0.2.6 198.51.100.22 4100 443 6 5 500 {T0 + 5} {T0 + 65} ACCEPT OK i-0d1 egress",
                f"5 {ACCOUNT} eni-0ddd 10.0.2.6 198.51.100.22 4101 443 6 5 500 {T0 + 50} {T0 + 95} ACCEPT OK i-0d1 egress",
                f"5 {ACCOUNT} eni-0eee 198.51.100.23 203.0.113.9 4200 443 6 5 500 {T0} {T0 + 60} ACCEPT OK - -",
                f"5 {ACCOUNT} eni-0fff - - - - - - - {T0} {T0 + 60} - NODATA - egress",
            ],
        ),
        # A NAT gateway's interface: the packet addresses (src_ip/dst_ip) are not its own.
        _flow_file(
            folder,
            "pkt",
            pkt,
            [
                f"5 {ACCOUNT} eni-0nat 10.0.0.50 198.51.100.24 4300 443 6 5 500 {T0} {T0 + 60} ACCEPT OK - "
                f"10.0.3.7 198.51.100.24 egress",
                f"5 {ACCOUNT} eni-0nat 198.51.100.24 10.0.0.50 443 4300 6 5 500 {T0 + 1} {T0 + 61} ACCEPT OK - "
                f"198.51.100.24 10.0.3.7 ingress",
                f"5 {ACCOUNT} eni-0ggg 10.0.4.8 198.51.100.25 4400 443 6 5 500 {T0} {T0 + 60} ACCEPT OK i-0g1 "
                f"- - egress",
            ],
        ),
    ]
    table = pa.table(
        {
            "version": pa.array([5, 5], pa.int32()),
            "account_id": [ACCOUNT, ACCOUNT],
            "interface_id": ["eni-0par", "eni-0par"],
            "srcaddr": ["203.0.113.10", "10.0.5.9"],
            "dstaddr": ["10.0.5.9", "198.51.100.26"],
            "srcport": pa.array([5500, 4500], pa.int32()),
            "dstport": pa.array([22, 443], pa.int32()),
            "protocol": pa.array([6, 6], pa.int32()),
            "packets": pa.array([5, 5], pa.int64()),
            "bytes": pa.array([500, 500], pa.int64()),
            "start": pa.array([T0, T0 + 5], pa.int64()),
            "end": pa.array([T0 + 60, T0 + 65], pa.int64()),
            "action": ["ACCEPT", "ACCEPT"],
            "log_status": ["OK", "OK"],
            "instance_id": ["i-0p1", "i-0p1"],
            "flow_direction": ["ingress", "egress"],
        }
    )
    parquet = folder / f"{ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b_20240501T1010Z_par.log.parquet"
    pq.write_table(table, parquet)
    return [*files, parquet]


# The rule on the raw records themselves: every path parsed for every record.
_TRUTH = """
    WITH f AS (
        SELECT event_id, ts, ts_end,
               coalesce(raw->>'$.fields.srcaddr', raw->>'$.srcaddr') AS srcaddr,
               coalesce(raw->>'$.fields.dstaddr', raw->>'$.dstaddr') AS dstaddr,
               lower(coalesce(raw->>'$.fields."flow-direction"', raw->>'$.flow_direction')) AS direction,
               nullif(coalesce(raw->>'$.fields."interface-id"', raw->>'$.interface_id'), '-') AS eni,
               nullif(coalesce(raw->>'$.fields."instance-id"', raw->>'$.instance_id'), '-') AS instance_id
        FROM events WHERE source_type = 'vpcflow')
    SELECT ip, eni, instance_id, min(ts), max(coalesce(ts_end, ts)), min(event_id) FROM (
        SELECT nullif(CASE direction WHEN 'egress' THEN srcaddr WHEN 'ingress' THEN dstaddr
                      ELSE CASE WHEN regexp_matches(srcaddr, '^(10\\.|192\\.168\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.)')
                                THEN srcaddr ELSE dstaddr END END, '-') AS ip,
               eni, instance_id, ts, ts_end, event_id, epoch_us(ts) // 3600000000 AS hour FROM f)
    WHERE ip IS NOT NULL AND eni IS NOT NULL GROUP BY ip, eni, instance_id, hour ORDER BY ALL"""


def test_flow_bindings_equal_the_rule_on_every_raw_record(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "flows.caseline")
    import_paths(case, _evidence(tmp_path / "ev"))
    cur = case.cursor()
    assert cur.execute("SELECT count(DISTINCT evidence_id) FROM events").fetchall()[0][0] == 4
    got = cur.execute(
        """SELECT ip, eni, instance_id, seen_from, seen_to, event_id FROM net_binding
           WHERE origin = 'vpcflow' ORDER BY ALL"""
    ).fetchall()
    truth = cur.execute(_TRUTH).fetchall()
    assert got == truth
    bound = {(ip, eni) for ip, eni, *_ in got}
    # the cases the columns alone would get wrong or miss are there
    assert {("10.0.0.50", "eni-0nat"), ("10.0.2.6", "eni-0ddd"), ("10.0.5.9", "eni-0par")} <= bound
    assert ("10.0.3.7", "eni-0nat") not in bound
    assert ("172.20.3.4", "eni-0bbb") in bound and ("192.168.7.1", "eni-0bbb") in bound


def test_rebuilt_bindings_read_from_raw_equal_the_imports(tmp_path: Path, monkeypatch) -> None:
    """The import skips `raw` for files whose header names no packet field; a rebuild (an older
    case, `caseline reindex`) knows no headers and reads it for every record: same bindings."""
    plain_given: list[list[tuple[int, int]]] = []
    flows = network_build._flows

    def spy(cur, mark, plain):  # type: ignore[no-untyped-def]
        plain_given.append(plain)
        return flows(cur, mark, plain)

    monkeypatch.setattr(network_build, "_flows", spy)
    case = CaseFile.create(tmp_path / "flows.caseline")
    import_paths(case, _evidence(tmp_path / "ev"))
    cur = case.cursor()
    files = dict(cur.execute("SELECT evidence_id, path FROM evidence WHERE role = 'events'").fetchall())
    plain = {e for a, b in plain_given[0] for e in range(a, b + 1)}
    # the v2 and v5 headers name no packet field; the pkt header does; Parquet has no header
    assert sorted(Path(files[e]).stem.rsplit("_", 1)[-1] for e in plain) == ["v2", "v5"]
    query = "SELECT ip, eni, instance_id, seen_from, seen_to, event_id FROM net_binding ORDER BY ALL"
    imported = cur.execute(query).fetchall()
    with case.transaction(cur):
        cur.execute("DELETE FROM entity_state")  # the stored mark gone: built again from scratch
        builder.update(cur)
    assert plain_given[-1] == []  # the rebuild read raw for every record
    assert cur.execute(query).fetchall() == imported
    assert len(imported) > 5


def test_flow_files_are_plain_by_their_header() -> None:
    cur = duckdb.connect()
    v2 = tuple("version account-id interface-id srcaddr dstaddr action log-status".split())
    pkt = (*v2, "pkt-srcaddr", "pkt-dstaddr")
    import_picks.note_flow_layouts(cur, "vpcflow", {4: v2, 5: v2, 6: pkt, 7: v2})
    import_picks.note_flow_layouts(cur, "alb", {8: ("type", "time")})  # not a flow log
    assert import_picks.plain_flow_runs(cur) == [(4, 5), (7, 7)]
    import_picks.drop(cur)
    assert import_picks.plain_flow_runs(cur) == []
