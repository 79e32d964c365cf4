"""Words the query editor offers: tables, columns, functions, keywords and raw JSON paths.

JSON paths come from a sample of each source's raw records (json_tree), so completion knows
`raw.userIdentity.sessionContext.sessionIssuer.arn` for CloudTrail and `raw.properties.status`
for Azure without scanning the whole case. Gathered once per case, in the background.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from viewer.core.query.common import SOURCE_TABLES

SAMPLE_PER_SOURCE = 200


def _words(text: str) -> list[str]:
    return text.split()


KEYWORDS = {
    "sql": _words(
        "SELECT FROM WHERE GROUP BY ORDER BY HAVING LIMIT WITH AS AND OR NOT IN IS NULL LIKE ILIKE "
        "BETWEEN CASE WHEN THEN ELSE END DISTINCT JOIN LEFT INNER ON USING UNION ALL DESC ASC "
        "INTERVAL QUALIFY OVER PARTITION"
    ),
    "kql": _words(
        "where project project-away extend summarize by bin count dcount sum min max avg make_set top "
        "sort order take limit distinct join kind inner leftouter union let render timechart barchart "
        "has contains startswith endswith in between matches regex ago now datetime todatetime tostring "
        "parse_json and or not asc desc"
    ),
    "insights": _words(
        "fields filter stats count count_distinct sum avg min max by bin sort asc desc limit parse display "
        "dedup like in as and or not @timestamp @message @logStream @log"
    ),
}


@dataclass
class CompletionWords:
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    json_paths: list[str] = field(default_factory=list)  # dotted, without the leading '$.'

    def words(self, language: str) -> list[str]:
        """Everything worth offering in `language`, deduplicated, in a stable order."""
        raw_prefix = "raw." if language == "kql" else ""
        paths = [raw_prefix + p for p in self.json_paths]
        if language == "sql":
            paths = [f"raw->>'$.{p}'" for p in self.json_paths]
        words = [*KEYWORDS.get(language, []), *self.tables, *self.columns, *paths]
        if language == "sql":
            words += self.functions
        return list(dict.fromkeys(words))


def gather(cur: duckdb.DuckDBPyConnection) -> CompletionWords:
    tables = [
        r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()
    ]
    tables += [
        r[0] for r in cur.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    ]
    tables += [t for t in SOURCE_TABLES if t not in tables]
    columns = [r[0] for r in cur.execute("SELECT column_name FROM (DESCRIBE events)").fetchall()]
    # Tables that add columns to the events: `events_actor` (viewer.core.entities.actors) adds
    # the resolved `actor`,
    # and `raw_fields` (viewer.core.raw_fields) the extracted raw JSON fields, joined by event_id.
    for view in ("events_actor", "raw_fields"):
        if view in tables:
            extra = cur.execute(f"SELECT column_name FROM (DESCRIBE {view})").fetchall()
            columns += [r[0] for r in extra if r[0] not in columns]
    functions = [
        r[0]
        for r in cur.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'aggregate') AND function_name SIMILAR TO '[a-z_][a-z0-9_]*' "
            "ORDER BY 1"
        ).fetchall()
    ]
    sources = [r[0] for r in cur.execute("SELECT DISTINCT source_type FROM events").fetchall()]
    paths: set[str] = set()
    for source in sources:
        rows = cur.execute(
            "SELECT DISTINCT t.fullkey FROM (SELECT raw FROM events WHERE source_type = ? LIMIT ?) e, "
            "json_tree(e.raw) t WHERE t.fullkey <> '$' AND t.fullkey NOT LIKE '%[%'",
            [source, SAMPLE_PER_SOURCE],
        ).fetchall()
        paths.update(str(r[0]).removeprefix("$.") for r in rows)
    return CompletionWords(tables, columns, functions, sorted(p for p in paths if '"' not in p))
