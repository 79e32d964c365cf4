"""Translation time of library-like KQL queries (issue #4: under 10 ms each).

Prints, per query, the median wall time and the median CPU time of this thread over many runs,
after one warm-up (the first call also builds the Lark parser, reported separately). The CPU time
is the work itself; wall time also counts waiting for a core on a loaded machine. Translation
is pure: no case is needed.

    .venv/bin/python benchmarks/translate_kql.py
"""

from __future__ import annotations

import statistics
import time

from viewer.core.query.kql import translate
from viewer.core.query.kql.parse import parser

QUERIES = {
    "failed console logins": 'AWSCloudTrail | where EventName == "ConsoleLogin" and outcome == "failure"'
    " | project TimeGenerated, principal_name, src_ip | sort by TimeGenerated asc",
    "hourly activity chart": "AWSCloudTrail | where TimeGenerated > ago(7d)"
    " | summarize n = count() by bin(TimeGenerated, 1h), outcome | render timechart",
    "top callers": "events | summarize calls = count(), ips = dcount(src_ip), actions = make_set(action)"
    " by principal_name | top 20 by calls",
    "raw field search": 'events | where raw.userIdentity.arn has "backup-admin" and raw["requestParameters"]'
    '["bucketName"] startswith "acme" | project ts, arn = tostring(raw.userIdentity.arn), action',
    "logins joined to api calls": 'let logins = AWSCloudTrail | where EventName == "ConsoleLogin"'
    " | summarize logins = count() by src_ip;\nAWSCloudTrail | summarize calls = count() by src_ip"
    " | join kind=inner (logins) on src_ip | sort by calls desc",
    "union of sources": "union (AWSCloudTrail | project ts, src_ip, action), (AzureActivity | project ts, src_ip)"
    ' | where src_ip !in ("10.0.0.1", "10.0.0.2") | summarize n = count() by bin(ts, 1d)',
    "recon burst": "let since = datetime(2024-03-11); AWSCloudTrail | where ts >= since and action matches regex"
    ' "^(Describe|List|Get)" | summarize n = count(), first = min(ts), last = max(ts) by principal_name, src_ip'
    " | where n > 50 | order by n desc | take 10",
}


def main(runs: int = 300) -> None:
    start = time.perf_counter()
    parser()
    print(f"parser build (once per process): {(time.perf_counter() - start) * 1000:.1f} ms")
    for name, query in QUERIES.items():
        translate(query)  # warm-up
        wall, cpu = [], []
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.thread_time()
            translate(query)
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - t0) * 1000)
        print(
            f"{name:28s} median wall {statistics.median(wall):6.2f} ms   "
            f"median cpu {statistics.median(cpu):6.2f} ms   max cpu {max(cpu):6.2f} ms"
        )


if __name__ == "__main__":
    main()
