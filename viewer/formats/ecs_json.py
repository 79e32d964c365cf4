"""Elastic Common Schema JSON lines (formats.md 1.21, mapping table 2.3).

ecs-logging libraries write `@timestamp`, `log.level` and `ecs.version` as top-level *dotted*
keys and the other field sets either nested (`"event":{"action":...}`) or dotted
(`"event.action":...`); Filebeat/Elastic Agent output and `_source` exports are nested. Every
field is therefore read both ways, the dotted key first (it is what the spec writes).

Sniffing is strict so that other JSON-lines formats are never taken for ECS: the first record
needs `@timestamp` and either `ecs.version` or two ECS field sets (event, source, user, ...).
"""

from __future__ import annotations

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind
from viewer.formats.gcp_audit import flat_path, json_path

_FIELDS = {
    "ts": "@timestamp",
    "end": "event.end",
    "ingested": "event.ingested",
    "id": "event.id",
    "dataset": "event.dataset",
    "category": "event.category[0]",
    "provider": "event.provider",
    "serviceName": "service.name",
    "action": "event.action",
    "outcome": "event.outcome",
    "eventSeverity": "event.severity",
    "level": "log.level",
    "errorCode": "error.code",
    "errorMessage": "error.message",
    "userId": "user.id",
    "userName": "user.name",
    "userEmail": "user.email",
    "userDomain": "user.domain",
    "sourceIp": "source.ip",
    "sourcePort": "source.port",
    "clientIp": "client.ip",
    "destIp": "destination.ip",
    "destPort": "destination.port",
    "transport": "network.transport",
    "netBytes": "network.bytes",
    "netPackets": "network.packets",
    "userAgent": "user_agent.original",
    "account": "cloud.account.id",
    "region": "cloud.region",
    "traceId": "trace.id",
    "transactionId": "transaction.id",
}


def _paths() -> dict[str, str]:
    paths = {}
    for name, dotted in _FIELDS.items():
        paths[f"{name}_f"] = flat_path(dotted.removesuffix("[0]")) + ("[0]" if dotted.endswith("[0]") else "")
        paths[f"{name}_n"] = json_path(dotted)
    return paths


def _v(name: str) -> str:
    """The field, dotted key first, then the nested path; empty strings count as absent."""
    return f"nullif(coalesce({{{name}_f}}, {{{name}_n}}), '')"


def _time(name: str) -> str:
    return f"TRY_CAST({_v(name)} AS TIMESTAMPTZ)"


_LEVEL = f"lower(coalesce({_v('level')}, {_v('eventSeverity')}))"

ECS_MAPPING = Mapping(
    paths=_paths(),
    columns={
        "event_uid": _v("id"),
        "ts": _time("ts"),
        "ts_end": _time("end"),
        "ingest_ts": _time("ingested"),
        "log_name": _v("dataset"),
        "event_class": _v("category"),
        "service": f"coalesce({_v('provider')}, {_v('serviceName')})",
        "action": _v("action"),
        # ECS allows exactly these three values; anything else is not an outcome.
        "outcome": f"CASE WHEN lower({_v('outcome')}) IN ('success', 'failure', 'unknown') "
        f"THEN lower({_v('outcome')}) END",
        "error_code": _v("errorCode"),
        "error_message": _v("errorMessage"),
        "principal_id": f"coalesce({_v('userId')}, {_v('userEmail')}, {_v('userName')})",
        "principal_name": _v("userName"),
        "principal_account": _v("userDomain"),
        "src_ip": f"coalesce({_v('sourceIp')}, {_v('clientIp')})",
        "src_port": f"TRY_CAST({_v('sourcePort')} AS INTEGER)",
        "dst_ip": _v("destIp"),
        "dst_port": f"TRY_CAST({_v('destPort')} AS INTEGER)",
        "protocol": f"lower({_v('transport')})",
        "bytes": f"TRY_CAST({_v('netBytes')} AS BIGINT)",
        "packets": f"TRY_CAST({_v('netPackets')} AS BIGINT)",
        "user_agent": _v("userAgent"),
        "cloud_account": _v("account"),
        "region": _v("region"),
        "correlation_id": f"coalesce({_v('traceId')}, {_v('transactionId')})",
        "severity": f"coalesce({_v('level')}, {_v('eventSeverity')})",
        # log.level names as ecs-logging libraries write them (syslog and language loggers).
        "severity_id": (
            f"CASE WHEN {_LEVEL} IS NULL THEN NULL "
            f"WHEN {_LEVEL} IN ('trace', 'debug', 'info', 'information', 'informational') THEN 1 "
            f"WHEN {_LEVEL} = 'notice' THEN 2 WHEN {_LEVEL} IN ('warn', 'warning') THEN 3 "
            f"WHEN {_LEVEL} IN ('error', 'err') THEN 4 WHEN {_LEVEL} IN ('critical', 'crit', 'alert') THEN 5 "
            f"WHEN {_LEVEL} IN ('fatal', 'emergency', 'emerg') THEN 6 ELSE 99 END"
        ),
    },
    ts_missing_reason="record has no valid @timestamp",
)

_FIELD_SETS = ("event", "log", "source", "destination", "user", "cloud", "host", "service", "client", "url")


def _has_field_set(obj: dict, name: str) -> bool:
    return isinstance(obj.get(name), dict) or any(k.startswith(name + ".") for k in obj)


def _sniff(head: Head) -> bool:
    obj = head.first_line_object
    if obj is None or "@timestamp" not in obj:
        return False
    ecs = obj.get("ecs")
    if "ecs.version" in obj or (isinstance(ecs, dict) and "version" in ecs):
        return True
    return sum(_has_field_set(obj, s) for s in _FIELD_SETS) >= 2


ECS_LINES = FormatSpec(
    name="ecs_json",
    title="Elastic Common Schema JSON lines (ecs-logging, Filebeat/Elastic Agent output)",
    source_type="ecs",
    provider="other",
    priority=40,
    sniff=_sniff,
    reader=Reader(ReaderKind.LINES),
    mapping=ECS_MAPPING,
    description="One ECS document per line; fields nested or dotted (log.level, event.action), "
    "as written by the ecs-logging libraries or exported from Elasticsearch (_source per line).",
    how_to_obtain="Application logs from an ecs-logging library, Filebeat's file output, or "
    "elasticdump / an _search scroll export with jq -c '.hits.hits[]._source'.",
)

SPECS = (ECS_LINES,)
