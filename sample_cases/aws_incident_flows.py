"""VPC flow records of the prod VPC in the AWS incident sample case, and their S3 objects.

Traffic (``aws_incident_traffic``) arrives here as connections seen on an interface; this
module does what the flow log service does with them: one record per interface, direction
and 5-tuple per 10-minute aggregation window, NODATA for a captured interface with no
traffic in a window, nothing while no flow log exists (between ``DeleteFlowLogs`` and
``CreateFlowLogs``, read from the CloudTrail records), and one gzipped object per window,
delivered a few minutes after it closes, starting with the custom format's header line.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_incident_attack import FLOW_LOG_ID
from aws_incident_model import PROD, Event, stable_hex
from aws_incident_network import (
    APP_SERVERS,
    ENDPOINT,
    FLOW_AGGREGATION_SECONDS,
    NEW_FLOW_LOG_ID,
    VPC_ID,
    VPC_REGION,
    Interface,
)

FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
    "action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id "
    "flow-direction traffic-path pkt-src-aws-service pkt-dst-aws-service"
).split()
CAPTURED = (*APP_SERVERS, ENDPOINT)
# TCP flag bitmask of flow logs: FIN 1, SYN 2, RST 4, SYN-ACK 18; other flags are not recorded.
SYN, FIN, RST, SYN_ACK = 2, 1, 4, 18
PATH_IN_VPC, PATH_S3_GATEWAY, PATH_INTERNET = "1", "7", "8"  # traffic-path, egress only


@dataclass
class Conn:
    """Traffic seen on one interface in one direction: becomes (part of) one flow record."""

    when: datetime
    seconds: int
    iface: Interface
    direction: str  # ingress / egress
    src: str
    dst: str
    sport: int
    dport: int
    packets: int
    size: int
    action: str = "ACCEPT"
    flags: int = 0
    path: str = "-"
    src_svc: str = "-"
    dst_svc: str = "-"
    tag: str = ""


@dataclass
class FlowRecord:
    flow_log: str
    window: datetime
    iface: Interface
    direction: str = "-"
    src: str = "-"
    dst: str = "-"
    sport: int = 0
    dport: int = 0
    packets: int = 0
    size: int = 0
    start: int = 0
    end: int = 0
    action: str = "-"
    status: str = "NODATA"
    flags: int = 0
    path: str = "-"
    src_svc: str = "-"
    dst_svc: str = "-"
    tags: set[str] = field(default_factory=set)

    def line(self) -> str:
        i = self.iface
        if self.status == "NODATA":
            values: list[Any] = [5, PROD, i.eni, *["-"] * 7, self.start, self.end, "-", "NODATA"]
            values += [
                VPC_ID,
                i.subnet,
                i.instance_id,
                "-",
                "-",
                "-",
                "-",
                VPC_REGION,
                i.az_id,
                "-",
                "-",
                "-",
                "-",
            ]
        else:
            values = [5, PROD, i.eni, self.src, self.dst, self.sport, self.dport, 6, self.packets, self.size]
            values += [self.start, self.end, self.action, "OK", VPC_ID, i.subnet, i.instance_id, self.flags]
            values += ["IPv4", self.src, self.dst, VPC_REGION, i.az_id, self.direction, self.path]
            values += [self.src_svc, self.dst_svc]
        return " ".join(str(v) for v in values)


@dataclass
class FlowLogFile:
    flow_log: str
    delivered: datetime
    key: str
    records: list[FlowRecord]
    raw: bytes = b""
    gz: bytes = b""


@dataclass(frozen=True)
class Capture:
    """When each flow log captured: the old one until DeleteFlowLogs, the new one after CreateFlowLogs."""

    start: datetime
    deleted: datetime
    created: datetime
    first_window: datetime  # of the new flow log: capture begins shortly after creation
    end: datetime

    def windows(self) -> Iterator[tuple[str, datetime, datetime]]:
        step = timedelta(seconds=FLOW_AGGREGATION_SECONDS)
        for log, t, stop in (
            (FLOW_LOG_ID, self.start, self.deleted),
            (NEW_FLOW_LOG_ID, self.first_window, self.end),
        ):
            while t < stop:
                yield log, t, min(t + step, stop)
                t += step

    def window_of(self, when: datetime) -> tuple[str, datetime, datetime] | None:
        step = timedelta(seconds=FLOW_AGGREGATION_SECONDS)
        for log, base, stop in (
            (FLOW_LOG_ID, self.start, self.deleted),
            (NEW_FLOW_LOG_ID, self.first_window, self.end),
        ):
            if base <= when < stop:
                w = base + step * ((when - base) // step)
                return log, w, min(w + step, stop)
        return None


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def call_time(events: list[Event], api: str) -> datetime:
    """When CloudTrail shows ``api`` (``ec2:DeleteFlowLogs``) in prod: the flow-log story's clock."""
    service, name = api.split(":")
    return next(
        e.when
        for e in events
        if e.account == PROD and e.record["eventName"] == name and e.record["eventSource"].startswith(service)
    )


def capture_of(events: list[Event], start: datetime, end: datetime) -> Capture:
    deleted, created = call_time(events, "ec2:DeleteFlowLogs"), call_time(events, "ec2:CreateFlowLogs")
    return Capture(start, deleted, created, created + timedelta(seconds=28), end)


def aggregate(conns: list[Conn], cap: Capture) -> list[FlowRecord]:
    """Flows of one interface, direction and 5-tuple in one window make one record; traffic while
    no flow log existed is lost; a captured interface with no traffic in a window gets NODATA."""
    records: dict[tuple[Any, ...], FlowRecord] = {}
    for c in sorted(conns, key=lambda c: (c.when, c.iface.eni, c.direction, c.src, c.sport)):
        slot = cap.window_of(c.when)
        if slot is None:
            continue
        log, w, stop = slot
        key = (log, w, c.iface.eni, c.direction, c.src, c.dst, c.sport, c.dport)
        start, end = epoch(c.when), min(epoch(c.when) + c.seconds, epoch(stop) - 1)
        r = records.get(key)
        if r is None:
            r = records[key] = FlowRecord(
                log,
                w,
                c.iface,
                c.direction,
                c.src,
                c.dst,
                c.sport,
                c.dport,
                0,
                0,
                start,
                end,
                c.action,
                "OK",
                0,
                c.path,
                c.src_svc,
                c.dst_svc,
            )
        r.packets, r.size, r.flags = r.packets + c.packets, r.size + c.size, r.flags | c.flags
        r.end = max(r.end, end)
        r.tags.add(c.tag)
    busy = {(r.flow_log, r.window, r.iface.eni) for r in records.values()}
    out = list(records.values())
    for log, w, stop in cap.windows():
        for iface in CAPTURED:
            if (log, w, iface.eni) not in busy:
                out.append(FlowRecord(log, w, iface, start=epoch(w), end=epoch(stop), tags={"nodata"}))
    return out


def flow_key(log: str, delivered: datetime) -> str:
    name = f"{PROD}_vpcflowlogs_{VPC_REGION}_{log}_{delivered:%Y%m%dT%H%MZ}_{stable_hex(f'{log}:{delivered}', 8)}"
    return f"AWSLogs/{PROD}/vpcflowlogs/{VPC_REGION}/{delivered:%Y/%m/%d}/{name}.log.gz"


def deliver(rng: random.Random, records: list[FlowRecord]) -> list[FlowLogFile]:
    """One object per flow log and window, delivered a few minutes after the window closes."""
    by_window: dict[tuple[str, datetime], list[FlowRecord]] = {}
    for r in records:
        by_window.setdefault((r.flow_log, r.window), []).append(r)
    files = []
    for (log, w), recs in sorted(by_window.items(), key=lambda kv: kv[0][1]):
        delivered = w + timedelta(seconds=FLOW_AGGREGATION_SECONDS + rng.randint(60, 300))
        recs.sort(key=lambda r: (r.iface.eni, r.start, r.direction, r.src, r.sport))
        files.append(FlowLogFile(log, delivered, flow_key(log, delivered), recs))
    return files
