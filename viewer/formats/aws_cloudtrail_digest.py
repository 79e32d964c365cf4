"""CloudTrail log-file integrity digests (CloudTrail-Digest/ prefix).

Digests are evidence about evidence: they list the log files delivered in an hour with their
hashes and chain to the previous digest. They are recorded in the ledger (role `digest`), never
imported as events and never reported as errors.
"""

from __future__ import annotations

from viewer.formats.base import FormatSpec, Head, Reader, ReaderKind, Role, has_key


def _sniff(head: Head) -> bool:
    s = head.stripped
    return s.startswith("{") and all(has_key(s, k) for k in ("digestStartTime", "digestEndTime", "logFiles"))


DIGEST = FormatSpec(
    name="aws_cloudtrail_digest",
    title="CloudTrail digest file (log-file integrity validation)",
    source_type="cloudtrail_digest",
    provider="aws",
    priority=95,
    sniff=_sniff,
    reader=Reader(ReaderKind.NONE),
    mapping=None,
    role=Role.DIGEST,
    how_to_obtain="Delivered beside the logs under AWSLogs/<account>/CloudTrail-Digest/ when log file validation is on.",
)

SPECS = (DIGEST,)
