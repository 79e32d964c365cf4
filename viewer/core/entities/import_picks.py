"""The records the correlation build reads paths from, taken while the import still holds them as text.

The credential graph and the network bindings need a few JSON paths of the issuing records and
EC2 calls (`raw_picks`). Read back from `events`, that costs decompressing all of `raw`: the
picked rows are in every block (2.7-3.0 of ~10 CPU seconds of the build at 1M CloudTrail events;
decompression alone is 2.0 of them, and it does not shrink with fewer picks, a block being
decompressed whole). An import reading records arrays (`viewer.core.chunk_import`, the S3
CloudTrail path) has each chunk's records as plain text in its stage, so `capture` parses the
picked ones there (the picks found on the narrow columns of the rows just inserted): ~0.8 CPU s
per 1M events. The build then reads `raw` only for the events of files not captured (other
readers, or a case built later by `caseline reindex`).

Flow logs: the bindings read `raw` only for records holding packet-level addresses, and finding
those costs decompressing all of it (1.0-1.2 CPU s per 1M records). The text reader knows each
file's header, so `note_flow_layouts` records the files whose header names no such field, and
the build does not read their `raw` at all.

The tables are temporary tables of the import's connection (the build runs on the same cursor),
so they roll back with the import; `builder.update` drops them when it has read them.
"""

from __future__ import annotations

import duckdb

from viewer.core.entities import identity_build, network_build

PICKS = "_entity_import_picks"  # event_id, v: the paths of `picks` (as raw_picks' v)
COVERED = "_entity_import_covered"  # evidence_id: every pick of the file is in PICKS
PLAIN_FLOWS = "_entity_import_plain_flows"  # evidence_id: flow files read with no packet-level field
#: Source types whose events can be picks (the conditions name CloudTrail's services).
SOURCES = ("cloudtrail",)


def picks(mark: int) -> list[tuple[str, tuple[str, ...]]]:
    """The records above `mark` the build reads paths from: (condition on columns, paths)."""
    return [identity_build.issuing_pick(mark), network_build.ec2_pick(mark)]


def paths_sql() -> str:
    return ", ".join(f"'{p}'" for _, wanted in picks(0) for p in wanted)


def capture(
    cur: duckdb.DuckDBPyConnection, source_type: str, evidence_ids: list[int], staged_sql: str
) -> None:
    """Parse the picks among the events just inserted from files `evidence_ids`, whose records
    `staged_sql` gives as `(evidence_id, record_index, r)` text, into PICKS (the files go into
    COVERED). Call after the chunk's INSERT, before its stage is dropped."""
    if source_type not in SOURCES or not evidence_ids:
        return
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PICKS} (event_id BIGINT, v VARCHAR[])")
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {COVERED} (evidence_id BIGINT)")
    ids = ", ".join(str(int(e)) for e in evidence_ids)
    where = " OR ".join(f"({condition})" for condition, _ in picks(-(2**63)))
    cur.execute(
        f"""INSERT INTO {PICKS}
            SELECT e.event_id, json_extract_string(s.r, [{paths_sql()}])
            FROM (SELECT event_id, evidence_id, record_index FROM events
                  WHERE evidence_id IN ({ids}) AND ({where})) e
            JOIN ({staged_sql}) s USING (evidence_id, record_index)"""
    )
    cur.execute(f"INSERT INTO {COVERED} SELECT unnest([{ids}])")


def note_flow_layouts(
    cur: duckdb.DuckDBPyConnection, source_type: str, fields_by_file: dict[int, tuple[str, ...]]
) -> None:
    """Note the flow-log files whose lines were all read with fields `fields_by_file[id]` (a
    header) naming no packet-level address: the build reads no `raw` for their records."""
    if source_type != network_build.FLOW_SOURCE or not fields_by_file:
        return
    plain = [e for e, names in fields_by_file.items() if not network_build.names_packet_fields(names)]
    if plain:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PLAIN_FLOWS} (evidence_id BIGINT)")
        cur.execute(f"INSERT INTO {PLAIN_FLOWS} SELECT unnest([{', '.join(str(int(e)) for e in plain)}])")


def covered_runs(cur: duckdb.DuckDBPyConnection) -> list[tuple[int, int]]:
    """The captured files as runs of consecutive evidence ids (one per import, usually)."""
    return _runs(cur, COVERED)


def plain_flow_runs(cur: duckdb.DuckDBPyConnection) -> list[tuple[int, int]]:
    """The flow files `note_flow_layouts` found plain, as runs of consecutive evidence ids."""
    return _runs(cur, PLAIN_FLOWS)


def _runs(cur: duckdb.DuckDBPyConnection, table: str) -> list[tuple[int, int]]:
    # Looked up, not tried: an error inside the import's transaction would abort it.
    exists = cur.execute(
        f"SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = '{table}'"
    ).fetchall()[0][0]
    if not exists:
        return []
    got = sorted(r[0] for r in cur.execute(f"SELECT DISTINCT evidence_id FROM {table}").fetchall())
    runs: list[tuple[int, int]] = []
    for e in got:
        if runs and e == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], e)
        else:
            runs.append((e, e))
    return runs


def drop(cur: duckdb.DuckDBPyConnection) -> None:
    for table in (PICKS, COVERED, PLAIN_FLOWS):
        cur.execute(f"DROP TABLE IF EXISTS {table}")
