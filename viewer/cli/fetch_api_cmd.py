"""`caseline fetch CASE aws-lookup and aws-guardduty`: aws-lookup and aws-guardduty (CloudTrail LookupEvents, GuardDuty findings)."""

from __future__ import annotations

from typing import Any


def register(fsub: Any) -> None:
    """Add this module's sources to the `fetch` sub-parsers (none yet)."""
