"""CloudTrail files holding records nested thousands of levels deep: what DuckDB reads and
Python's JSON parser does not (see viewer.core.json_depth)."""

from __future__ import annotations

import gzip
from pathlib import Path

DEEP = 3000  # past Python's recursion limit (1,000), under DuckDB's


def record(i: int, request: str = '{"bucketName": "b"}') -> str:
    """A CloudTrail record as text (eventID `ev-<i>`), `request` as its requestParameters."""
    return (
        f'{{"eventVersion": "1.08", "eventTime": "2024-05-01T10:0{i}:00Z", "eventSource": '
        f'"s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1", '
        f'"sourceIPAddress": "198.51.100.{i}", "eventID": "ev-{i}", "requestParameters": {request}}}'
    )


def nested(levels: int) -> str:
    """An object whose key x holds `levels` arrays, one in another, around a string of brackets."""
    return '{"x": ' + "[" * levels + '"bottom ] } [ {"' + "]" * levels + "}"


def trail(path: Path, elements: list[str]) -> Path:
    """A gzipped CloudTrail delivery file whose Records array holds `elements` as written."""
    path.write_bytes(gzip.compress(('{"Records": [' + ", ".join(elements) + "]}").encode(), mtime=0))
    return path
