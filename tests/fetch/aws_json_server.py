"""A small local AWS endpoint for the APIs moto lacks: CloudTrail LookupEvents, GuardDuty findings.

It speaks the real wire protocols, so boto3 talks to it by `endpoint_url` with nothing mocked:
* CloudTrail, AWS JSON 1.1: `POST /` with `X-Amz-Target:
  com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`, timestamps as epoch
  seconds, errors as `{"__type": ..., "message": ...}`;
* GuardDuty, REST-JSON: `GET /detector`, `POST /detector/{id}/findings`,
  `POST /detector/{id}/findings/get`, camelCase members;
* STS GetCallerIdentity (query protocol, XML) so a fetch can record who it ran as.
The service and region come from the SigV4 credential scope, as at AWS. Faults are scripted:
throttling every Nth API call, dropped connections from call K on, access denied per region.
Every API call is logged with its arrival time (`calls`) for the rate-limit test.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CT_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Call:
    at: float  # time.monotonic() on arrival
    service: str
    operation: str
    region: str
    access_key: str
    body: dict[str, Any]


@dataclass
class Faults:
    throttle_every: int = 0  # every Nth API call (STS excluded) is throttled; 0: never
    drop_from: int | None = None  # API calls numbered >= this get their connection closed
    drop_count: int = 10**9  # ... this many of them
    deny_regions: set[str] = field(default_factory=set)  # LookupEvents / GuardDuty answer 403 here


@dataclass
class ServerData:
    account: str = "222222222222"
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region -> CloudTrail records
    findings: dict[str, dict[str, list[dict[str, Any]]]] = field(
        default_factory=dict
    )  # region -> detector -> findings
    page_size: int = 50  # the most a page holds, whatever MaxResults asks


class AwsJsonServer:
    """Start with `start()`; `url` is the endpoint; `calls` the log; `faults` may change any time."""

    def __init__(self, data: ServerData) -> None:
        self.data = data
        self.faults = Faults()
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> AwsJsonServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.faults = Faults()
            self.calls.clear()

    def api_calls(self, operation: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.service != "sts" and operation in (None, c.operation)]


def _token(query: dict[str, Any], offset: int) -> str:
    digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(json.dumps({"q": digest, "o": offset}).encode()).decode()


def _offset(query: dict[str, Any], token: str | None) -> int | None:
    """The offset a token points at, or None when it is not a token of this query."""
    if not token:
        return 0
    try:
        got = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return None
    digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:12]
    return int(got["o"]) if got.get("q") == digest else None


def _epoch(iso: str) -> float:
    return float(calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")))


def _lookup_values(rec: dict[str, Any]) -> dict[str, str]:
    ui = rec.get("userIdentity") or {}
    res = rec.get("resources") or []
    return {
        "EventId": rec["eventID"],
        "EventName": rec.get("eventName", ""),
        "EventSource": rec.get("eventSource", ""),
        "ReadOnly": str(rec.get("readOnly", False)).lower(),
        "Username": ui.get("userName")
        or ui.get("sessionContext", {}).get("sessionIssuer", {}).get("userName", ""),
        "AccessKeyId": ui.get("accessKeyId", ""),
        "ResourceName": " ".join(r.get("ARN", "") for r in res),
        "ResourceType": " ".join(r.get("type", "") for r in res),
    }


def _lookup_event(rec: dict[str, Any]) -> dict[str, Any]:
    """One record as LookupEvents returns it: summary fields plus the record as a JSON string."""
    v = _lookup_values(rec)
    return {
        "EventId": v["EventId"],
        "EventName": v["EventName"],
        "ReadOnly": v["ReadOnly"],
        **({"AccessKeyId": v["AccessKeyId"]} if v["AccessKeyId"] else {}),
        "EventTime": _epoch(rec["eventTime"]),
        "EventSource": v["EventSource"],
        **({"Username": v["Username"]} if v["Username"] else {}),
        "Resources": [
            {"ResourceType": r.get("type"), "ResourceName": r.get("ARN")} for r in rec.get("resources") or []
        ],
        "CloudTrailEvent": json.dumps(rec),
    }


def _criterion_ok(value: float, cond: dict[str, Any]) -> bool:
    checks = {
        "greaterThanOrEqual": lambda b: value >= b,
        "gte": lambda b: value >= b,
        "greaterThan": lambda b: value > b,
        "gt": lambda b: value > b,
        "lessThan": lambda b: value < b,
        "lt": lambda b: value < b,
        "lessThanOrEqual": lambda b: value <= b,
        "lte": lambda b: value <= b,
    }
    return all(checks[k](b) for k, b in cond.items() if k in checks)


class _Handler(BaseHTTPRequestHandler):
    server_state: AwsJsonServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass  # quiet: tests read `calls`

    # --- plumbing -------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, error: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "0c0ffee0-0000-4000-8000-000000000000")
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200, json11: bool = True) -> None:
        ctype = "application/x-amz-json-1.1" if json11 else "application/json"
        self._send(status, json.dumps(obj).encode(), ctype)

    def _error(self, status: int, code: str, message: str, json11: bool = True) -> None:
        ctype = "application/x-amz-json-1.1" if json11 else "application/json"
        body = json.dumps({"__type": code, "message": message}).encode()
        self._send(status, body, ctype, error=code)

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length))

    def _dispatch(self, raw: bytes) -> None:
        st = self.server_state
        m = _SCOPE.search(self.headers.get("Authorization", ""))
        access_key, region, service = m.groups() if m else ("", "us-east-1", "")
        path = urllib.parse.urlsplit(self.path)
        if service == "sts":
            return self._sts(raw)
        target = self.headers.get("X-Amz-Target", "")
        operation = (
            target.removeprefix(CT_TARGET) if service == "cloudtrail" else self._gd_operation(path.path)
        )
        body = json.loads(raw) if raw else dict(urllib.parse.parse_qsl(path.query))
        with st.lock:
            st.calls.append(Call(time.monotonic(), service, operation, region, access_key, body))
            number = len([c for c in st.calls if c.service != "sts"])
            faults = st.faults
        if faults.drop_from is not None and faults.drop_from <= number < faults.drop_from + faults.drop_count:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        json11 = service == "cloudtrail"
        if faults.throttle_every and number % faults.throttle_every == 0:
            if json11:
                return self._error(400, "ThrottlingException", "Rate exceeded")
            return self._error(429, "TooManyRequestsException", "Rate exceeded", json11=False)
        if region in faults.deny_regions:
            return self._error(
                403,
                "AccessDeniedException",
                f"User: arn:aws:iam::{st.data.account}:user/analyst is not authorized to perform: {service}:{operation}",
                json11=json11,
            )
        if service == "cloudtrail" and operation == "LookupEvents":
            return self._lookup(region, body)
        if service == "guardduty":
            return self._guardduty(region, path.path, body)
        return self._error(400, "UnknownOperationException", f"{service}:{operation}")

    # --- STS ------------------------------------------------------------------------------
    def _sts(self, raw: bytes) -> None:
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        if form.get("Action") != "GetCallerIdentity":
            return self._send(400, b"<ErrorResponse/>", "text/xml")
        acct = self.server_state.data.account
        xml = (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<GetCallerIdentityResult><Arn>arn:aws:iam::{acct}:user/analyst</Arn>"
            f"<UserId>AIDAANALYST000000001</UserId><Account>{acct}</Account></GetCallerIdentityResult>"
            "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        )
        self._send(200, xml.encode(), "text/xml")

    # --- CloudTrail -----------------------------------------------------------------------
    def _lookup(self, region: str, body: dict[str, Any]) -> None:
        st = self.server_state
        attrs = body.get("LookupAttributes") or []
        if len(attrs) > 1:
            return self._error(400, "InvalidLookupAttributesException", "only one lookup attribute")
        start, end = body.get("StartTime", 0), body.get("EndTime", time.time())
        if start > end:
            return self._error(400, "InvalidTimeRangeException", "start after end")
        query = {k: v for k, v in body.items() if k not in ("NextToken", "MaxResults")}
        offset = _offset(query, body.get("NextToken"))
        if offset is None:
            return self._error(400, "InvalidNextTokenException", "invalid NextToken")
        found = [
            r
            for r in st.data.events.get(region, [])
            if start <= _epoch(r["eventTime"]) <= end
            and all(_lookup_values(r)[a["AttributeKey"]] == a["AttributeValue"] for a in attrs)
        ]
        found.sort(key=lambda r: (r["eventTime"], r["eventID"]), reverse=True)  # newest first
        size = min(int(body.get("MaxResults", 50)), st.data.page_size)
        page = found[offset : offset + size]
        out: dict[str, Any] = {"Events": [_lookup_event(r) for r in page]}
        if offset + size < len(found):
            out["NextToken"] = _token(query, offset + size)
        self._json(out)

    # --- GuardDuty ------------------------------------------------------------------------
    @staticmethod
    def _gd_operation(path: str) -> str:
        if path.rstrip("/") == "/detector":
            return "ListDetectors"
        if path.endswith("/findings/get"):
            return "GetFindings"
        if path.endswith("/findings"):
            return "ListFindings"
        return "Unknown"

    def _guardduty(self, region: str, path: str, body: dict[str, Any]) -> None:
        st = self.server_state
        detectors = st.data.findings.get(region, {})
        if path.rstrip("/") == "/detector":
            return self._json({"detectorIds": sorted(detectors)}, json11=False)
        m = re.fullmatch(r"/detector/([^/]+)/findings(/get)?", path)
        if not m or m.group(1) not in detectors:
            return self._error(
                400, "BadRequestException", "The request is rejected because the input detectorId is not owned "
                "by the current account.", json11=False,
            )  # fmt: skip
        findings = detectors[m.group(1)]
        if m.group(2):
            ids = body.get("findingIds") or []
            if len(ids) > 50:
                return self._error(400, "BadRequestException", "at most 50 findingIds", json11=False)
            by_id = {f["id"]: f for f in findings}
            return self._json({"findings": [by_id[i] for i in ids if i in by_id]}, json11=False)
        crit = (body.get("findingCriteria") or {}).get("criterion") or {}
        query = {k: v for k, v in body.items() if k not in ("nextToken", "maxResults")}
        offset = _offset(query, body.get("nextToken"))
        if offset is None:
            return self._error(400, "BadRequestException", "invalid nextToken", json11=False)

        def ok(f: dict[str, Any]) -> bool:
            values = {
                "severity": float(f["severity"]),
                "updatedAt": _epoch(f["updatedAt"]) * 1000,
                "createdAt": _epoch(f["createdAt"]) * 1000,
            }
            archived = str(f["service"].get("archived", False)).lower()
            wanted = crit.get("service.archived", {})
            if archived not in (wanted.get("eq") or wanted.get("equals") or [archived]):
                return False
            return all(_criterion_ok(values[k], c) for k, c in crit.items() if k in values)

        ids = [f["id"] for f in sorted(filter(ok, findings), key=lambda f: f["updatedAt"], reverse=True)]
        size = min(int(body.get("maxResults", 50)), st.data.page_size)
        out: dict[str, Any] = {"findingIds": ids[offset : offset + size]}
        if offset + size < len(ids):
            out["nextToken"] = _token(query, offset + size)
        self._json(out, json11=False)
