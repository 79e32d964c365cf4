"""JSON escapes of a UTF-16 surrogate without its pair, kept as text.

JSON allows `"\\udc80"` (RFC 8259 leaves what it means to the reader), and the producers that
escape what they cannot encode write it: Python's `json.dumps` for a string decoded with
`surrogateescape`, JavaScript's `JSON.stringify` for a half of a character. Attacker-controlled
fields (a user agent, a URL) carry them. DuckDB's JSON reader (and orjson) refuse the whole
record, so a record holding one was rejected as invalid JSON: one escape could take an event out
of the timeline. Each such escape gets one more backslash, so the record reads the six characters
`\\udc80` where it had the escape, nothing else of it changes, and a note says where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

# A run of backslashes, then u and a surrogate's four hex digits. The escape is real only when the
# run is odd: an even run is escaped backslashes followed by the letter u.
_ESCAPE = re.compile(r"(\\+)u[dD][89a-fA-F][0-9a-fA-F]{2}")
_HIGH = frozenset("89abAB")
# Any surrogate escape: the first look, in Python and in DuckDB's regexp_matches alike.
_ANY = re.compile(r"\\u[dD][89a-fA-F]")


def lone_escapes(text: str) -> list[int]:
    """Where each lone surrogate escape starts (its backslash): a high half not followed at once
    by a low one, or a low half not preceded by a high one."""
    found: list[tuple[int, bool, int]] = []  # (start, is high, end)
    for m in _ESCAPE.finditer(text):
        if len(m.group(1)) % 2 == 0:
            continue
        start = m.end() - 6
        found.append((start, text[start + 3] in _HIGH, m.end()))
    lone: list[int] = []
    i = 0
    while i < len(found):
        start, high, end = found[i]
        if high and i + 1 < len(found) and found[i + 1][0] == end and not found[i + 1][1]:
            i += 2  # a pair: one character
            continue
        lone.append(start)
        i += 1
    return lone


def keep_as_text(text: str, first_line: int = 1) -> tuple[str, tuple[int, str] | None]:
    """`text` with a backslash before each lone surrogate escape, and a note for the file (the
    line of the first, and what was done: no record is lost) when there was one. `first_line`:
    the line of the file `text` starts on."""
    starts = lone_escapes(text) if _ANY.search(text) else []
    if not starts:
        return text, None
    line = [first_line + text.count("\n", 0, start) for start in starts[:3]]
    shown = [f"{text[start : start + 6]} at line {n}" for start, n in zip(starts, line, strict=False)]
    more = f" and {len(starts) - 3:,} more" if len(starts) > 3 else ""
    note = (
        f"{len(starts):,} UTF-16 surrogate escape{'s' if len(starts) > 1 else ''} without "
        f"{'their' if len(starts) > 1 else 'its'} pair ({', '.join(shown)}{more}) kept as text "
        "with one more backslash: DuckDB's JSON reader refuses a record holding one"
    )
    return _backslashed(text, starts), (line[0], note)


def _backslashed(text: str, starts: list[int]) -> str:
    """`text` with one more backslash at each of `starts`."""
    pieces = []
    kept_from = 0
    for start in starts:
        pieces += [text[kept_from:start], "\\"]
        kept_from = start
    pieces.append(text[kept_from:])
    return "".join(pieces)


def keep_refused(
    cur: duckdb.DuckDBPyConnection, table: pa.Table, refused: str
) -> tuple[pa.Table, list[Kept]]:
    """The records of `table` (evidence_id, record_index, r) that DuckDB refused as invalid JSON
    (rows of the temp table `refused`, with their `problem`) for a lone surrogate escape alone:
    their texts in `table` kept as text, their rows out of `refused`. Only the refused rows are
    searched, so evidence without such an escape pays nothing (a search of every JSON line
    before DuckDB read them cost ~0.5 s per GB)."""
    found = cur.execute(
        f"SELECT evidence_id, record_index, r::VARCHAR FROM {refused} "
        f"WHERE problem = 'invalid JSON' AND regexp_matches(r::VARCHAR, '{_ANY.pattern}')"
    ).fetchall()
    fixed: dict[str, str] = {}
    kept: dict[int, Kept] = {}
    for evidence_id, record_index, text in found:
        starts = lone_escapes(text)
        if not starts:
            continue
        repaired = _backslashed(text, starts)
        try:
            orjson.loads(repaired)
        except orjson.JSONDecodeError:
            continue  # broken in another way too: refused as it was
        fixed[f"{evidence_id}:{record_index}"] = repaired
        if evidence_id not in kept:
            kept[evidence_id] = Kept(evidence_id, record_index, text[starts[0] : starts[0] + 6])
        kept[evidence_id].records += 1
    if not fixed:
        return table, []
    cur.register("_surrogates_kept", pa.table({"k": list(fixed)}))
    try:
        cur.execute(
            f"DELETE FROM {refused} WHERE evidence_id::VARCHAR || ':' || record_index::VARCHAR "
            "IN (SELECT k FROM _surrogates_kept)"
        )
    finally:
        cur.unregister("_surrogates_kept")
    keys = pc.binary_join_element_wise(
        pc.cast(table.column("evidence_id"), pa.string()),
        pc.cast(table.column("record_index"), pa.string()),
        ":",
    )
    at = pc.index_in(keys, value_set=pa.array(list(fixed)))
    texts = table.column("r")
    typed = hasattr(texts.type, "storage_type")  # typed JSON (`json_lines_import.as_json`)
    storage = pa.chunked_array([c.storage if typed else c for c in texts.chunks]).cast(pa.large_string())
    replaced = pc.coalesce(pc.take(pa.array(list(fixed.values()), pa.large_string()), at), storage)
    column = pa.chunked_array(
        [pa.ExtensionArray.from_storage(texts.type, c) if typed else c for c in replaced.chunks],
        texts.type if typed else pa.large_string(),
    )
    return table.set_column(table.schema.get_field_index("r"), "r", column), list(kept.values())


@dataclass
class Kept:
    """A file's records kept by `keep_refused`: the first one's index and escape, and how many."""

    evidence_id: int
    first_index: int
    escape: str
    records: int = 0

    def note(self) -> str:
        many = self.records > 1
        return (
            f"{self.records:,} record{'s' if many else ''} held a UTF-16 surrogate escape without its pair "
            f"({self.escape} in the first): kept, the escape as text with one more backslash "
            "(DuckDB's JSON reader refuses such a record)"
        )
