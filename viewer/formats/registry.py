"""The explicit list of formats and content-based detection.

Registration is explicit (no import-time magic): a new format module adds its SPECS here.
Detection asks every format's `sniff` and ranks the claimants by priority, so a specific format
(a CloudTrail digest) beats a generic one (any JSON document).
"""

from __future__ import annotations

from viewer.formats import aws_cloudtrail, aws_cloudtrail_console, aws_cloudtrail_digest
from viewer.formats.base import FormatSpec, Head

FORMATS: tuple[FormatSpec, ...] = (
    *aws_cloudtrail.SPECS,
    *aws_cloudtrail_console.SPECS,
    *aws_cloudtrail_digest.SPECS,
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
