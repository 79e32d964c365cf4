"""IP <-> ENI <-> instance bindings over time, instance launches and GuardDuty links (formats.md 3.2, 3.3).

Bindings come from CloudTrail EC2 calls (RunInstances, CreateNetworkInterface,
AttachNetworkInterface, AssociateAddress; the paths are the EC2 API's, as CloudTrail renders them
with `items` lists), from VPC flow records (`interface-id`, `instance-id` and the ENI's own
address, per hour) and from GuardDuty findings (`resource.instanceDetails.networkInterfaces`).
Private addresses are reused, so a binding has a time window and readers join on time.
"""

from __future__ import annotations

import duckdb

from viewer.core.entities import raw_picks
from viewer.core.jobs import JobContext
from viewer.core.time_floor import floor_div_sql

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS net_binding (
        ip VARCHAR,                      -- NULL for an ENI -> instance attachment
        eni VARCHAR, instance_id VARCHAR,
        seen_from TIMESTAMPTZ NOT NULL, seen_to TIMESTAMPTZ,   -- NULL: until a later binding
        origin VARCHAR NOT NULL,         -- the action or source that showed it
        event_id BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS instance_launch (
        instance_id VARCHAR NOT NULL, launched_ts TIMESTAMPTZ, principal_id VARCHAR,
        credential_id VARCHAR, account VARCHAR, region VARCHAR, event_id BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS finding_link (
        event_id BIGINT NOT NULL,        -- the GuardDuty finding
        link_kind VARCHAR NOT NULL,      -- instance, eni, ip, access_key, principal
        value VARCHAR NOT NULL
    )""",
]
TABLES = ("net_binding", "instance_launch", "finding_link")

_EC2_ACTIONS = "('RunInstances', 'CreateNetworkInterface', 'AssociateAddress', 'AttachNetworkInterface')"
_EC2_PATHS = (
    "$.responseElements.instancesSet.items",  # 1 RunInstances
    "$.responseElements.networkInterface.networkInterfaceId",  # 2 CreateNetworkInterface
    "$.responseElements.networkInterface.privateIpAddress",  # 3
    "$.requestParameters.publicIp",  # 4 AssociateAddress
    "$.requestParameters.instanceId",  # 5 AssociateAddress, AttachNetworkInterface
    "$.requestParameters.networkInterfaceId",  # 6
)


def ec2_pick(mark: int) -> tuple[str, tuple[str, ...]]:
    """The EC2 calls above `mark` that bind addresses, and the paths read from them
    (`raw_picks.create`)."""
    where = f"""service = 'ec2.amazonaws.com' AND error_code IS NULL AND event_id > {int(mark)}
                AND action IN {_EC2_ACTIONS}"""
    return where, _EC2_PATHS


def append_new(
    cur: duckdb.DuckDBPyConnection,
    mark: int,
    offset: int,
    ctx: JobContext | None,
    plain_flows: list[tuple[int, int]] | None = None,
) -> None:
    """Add the bindings of events above `mark`; the EC2 calls were read by `raw_picks.create`
    (`ec2_pick`'s paths start at `offset` in `v`); `plain_flows`: runs of evidence ids of flow
    files without packet-level fields (`import_picks.plain_flow_runs`)."""
    if ctx is not None:
        ctx.check()
    _cloudtrail(cur, offset)
    if ctx is not None:
        ctx.check()
    _flows(cur, mark, plain_flows or [])
    if ctx is not None:
        ctx.check()
    _guardduty(cur, mark)


def _cloudtrail(cur: duckdb.DuckDBPyConnection, offset: int) -> None:
    v = [f"v[{offset + i}]" for i in range(-1, len(_EC2_PATHS))]  # v[1] is the first path
    calls = f"FROM {raw_picks.TABLE} WHERE service = 'ec2.amazonaws.com' AND action IN {_EC2_ACTIONS}"
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE _launched AS
            SELECT event_id, ts, principal_id, credential_id, cloud_account, region,
                   unnest(CAST(CAST({v[1]} AS JSON) AS JSON[])) AS item
            {calls} AND action = 'RunInstances'"""
    )
    cur.execute(
        """INSERT INTO instance_launch
           SELECT item->>'$.instanceId', ts, principal_id, credential_id, cloud_account, region, event_id
           FROM _launched WHERE item->>'$.instanceId' IS NOT NULL"""
    )
    # Each launched instance's interfaces: private address, and the public one when CloudTrail has it.
    cur.execute(
        """INSERT INTO net_binding
           SELECT ip, eni, instance_id, ts, NULL, 'RunInstances', event_id FROM (
               SELECT nic->>'$.networkInterfaceId' AS eni, instance_id, ts, event_id,
                      unnest([nic->>'$.privateIpAddress', nic->>'$.association.publicIp']) AS ip
               FROM (SELECT item->>'$.instanceId' AS instance_id, ts, event_id,
                            unnest(CAST(item->'$.networkInterfaceSet.items' AS JSON[])) AS nic FROM _launched))
           WHERE ip IS NOT NULL"""
    )
    cur.execute(
        f"""INSERT INTO net_binding
            SELECT {v[3]}, {v[2]}, NULL, ts, NULL, action, event_id
            {calls} AND action = 'CreateNetworkInterface' AND {v[2]} IS NOT NULL"""
    )
    cur.execute(
        f"""INSERT INTO net_binding
            SELECT CASE WHEN action = 'AssociateAddress' THEN {v[4]} END, {v[6]}, {v[5]}, ts, NULL, action, event_id
            {calls} AND action IN ('AssociateAddress', 'AttachNetworkInterface')
              AND coalesce({v[6]}, {v[5]}) IS NOT NULL"""
    )
    cur.execute("DROP TABLE _launched")


# A flow record's ENI (`interface-id`), instance and direction are columns of `events`
# (target_name; target_id where target_type names an instance; action), and its addresses are
# src_ip/dst_ip, except where the record holds packet-level addresses (pkt-srcaddr, pkt-dstaddr:
# src_ip/dst_ip are those) or no data (NODATA/SKIPDATA: the action is the status). Only those
# records are read from `raw`: reading `raw` for every record (five JSON paths) cost 13.7 of the
# 15.7 CPU s of the whole build at 1M flow records; the check for packet fields is a plain
# substring test on the decoded text.
_FLOW_RAW = (
    "$.fields.srcaddr",
    "$.srcaddr",  # Parquet delivery
    "$.fields.dstaddr",
    "$.dstaddr",
    '$.fields."flow-direction"',
    "$.flow_direction",
)
_NEEDS_RAW = "(action IN ('NODATA', 'SKIPDATA') OR contains(raw::VARCHAR, '\"pkt'))"
_PRIVATE = (  # the RFC 1918 prefixes: 10., 192.168., 172.16. to 172.31. (prefix tests cost less than a regex)
    "(starts_with({a}, '10.') OR starts_with({a}, '192.168.') OR (starts_with({a}, '172.') AND substr({a}, 5, 3) IN ("
    + ", ".join(f"'{n}.'" for n in range(16, 32))
    + ")))"
)


FLOW_SOURCE = "vpcflow"


def names_packet_fields(names: tuple[str, ...]) -> bool:
    """Whether a flow log's field order holds packet-level addresses (pkt-srcaddr, pkt-dstaddr):
    its records then need `raw` for the interface's own addresses."""
    return any(name.startswith("pkt") for name in names)


def _flows(cur: duckdb.DuckDBPyConnection, mark: int, plain: list[tuple[int, int]]) -> None:
    # The ENI's own address is the source of egress records and the destination of ingress
    # ones (flow-direction, v5); without the field, the private one of the two. Rows without an
    # address go by an aggregate (count(ip)): DuckDB pushes a filter on `ip` below the grouping,
    # where it evaluated the whole expression, JSON read included, a second time for every record.
    # `plain`: runs of evidence ids whose records hold no packet-level field (import_picks); the
    # scan of their rows does not name `raw` at all, so DuckDB does not decompress it.
    listed = ", ".join(f"'{p}'" for p in _FLOW_RAW)
    in_plain = (
        " OR ".join(f"event_id BETWEEN {a << 32} AND {((b + 1) << 32) - 1}" for a, b in plain) or "false"
    )
    columns = "event_id, ts, ts_end, action, src_ip, dst_ip, target_name, target_id, target_type"
    where = f"source_type = '{FLOW_SOURCE}' AND event_id > $mark AND target_name IS NOT NULL"
    cur.execute(
        f"""INSERT INTO net_binding
            SELECT ip, eni, instance_id, min(ts), max(coalesce(ts_end, ts)), 'vpcflow', min(event_id) FROM (
                SELECT nullif(CASE lower(direction) WHEN 'egress' THEN srcaddr WHEN 'ingress' THEN dstaddr
                              ELSE CASE WHEN {_PRIVATE.format(a="srcaddr")} THEN srcaddr ELSE dstaddr END
                              END, '-') AS ip,
                       eni, instance_id, ts, ts_end, event_id, {floor_div_sql("epoch_us(ts)", 3_600_000_000)} AS hour
                FROM (
                    SELECT CASE WHEN v IS NULL THEN src_ip ELSE coalesce(v[1], v[2]) END AS srcaddr,
                           CASE WHEN v IS NULL THEN dst_ip ELSE coalesce(v[3], v[4]) END AS dstaddr,
                           CASE WHEN v IS NULL THEN action ELSE coalesce(v[5], v[6]) END AS direction,
                           target_name AS eni,
                           CASE WHEN target_type = 'AWS::EC2::Instance' THEN target_id END AS instance_id,
                           ts, ts_end, event_id
                    FROM (SELECT *, CASE WHEN {_NEEDS_RAW} THEN json_extract_string(raw, [{listed}]) END AS v
                          FROM (SELECT {columns}, raw FROM events WHERE {where} AND NOT ({in_plain}))
                          UNION ALL BY NAME
                          SELECT *, NULL::VARCHAR[] AS v
                          FROM (SELECT {columns} FROM events WHERE {where} AND ({in_plain})))))
            GROUP BY ip, eni, instance_id, hour HAVING count(ip) > 0""",
        {"mark": mark},
    )


def _pascal(path: str) -> str:
    return ".".join(part[:1].upper() + part[1:] for part in path.split("."))


# A finding's fields in every shape it arrives in: EventBridge wraps it in `detail`; exports and
# the REST API write camelCase; the AWS CLI and SDKs (`aws guardduty get-findings`) PascalCase.
_FINDING_FIELDS = (
    "resource.instanceDetails.instanceId",
    "resource.accessKeyDetails.accessKeyId",
    "resource.accessKeyDetails.principalId",
    "resource.instanceDetails.networkInterfaces",
)
_FINDING_PATHS = [p for f in _FINDING_FIELDS for p in (f"$.detail.{f}", f"$.{f}", f"$.{_pascal(f)}")]


def _either(i: int) -> str:
    """The SQL of field `i` of _FINDING_FIELDS, whichever shape held it."""
    return f"coalesce(x[{3 * i + 1}], x[{3 * i + 2}], x[{3 * i + 3}])"


# A network interface's fields, camelCase or PascalCase, read with one parse of the interface.
_NIC_FIELDS = ("networkInterfaceId", "privateIpAddress", "publicIp")
_NIC_PATHS = ", ".join(f"'$.{f}', '$.{_pascal(f)}'" for f in _NIC_FIELDS)


def _guardduty(cur: duckdb.DuckDBPyConnection, mark: int) -> None:
    # One parse of each finding for every field (a finding is a few KB of JSON; reading each
    # path with its own operator parsed it once per path).
    paths = ", ".join(f"'{p}'" for p in _FINDING_PATHS)
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE finding_picks AS
            SELECT event_id, ts, coalesce(ts_end, ts) AS ts_end, src_ip, dst_ip,
                   {_either(0)}->>'$' AS instance_id, {_either(1)}->>'$' AS access_key,
                   {_either(2)}->>'$' AS principal, CAST({_either(3)} AS JSON[]) AS nics
            FROM (SELECT event_id, ts, ts_end, src_ip, dst_ip, json_extract(raw, [{paths}]) AS x
                  FROM events WHERE source_type = 'guardduty' AND event_id > $mark)""",
        {"mark": mark},
    )
    cur.execute(
        """INSERT INTO finding_link
            SELECT event_id, link_kind, value FROM (
                SELECT event_id, unnest([
                    {'link_kind': 'instance', 'value': instance_id},
                    {'link_kind': 'access_key', 'value': access_key},
                    {'link_kind': 'principal', 'value': principal},
                    {'link_kind': 'ip', 'value': src_ip}, {'link_kind': 'ip', 'value': dst_ip}
                ], recursive := true)
                FROM finding_picks)
            WHERE value IS NOT NULL"""
    )
    # Each interface's fields are read once here: the links and the bindings below both use them
    # (reading them with `->>` in each statement parsed every interface six times: 200k findings,
    # the two statements 0.71 -> 0.21 s, in-process).
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE finding_nics AS
            SELECT event_id, ts, ts_end, instance_id, coalesce(f[1], f[2]) AS eni,
                   coalesce(f[3], f[4]) AS private_ip, coalesce(f[5], f[6]) AS public_ip
            FROM (SELECT event_id, ts, ts_end, instance_id, json_extract_string(nic, [{_NIC_PATHS}]) AS f
                  FROM (SELECT event_id, ts, ts_end, instance_id, unnest(nics) AS nic FROM finding_picks))"""
    )
    cur.execute(
        """INSERT INTO finding_link
            SELECT DISTINCT event_id, unnest(['eni', 'ip', 'ip'])::VARCHAR, unnest([eni, private_ip, public_ip])
            FROM finding_nics"""
    )
    cur.execute("DELETE FROM finding_link WHERE value IS NULL")
    cur.execute(
        """INSERT INTO net_binding
            SELECT unnest([private_ip, public_ip]) AS ip, eni, instance_id, ts, ts_end, 'guardduty', event_id
            FROM finding_nics"""
    )
    cur.execute("DELETE FROM net_binding WHERE ip IS NULL AND instance_id IS NULL")
    cur.execute("DROP TABLE finding_nics")
    cur.execute("DROP TABLE finding_picks")
