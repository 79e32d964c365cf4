"""`caseline fetch CASE aws-logs and aws-athena`: aws-logs and aws-athena (CloudWatch Logs filter/Insights, Athena over a CloudTrail table)."""

from __future__ import annotations

from typing import Any


def register(fsub: Any) -> None:
    """Add this module's sources to the `fetch` sub-parsers (none yet)."""
