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


def _custom_specs() -> list[FormatSpec]:
    # Imported here, not at the top: the top of this module is the list other modules extend.
    from viewer.formats import custom_store

    return custom_store.load_all().specs


def is_custom(spec: FormatSpec) -> bool:
    from viewer.formats.custom import PREFIX

    return spec.name.startswith(PREFIX)


def get(name: str) -> FormatSpec:
    """A format by name; `custom:NAME` is a user's custom format (CustomFormatError if broken)."""
    from viewer.formats import custom_store
    from viewer.formats.custom import PREFIX

    if name.startswith(PREFIX):
        return custom_store.get(name)
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownFormatError(name) from None


def all_specs() -> list[FormatSpec]:
    """Built-in formats, then the user's custom formats that load (see `custom_problems`)."""
    return [*FORMATS, *_custom_specs()]


def custom_problems() -> list[str]:
    """Why custom format files were skipped: each names its file and the problem."""
    from viewer.formats import custom_store

    return [str(e) for e in custom_store.load_all().errors]


def _rank(spec: FormatSpec) -> tuple[bool, int]:
    # Built-in formats first whatever their priority: a custom format never takes a file from one.
    return (is_custom(spec), -spec.priority)


def candidates(head: Head, specs: list[FormatSpec] | None = None) -> list[FormatSpec]:
    """Every format that claims the file, best first. A sniffer that raises claims nothing.

    `specs`: the formats to try (default `all_specs()`); a caller sniffing many files passes the
    list once rather than looking at the custom-format folder for every file."""
    found = []
    for spec in all_specs() if specs is None else specs:
        try:
            if spec.sniff(head):
                found.append(spec)
        except Exception:  # noqa: BLE001 - a sniffer must never break detection of other formats
            continue
    return sorted(found, key=_rank)


def is_ambiguous(found: list[FormatSpec]) -> bool:
    """True when the best two claimants rank equal: only the user can choose between them."""
    return len(found) > 1 and _rank(found[0]) == _rank(found[1])


def tied_best(found: list[FormatSpec]) -> list[FormatSpec]:
    """The claimants that rank equal with the best one (one item when detection is clear)."""
    return [s for s in found if _rank(s) == _rank(found[0])] if found else []


def detect(head: Head) -> FormatSpec | None:
    found = candidates(head)
    return found[0] if found else None


def names() -> list[str]:
    """Built-in format names, then custom ones (`custom:NAME`)."""
    return sorted(_BY_NAME) + sorted(s.name for s in _custom_specs())
