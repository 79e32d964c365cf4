"""Network traffic of the prod VPC in the AWS incident sample case, driven by the same story.

Every call CloudTrail shows through prod's VPC endpoint (the SSM agents, the order-processor
Lambda) is a connection on the endpoint's interface from the address CloudTrail gives as
``sourceIPAddress`` (and, for an app server, on its interface too), sized by the bytes the
S3 data event reports; the intruder's port scan comes from the address of its discovery
calls, minutes after its DescribeInstances. Around that: the load balancer's traffic to the
app servers, a nightly package check against S3, and internet scanners knocking on the
app servers' public addresses.

One seeded RNG of its own (not the CloudTrail one), so CloudTrail's bytes do not depend on it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from aws_incident_attack import IP_EXFIL, IP_STAGING
from aws_incident_background import VPCE
from aws_incident_flows import (
    FIELDS,
    FIN,
    PATH_IN_VPC,
    PATH_INTERNET,
    PATH_S3_GATEWAY,
    RST,
    SYN,
    SYN_ACK,
    Capture,
    Conn,
    FlowLogFile,
    aggregate,
    capture_of,
    deliver,
)
from aws_incident_model import PROD, Event, stable_hex
from aws_incident_network import (
    APP_PORT,
    APP_SERVERS,
    ENDPOINT,
    LB_NODES,
    OPEN_DEBUG_PORT,
    S3_REPO_IPS,
    VPC_REGION,
)

SCAN_PORTS = (22, 3389, 5432, 6379, OPEN_DEBUG_PORT)
NOISE_PORTS = (22, 23, 445, 1433, 2375, 3389, 5900, 9200)
SCAN_SOURCE_PORT = 41873  # nmap's SYN scan keeps one source port


def endpoint_traffic(rng: random.Random, events: list[Event]) -> Iterator[Conn]:
    """Each call CloudTrail shows through prod's endpoint, on the endpoint's interface (and the
    app server's, when an app server made it). Object bytes size the flows."""
    by_ip = {i.private_ip: i for i in APP_SERVERS}
    for ev in events:
        rec = ev.record
        if rec.get("vpcEndpointId") != VPCE[PROD] or rec["awsRegion"] != VPC_REGION or ev.account != PROD:
            continue
        extra = rec.get("additionalEventData") or {}
        up = 900 + rng.randrange(3000) + int(extra.get("bytesTransferredIn", 0))
        down = 2500 + rng.randrange(5000) + int(extra.get("bytesTransferredOut", 0))
        src, port, secs = rec["sourceIPAddress"], rng.randint(32768, 60999), 1 + rng.randrange(3)
        pk_up, pk_down = 6 + up // 1400, 5 + down // 1400
        e = ENDPOINT.private_ip
        yield Conn(
            ev.when, secs, ENDPOINT, "ingress", src, e, port, 443, pk_up, up, flags=SYN | FIN, tag="endpoint"
        )
        yield Conn(
            ev.when,
            secs,
            ENDPOINT,
            "egress",
            e,
            src,
            443,
            port,
            pk_down,
            down,
            flags=SYN_ACK | FIN,
            path=PATH_IN_VPC,
            tag="endpoint",
        )
        app = by_ip.get(src)
        if app:
            yield Conn(
                ev.when,
                secs,
                app,
                "egress",
                src,
                e,
                port,
                443,
                pk_up,
                up,
                flags=SYN | FIN,
                path=PATH_IN_VPC,
                tag="endpoint",
            )
            yield Conn(
                ev.when,
                secs,
                app,
                "ingress",
                e,
                src,
                443,
                port,
                pk_down,
                down,
                flags=SYN_ACK | FIN,
                tag="endpoint",
            )


def load_balancer(rng: random.Random, cap: Capture) -> Iterator[Conn]:
    """The zone's load balancer node keeps one connection to each app server (requests by day,
    health checks all night); a new connection every hour."""
    for _, w, stop in cap.windows():
        busy = 8 <= w.hour < 20
        for app in APP_SERVERS:
            lb = LB_NODES[app.az]
            port = 32768 + int(stable_hex(f"lb:{app.eni}:{w:%Y%m%d%H}", 6), 16) % 28000
            fresh = w.minute < 10
            req = rng.randint(300, 1400) if busy else rng.randint(30, 60)
            t, secs = w + timedelta(seconds=rng.randrange(3)), max(1, int((stop - w).total_seconds()) - 4)
            flags_in, flags_out = (SYN, SYN_ACK) if fresh else (0, 0)
            yield Conn(
                t,
                secs,
                app,
                "ingress",
                lb,
                app.private_ip,
                port,
                APP_PORT,
                req,
                req * rng.randint(180, 420),
                flags=flags_in,
                tag="lb",
            )
            yield Conn(
                t,
                secs,
                app,
                "egress",
                app.private_ip,
                lb,
                APP_PORT,
                port,
                req,
                req * rng.randint(700, 2600),
                flags=flags_out,
                path=PATH_IN_VPC,
                tag="lb",
            )


def package_checks(rng: random.Random, days: list[datetime]) -> Iterator[Conn]:
    """dnf's nightly metadata check: Amazon Linux repositories on S3, through the gateway endpoint."""
    for day in days:
        for app in APP_SERVERS:
            t = day + timedelta(hours=3, seconds=rng.randrange(1800))
            repo, port = rng.choice(S3_REPO_IPS), rng.randint(32768, 60999)
            size = rng.randint(300_000, 3_000_000)
            ip = app.private_ip
            yield Conn(
                t,
                6,
                app,
                "egress",
                ip,
                repo,
                port,
                443,
                40 + size // 9000,
                9000 + rng.randrange(4000),
                flags=SYN | FIN,
                path=PATH_S3_GATEWAY,
                dst_svc="S3",
                tag="updates",
            )
            yield Conn(
                t,
                6,
                app,
                "ingress",
                repo,
                ip,
                443,
                port,
                10 + size // 1400,
                size,
                flags=SYN_ACK | FIN,
                src_svc="S3",
                tag="updates",
            )


def internet_noise(rng: random.Random, days: list[datetime]) -> Iterator[Conn]:
    """The app servers' public addresses are probed all day by internet scanners; all rejected."""
    taken = {IP_STAGING, IP_EXFIL}
    for day in days:
        for hour in range(24):
            for app in APP_SERVERS:
                for _ in range(rng.choice((0, 0, 1, 1, 2))):
                    src = f"{rng.choice(('203.0.113', '192.0.2'))}.{rng.randint(1, 254)}"
                    if src in taken:
                        continue
                    t = day + timedelta(hours=hour, seconds=rng.randrange(3600))
                    n = rng.randint(1, 2)
                    port = rng.choice(NOISE_PORTS)
                    yield Conn(
                        t,
                        1,
                        app,
                        "ingress",
                        src,
                        app.private_ip,
                        rng.randint(1024, 65535),
                        port,
                        n,
                        44 * n,
                        "REJECT",
                        SYN,
                        tag="noise",
                    )


def port_scan(events: list[Event]) -> Iterator[Conn]:
    """The intruder's SYN scan of both app servers, minutes after its DescribeInstances calls.
    Only app-1's debug port answers (SYN-ACK, then the scanner's RST)."""
    described = max(
        e.when
        for e in events
        if e.account == PROD
        and e.record["sourceIPAddress"] == IP_STAGING
        and e.record["eventName"] == "DescribeInstances"
    )
    t = described + timedelta(seconds=157)
    for app in APP_SERVERS:
        for port in SCAN_PORTS:
            t += timedelta(seconds=1)
            ip = app.private_ip
            if port == OPEN_DEBUG_PORT and app is APP_SERVERS[0]:
                yield Conn(
                    t,
                    1,
                    app,
                    "ingress",
                    IP_STAGING,
                    ip,
                    SCAN_SOURCE_PORT,
                    port,
                    2,
                    84,
                    flags=SYN | RST,
                    tag="scan",
                )
                yield Conn(
                    t,
                    1,
                    app,
                    "egress",
                    ip,
                    IP_STAGING,
                    port,
                    SCAN_SOURCE_PORT,
                    1,
                    44,
                    flags=SYN_ACK,
                    path=PATH_INTERNET,
                    tag="scan",
                )
            else:
                yield Conn(
                    t,
                    2,
                    app,
                    "ingress",
                    IP_STAGING,
                    ip,
                    SCAN_SOURCE_PORT,
                    port,
                    2,
                    88,
                    "REJECT",
                    SYN,
                    tag="scan",
                )


def build_flow_files(seed: int, events: list[Event], days: list[datetime]) -> list[FlowLogFile]:
    """Every flow log object of the collection window; ``events`` are the CloudTrail events."""
    rng = random.Random(f"{seed}:vpc-flow-logs")
    cap = capture_of(events, days[0], days[-1] + timedelta(days=1))
    conns = [
        *load_balancer(rng, cap),
        *endpoint_traffic(rng, events),
        *package_checks(rng, days),
        *internet_noise(rng, days),
        *port_scan(events),
    ]
    files = deliver(rng, aggregate(conns, cap))
    header = " ".join(FIELDS)
    for f in files:
        f.raw = ("\n".join([header, *(r.line() for r in f.records)]) + "\n").encode()
    return files
