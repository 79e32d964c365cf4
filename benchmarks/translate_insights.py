"""Logs Insights -> DuckDB SQL translation time, per query of a small library of typical queries.

Prints the median and worst time per query (the query workbench translates on every keystroke
pause, so the budget is 10 ms) and, for comparison, the parse alone. Run:

    .venv/bin/python benchmarks/translate_insights.py
"""

from __future__ import annotations

import statistics
import time

from viewer.core.query.insights import translate
from viewer.core.query.insights.grammar import parse

LIBRARY = [
    "fields @timestamp, @message | sort @timestamp desc | limit 20",
    'filter eventName = "ConsoleLogin" and responseElements.ConsoleLogin = "Failure" '
    "| fields @timestamp, userIdentity.arn, sourceIPAddress",
    "filter ispresent(errorCode) | stats count(*) as errors by eventSource, errorCode | sort errors desc | limit 20",
    'filter eventSource = "s3.amazonaws.com" | stats count(*) as calls by bin(5m), eventName',
    "stats count_distinct(sourceIPAddress) as ips, count(*) as calls by userIdentity.arn "
    "| filter ips > 1 | stats count(*) as principals, sum(calls) as total",
    'parse @message "[*] user=*, method:*, latency := *" as level, user, method, latency '
    '| filter level in ["ERROR", "WARN"] | stats avg(latency) as avg_latency, max(latency) by user',
    r"parse @message /(?<NetworkInterface>eni-.*?) / | display NetworkInterface, @message",
    'filter userIdentity.arn like /(?i)admin/ and not (eventName like "Describe" or eventName like "List") '
    '| fields @timestamp, eventName, concat(eventSource, "/", eventName) as call | dedup call | limit 50',
    "fields strlen(@message) as size, tolower(eventName) as name | filter size > 2000 "
    "| stats max(size), min(size), avg(size) by name | sort name",
    "fields @timestamp, @logStream, @log, requestParameters.bucketName | filter ispresent(requestParameters.bucketName) "
    "| sort @timestamp asc | dedup requestParameters.bucketName",
]


def _median_ms(fn, text: str, repeat: int = 200) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    print(f"{'translate ms (median / max)':>30}  {'parse ms':>9}  query")
    medians = []
    for query in LIBRARY:
        med, worst = _median_ms(translate, query)
        parse_med, _ = _median_ms(parse, query)
        medians.append(med)
        print(f"{med:>14.3f} / {worst:>13.3f}  {parse_med:>9.3f}  {query[:70]}")
    print(
        f"median over the library: {statistics.median(medians):.3f} ms; slowest median: {max(medians):.3f} ms"
    )


if __name__ == "__main__":
    main()
