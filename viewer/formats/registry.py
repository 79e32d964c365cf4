"""The explicit list of formats and content-based detection.

Registration is explicit (no import-time magic): a new format module adds its SPECS here.
Detection asks every format's `sniff` and ranks the claimants by priority, so a specific format
(a CloudTrail digest) beats a generic one (any JSON document).
"""

from __future__ import annotations

from viewer.formats import (
    aws_cloudtrail,
    aws_cloudtrail_console,
    aws_cloudtrail_digest,
    aws_cloudtrail_insights,
    aws_cloudwatch_logs,
    aws_elb,
    aws_guardduty,
    aws_route53_resolver,
    aws_s3_access,
    aws_vpc_flow,
    azure_activity,
    ecs_json,
    entra_audit,
    entra_signin,
    gcp_audit,
    gcp_vpc_flow,
    k8s_audit,
    m365_audit,
    otel_logs,
)
from viewer.formats.base import FormatSpec, Head

FORMATS: tuple[FormatSpec, ...] = (
    *aws_cloudtrail.SPECS,
    *aws_cloudtrail_console.SPECS,
    *aws_cloudtrail_digest.SPECS,
    *aws_vpc_flow.SPECS,
    *aws_guardduty.SPECS,
    *aws_cloudwatch_logs.SPECS,
    *aws_s3_access.SPECS,
    *aws_elb.SPECS,
    *aws_route53_resolver.SPECS,
    *aws_cloudtrail_insights.SPECS,
    *gcp_audit.SPECS,
    *gcp_vpc_flow.SPECS,
    *azure_activity.SPECS,
    *entra_signin.SPECS,
    *entra_audit.SPECS,
    *m365_audit.SPECS,
    *k8s_audit.SPECS,
    *otel_logs.SPECS,
    *ecs_json.SPECS,
)
_BY_NAME = {f.name: f for f in FORMATS}


class UnknownFormatError(KeyError):
    def __str__(self) -> str:
        return f"unknown format {self.args[0]!r}; known formats: {', '.join(sorted(_BY_NAME))}"


def get(name: str) -> FormatSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownFormatError(name) from None


def candidates(head: Head) -> list[FormatSpec]:
    """Every format that claims the file, best first. A sniffer that raises claims nothing."""
    found = []
    for spec in FORMATS:
        try:
            if spec.sniff(head):
                found.append(spec)
        except Exception:  # noqa: BLE001 - a sniffer must never break detection of other formats
            continue
    return sorted(found, key=lambda s: -s.priority)


def detect(head: Head) -> FormatSpec | None:
    found = candidates(head)
    return found[0] if found else None


def names() -> list[str]:
    return sorted(_BY_NAME)
