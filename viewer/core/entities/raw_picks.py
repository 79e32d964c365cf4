"""One read of `raw` for the few records the credential graph and the network bindings need.

Decoding `raw` dominates their cost, and it hardly depends on how many rows are picked: at 1M
CloudTrail events, reading it for the 100k STS records took 1.05 CPU seconds, for all 1M 1.24
(the picked rows are spread over every block, each decompressed whole). The issuing records
(`identity_build`) and the EC2 calls (`network_build`) are therefore picked in one scan, with
every path either needs parsed once per record into `_raw_picks.v` (text values; objects and
arrays as their JSON text). A temporary table of the build, unlike the persistent `raw_fields`
of `viewer.core.raw_fields` (the query library's fields), which reads `raw` once more per import.
"""

from __future__ import annotations

import duckdb

from viewer.core.entities.selective import narrowed

TABLE = "_raw_picks"
#: Columns of `events` carried along (besides event_id, ts, service, action).
COLUMNS = (
    "principal_id",
    "principal_type",
    "principal_name",
    "source_identity",
    "cloud_account",
    "credential_id",
    "region",
)


def create(
    cur: duckdb.DuckDBPyConnection,
    picks: list[tuple[str, tuple[str, ...]]],
    captured: tuple[str, list[tuple[int, int]]] | None = None,
) -> list[int]:
    """Create TEMP TABLE `_raw_picks` with the events matching any of `picks` (a condition on
    columns other than `raw`, with literals only; the paths it needs); returns the offset in
    `v` of each pick's first path (1-based, as DuckDB lists index). `captured`: a table of
    (event_id, v) already holding the picks of the files in runs of evidence ids
    (`import_picks`), whose events are not read from `raw`."""
    paths: list[str] = []
    offsets = []
    for _, wanted in picks:
        offsets.append(len(paths) + 1)
        paths.extend(wanted)
    where = " OR ".join(f"({condition})" for condition, _ in picks)
    columns = f"event_id, ts, service, action, {', '.join(COLUMNS)}"
    taken = ""
    if captured and captured[1]:
        inside = " OR ".join(f"evidence_id BETWEEN {a} AND {b}" for a, b in captured[1])
        taken = f"""UNION ALL SELECT {columns}, p.v FROM events JOIN {captured[0]} p USING (event_id)
                    WHERE ({where}) AND ({inside})"""
        where = f"({where}) AND NOT ({inside})"
    listed = ", ".join(f"'{p}'" for p in paths)
    cur.execute(
        f"""CREATE OR REPLACE TEMP TABLE {TABLE} AS
            SELECT {columns}, json_extract_string(raw, [{listed}]) AS v
            FROM events WHERE {narrowed(cur, where)}
            {taken}"""
    )
    return offsets


def drop(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
