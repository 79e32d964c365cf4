"""Text log lines (VPC Flow Logs, S3 access logs, load balancer logs) into events, many files per
DuckDB statement.

Python only finds the lines: it gunzips each file (inflating releases the GIL: two threads), reads an
optional header line, and hands DuckDB one Arrow string array per file whose offsets come from
numpy's search for newlines, so no Python object is made per line. DuckDB then tokenizes every
line with `string_split` (measured 10x faster than `regexp_extract_all` for quoted fields), picks
the layout whose shape the tokens fit, builds the raw record
`{"line": <line>, "fields": {name: value}}` with `to_json` of a struct and computes the mapping's
columns straight from the tokens. A mapping path '$.fields."name"' is by construction the token the raw
record stores under that name, so the values equal what `json_extract_string(raw, path)` returns
without parsing the JSON just built.

Tokenizing a layout with quoted fields: the line split on '"' alternates unquoted runs and quoted
values; each run split on ' ' gives the plain fields (with an empty word at each side that
touches a quote). The layout fixes how many words each run has, which is the shape check.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from viewer.core.ingest_sql import DEDUP_KEY_SQL, stage_columns_sql
from viewer.core.packed_halves import EVENT_ID_SQL
from viewer.core.record_readers import Problem, read_bytes
from viewer.core.sources import decode_text
from viewer.formats.base import FormatSpec, TextLayout, TextSyntax
from viewer.schema import NORMALIZED_FIELDS

# Text held in memory per chunk (Python's lines while DuckDB reads them), estimated from the
# compressed size: text logs gzip about 8-12:1. An INSERT runs on as many threads as it has row
# groups of lines to fill, and writes each thread's last, part-filled group in turn: chunks of
# 96 MB were one or two groups of S3 access or ALB lines (600-700 bytes), written on ~1.3
# cores; 320 MB makes three or four (1M lines, `caseline import` alternating with the 96 MB
# code: S3 access 19.1-20.2 -> 14.9-15.9 s, peak RSS 1.10 -> 1.39 GB; ALB 22.4-22.6 ->
# 15.7-16.3 s, RSS unchanged at 1.24-1.29 GB; VPC lines were already several groups a chunk,
# unchanged at 5.4-5.9 s).
TEXT_CHUNK_BYTES = 320 * 1024**2
# JSON lines: records of 1-2 KB, checked then inserted (`ChunkImporter._insert_records`), the
# statements cut by the carry across chunks (`insert_carry`), whatever the chunk size. 48 MB
# chunks held 0.1-0.17 GB less than 96 MB (1M GCP audit records) and were no faster.
JSON_LINES_CHUNK_BYTES = 96 * 1024**2
TEXT_GZIP_RATIO = 10
_UNQUOTE = "chr(1)"  # stands in for an escaped quote (\") while the line is split on quotes
_FIELD_PATH = re.compile(r'^\$\.fields\.(?:"([^"]+)"|([A-Za-z_][\w:-]*))$')
_STAGE_COLUMNS = [f.name for f in NORMALIZED_FIELDS]
# Bytes that JSON text holds as they are (anything but '\\' and control characters; '"' is handled
# apart), plus the line break the line cutting removes. A file of nothing else is "plain".
_JSON_PLAIN_BYTES = bytes(b for b in range(256) if b >= 0x20 and b != 0x5C) + b"\n"
_NO_LINES = pa.array([], pa.large_string())


@dataclass
class TextFile:
    """One file's lines, ready for DuckDB."""

    evidence_id: int
    lines: pa.Array  # string array, one element per line after the header (blank lines too)
    first_line_no: int  # line number of lines[0] in the file (1-based)
    header: TextLayout | None = None  # the field order the file's header line declares
    problems: list[Problem] = field(default_factory=list)
    # No backslash and no control character anywhere: each value goes into the raw JSON as it is
    # (a quote aside), so the raw record is cheaper to write (see TextPlan.insert_sql).
    plain: bool = False


def read_text_file(evidence_id: int, path: Path, syntax: TextSyntax) -> TextFile:
    problems: list[Problem] = []
    data = read_bytes(path, problems)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, note = decode_text(data)
        data = text.encode()
        problems.append(Problem(None, "byte", note or "file is UTF-16 encoded"))
    if b"\r" in data:  # CRLF files: the line ending is not part of the record
        data = data.replace(b"\r\n", b"\n")
    header = None
    first_no = 1
    if syntax.header is not None and syntax.fixed is None:
        end = data.find(b"\n")
        first = (data if end < 0 else data[:end]).decode("utf-8", errors="replace").strip()
        names = syntax.header(first)
        if names and len(set(names)) == len(names):  # a repeated name is no field order
            header = TextLayout("header", " ".join(names))
            data = b"" if end < 0 else data[end + 1 :]
            first_no = 2
    plain = not data.translate(None, _JSON_PLAIN_BYTES)
    return TextFile(evidence_id, line_array(data, problems), first_no, header, problems, plain)


def line_array(data: bytes, problems: list[Problem]) -> pa.Array:
    """The lines of `data` as an Arrow string array: newline bytes dropped in one pass, offsets
    shifted by the newlines before each line. No Python object per line."""
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        return pa.array([], pa.large_string())
    buf = np.frombuffer(data, np.uint8)
    breaks = np.flatnonzero(buf == 10)
    n = len(breaks) + 1
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    offsets[1:n] = breaks - np.arange(len(breaks))
    offsets[n] = len(data) - len(breaks)
    compact = data.replace(b"\n", b"") if len(breaks) else data  # memchr-fast, unlike a numpy mask
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(compact))
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        text = data.decode("utf-8", errors="replace")
        problems.append(Problem(None, "byte", "not valid UTF-8; undecodable bytes were replaced"))
        return pa.array(text.split("\n"), pa.large_string())
    return arr


def read_text_files(files: list[tuple[int, Path]], syntax: TextSyntax, workers: int = 2) -> list[TextFile]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda f: read_text_file(f[0], f[1], syntax), files))


def lines_table(files: list[TextFile], layout_ids: dict[int, int]) -> pa.Table:
    """(evidence_id, record_index, file_layout, plain, line) for every line of the chunk's files.

    Built as whole columns (numpy repeats, one concatenation of the line arrays) rather than a
    record batch per file: S3 access logs are thousands of files of a few hundred lines, and
    per-file batches cost 1-4 us a line. One batch: the statements cut it into row groups
    (`insert_batches.statements`) by zero-copy slices; cut here into 64k-row batches first, each
    of their batches was copied together from two or three (VPC, 415k lines: 0.15 s before the
    first INSERT could start).

    The files' own line arrays are released (each `lines` emptied): the table holds the text
    once, and a chunk is a few hundred MB of it (TEXT_CHUNK_BYTES)."""
    kept = [tf for tf in files if len(tf.lines)]
    schema = pa.schema(
        [
            ("evidence_id", pa.int32()),
            ("record_index", pa.int64()),
            ("file_layout", pa.int16()),
            ("plain", pa.bool_()),
            ("line", pa.large_string()),
        ]
    )
    if not kept:
        return schema.empty_table()
    sizes = np.array([len(tf.lines) for tf in kept], np.int64)
    starts = np.array([tf.first_line_no for tf in kept], np.int64)
    # Line number of each row: its position in its file plus the file's first line number.
    file_start_rows = np.cumsum(sizes) - sizes
    record_index = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(starts - file_start_rows, sizes)
    lines = pa.chunked_array([tf.lines for tf in kept], pa.large_string()).combine_chunks()
    for tf in kept:
        tf.lines = _NO_LINES
    table = pa.table(
        [
            pa.array(np.repeat(np.array([tf.evidence_id for tf in kept], np.int32), sizes)),
            pa.array(record_index),
            pa.array(
                np.repeat(np.array([layout_ids.get(tf.evidence_id, -1) for tf in kept], np.int16), sizes)
            ),
            pa.array(np.repeat(np.array([tf.plain for tf in kept], np.bool_), sizes)),
            lines,
        ],
        schema=schema,
    )
    return table


# --- SQL --------------------------------------------------------------------------------------


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass
class _Compiled:
    """Where each field of a layout is found among the tokenized columns of a line."""

    fits: str  # SQL: the line's tokens have this layout's shape
    values: dict[str, str]  # field name -> SQL expression of its text
    split: set[int] = field(default_factory=set)  # segments whose words the layout reads


def _compile(layout: TextLayout, allow_extra: bool) -> _Compiled:
    fields = layout.fields
    if len({f.name for f in fields}) != len(fields):
        raise ValueError(f"layout {layout.name!r} names a field twice")
    checks = [f"regexp_full_match(ft, {_q(layout.first_token)})"] if layout.first_token else []
    values: dict[str, str] = {}
    if not any(f.enclosed for f in fields):
        n = len(fields)
        checks.append(f"len(w0) {'>=' if allow_extra else '='} {n}")
        for i, f in enumerate(fields):
            values[f.name] = f"w0[{i + 1}]"
        return _Compiled(" AND ".join(checks), values)
    # Runs of plain fields between enclosed ones: segment j of the line split on quotes.
    seg = 1
    run: list[str] = []
    after_quote = False
    groups: list[tuple[int, list[str], bool, bool]] = []  # segment, names, after quote, before quote
    split: set[int] = set()
    for f in fields:
        if f.enclosed:
            groups.append((seg, run, after_quote, True))
            values[f.name] = f"e{seg + 1}"
            seg += 2
            run, after_quote = [], True
        else:
            run.append(f.name)
    groups.append((seg, run, after_quote, False))
    last_seg = seg
    checks.append(f"len(segs) {'>=' if allow_extra else '='} {last_seg}")
    for j, names, after, before in groups:
        if not names:  # two quoted fields side by side, or a quote at either end of the line
            if after and before:
                checks.append(f"segs[{j}] = ' '")
            elif not (allow_extra and j == last_seg):
                checks.append(f"segs[{j}] = ''")
            continue
        words = len(names) + int(after) + int(before)
        op = ">=" if allow_extra and j == last_seg else "="
        checks.append(f"len(w{j}) {op} {words}")
        split.add(j)
        for m, name in enumerate(names):
            values[name] = f"w{j}[{m + 1 + int(after)}]"
    return _Compiled(" AND ".join(checks), values, split)


@dataclass
class TextPlan:
    """The layouts of one chunk: the format's own, then each header or user order found."""

    syntax: TextSyntax
    layouts: list[TextLayout] = field(default_factory=list)  # index = layout id
    shape_ids: list[int] = field(default_factory=list)  # ids tried per line when a file has no header
    # Layout id -> id of its longest form: the shorter forms of a layout read their fields with
    # the same SQL (a field past the end of a line is NULL), so they share its columns.
    family: list[int] = field(default_factory=list)

    @classmethod
    def for_files(cls, syntax: TextSyntax, files: list[TextFile]) -> tuple[TextPlan, dict[int, int]]:
        plan = cls(syntax)
        file_layout: dict[int, int] = {}
        if syntax.fixed is not None:
            plan.layouts.append(syntax.fixed)
            plan.family.append(0)
            return plan, {tf.evidence_id: 0 for tf in files}
        # The header-less orders are tried only when a file with lines has no header: an empty
        # file (a delivery marker) must not put every shape check and CASE into the statement.
        if any(tf.header is None and len(tf.lines) for tf in files):
            for layout in syntax.layouts:
                full = len(plan.layouts)
                for variant in layout.prefixes():
                    plan.shape_ids.append(len(plan.layouts))
                    plan.family.append(full)
                    plan.layouts.append(variant)
        seen: dict[str, int] = {}
        for tf in files:
            if tf.header is not None:
                if tf.header.spec not in seen:
                    seen[tf.header.spec] = len(plan.layouts)
                    plan.family.append(len(plan.layouts))
                    plan.layouts.append(tf.header)
                file_layout[tf.evidence_id] = seen[tf.header.spec]
        return plan, file_layout

    def insert_sql(self, spec: FormatSpec, source: str) -> str:
        """INSERT INTO events of every non-blank line of `source`; unmatched lines get raw
        {"line": ...} without fields and a NULL time (the caller reports and removes them)."""
        assert spec.mapping is not None
        allow_extra = self.syntax.allow_extra_fields
        compiled = [_compile(layout, allow_extra) for layout in self.layouts]
        enclosed = [lay for lay in self.layouts if any(f.enclosed for f in lay.fields)]
        plain = len(enclosed) < len(self.layouts)
        brackets = any(f.enclosed == "[" for lay in self.layouts for f in lay.fields)
        # Each step below is its own SELECT so that DuckDB computes it once per line: repeated
        # inside one expression (a CASE), the quote-replaced line was computed ten times
        # (measured 7 us of 22 per S3 access log line).
        steps = []
        if enclosed:
            steps.append(
                f"CASE WHEN contains(line, '\\\"') THEN replace(line, '\\\"', {_UNQUOTE}) ELSE line END AS q"
            )
        tline = "q"
        if brackets:  # the first [..] is one field (S3 access log time): read it as a quoted one
            steps.append("strpos(q, '[') AS b1, strpos(q, ']') AS b2")
            tline = (
                "CASE WHEN b1 > 0 AND b2 > b1 THEN "
                "left(q, b1 - 1) || '\"' || substr(q, b1 + 1, b2 - b1 - 1) || '\"' || substr(q, b2 + 1) "
                "ELSE q END"
            )
        token_cols = []
        if plain:
            token_cols.append("string_split(line, ' ') AS w0")
        if enclosed:
            token_cols.append(f"string_split({tline}, '\"') AS segs")
        if any(lay.first_token for lay in self.layouts):
            token_cols.append("split_part(line, ' ', 1) AS ft")
        steps.append(", ".join(token_cols))
        used = sorted(set().union(*(c.split for c in compiled)))
        quoted = sorted(
            {int(m) for c in compiled for m in re.findall(r"\be(\d+)\b", " ".join(c.values.values()))}
        )
        seg_cols = [f"string_split(segs[{j}], ' ') AS w{j}" for j in used]
        seg_cols += [f"replace(segs[{j}], {_UNQUOTE}, '\"') AS e{j}" for j in quoted]
        if seg_cols:
            steps.append(", ".join(seg_cols))
        by_shape = " ".join(f"WHEN {compiled[i].fits} THEN {i}" for i in self.shape_ids)
        by_shape_sql = f"CASE {by_shape} END" if by_shape else "NULL"
        fixed = " ".join(
            f"WHEN {i} THEN CASE WHEN {c.fits} THEN {i} END"
            for i, c in enumerate(compiled)
            if i not in self.shape_ids
        )
        layout_sql = (
            f"CASE WHEN file_layout < 0 THEN {by_shape_sql} ELSE CASE file_layout {fixed} END END"
            if fixed
            else by_shape_sql
        )
        # Each layout's columns straight from its tokens; with several layouts, a CASE per column.
        paths = list(spec.mapping.paths.values())
        per_layout = [_column_exprs(spec, [_path_value(p, c.values) for p in paths]) for c in compiled]
        raws = [_raw_sql(lay, c) for lay, c in zip(self.layouts, compiled, strict=True)]
        exprs = []
        for k, col in enumerate(_STAGE_COLUMNS):
            by_expr: dict[str, list[int]] = {}
            for i in range(len(self.layouts)):
                by_expr.setdefault(per_layout[self.family[i]][k], []).append(i)
            if col in ("source_type", "provider"):
                exprs.append(f"{per_layout[0][k]} AS {col}")
            elif len(by_expr) == 1 and col != "ts":
                exprs.append(f"{next(iter(by_expr))} AS {col}")
            else:
                whens = " ".join(f"WHEN {_layout_in(ids)} THEN {e}" for e, ids in by_expr.items())
                exprs.append(f"CASE {whens} END AS {col}")
        if len(self.layouts) == 1:
            raw = f"CASE WHEN layout = 0 THEN {raws[0]} ELSE json_object('line', line) END"
        else:
            raw = "CASE layout " + " ".join(f"WHEN {i} THEN {r}" for i, r in enumerate(raws))
            raw += " ELSE json_object('line', line) END"
        # Blank lines are skipped. trim() copies every line (measured 4 us per 500-byte line): a
        # line with a printable ASCII character is not blank, so trim only sees the others.
        lines = (
            f"SELECT evidence_id, record_index, file_layout, plain, line FROM ({source}) "
            "WHERE NOT regexp_full_match(line, '[^!-~]*') OR trim(line) <> ''"
        )
        for step in steps:
            lines = f"SELECT *, {step} FROM ({lines})"
        cols = [
            "event_id",
            *_STAGE_COLUMNS,
            "evidence_id",
            "record_index",
            "uid_conflict",
            "raw",
            "dedup_key",
        ]
        return f"""
            INSERT INTO events ({", ".join(cols)})
            SELECT {EVENT_ID_SQL}, {stage_columns_sql()},
                evidence_id, record_index, false, raw, {DEDUP_KEY_SQL}
            FROM (
                SELECT evidence_id, record_index, {raw} AS raw, {", ".join(exprs)}
                FROM (
                    SELECT *, {layout_sql} AS layout FROM ({lines})
                )
            )
        """


def _raw_sql(layout: TextLayout, compiled: _Compiled) -> str:
    """The raw record `{"line": ..., "fields": {name: value}}` of a line that fits `layout`.

    to_json of a struct (measured 1.5x faster than json_object) escapes every value. A line of a
    plain file (no backslash, no control character) needs no escaping but its quotes, and none
    inside a value (values are cut at quotes, or the line has none): the same text written by
    concat costs 1.3 us less a VPC line (2.3 against 3.6 us, the JSON column's check included).
    That check also guards this path: text that were not JSON would fail the statement."""
    names = [f.name for f in layout.fields]
    generic = (
        "to_json({'line': line, 'fields': struct_pack("
        + ", ".join(f"{_ident(n)} := {compiled.values[n]}" for n in names)
        + ")})"
    )
    keys = [json.dumps(n, ensure_ascii=False) for n in names]
    if any("\\" in k for k in keys):  # a name JSON escapes: written by to_json only
        return generic
    quoted = any(f.enclosed for f in layout.fields)
    # Text pieces (str) and SQL values (tuple), adjacent texts merged into one literal.
    pieces: list[str | tuple[str]] = ['{"line":"', ("replace(line, '\"', '\\\"')" if quoted else "line",)]
    pieces.append('","fields":{')
    for i, (name, key) in enumerate(zip(names, keys, strict=True)):
        pieces += [("," if i else "") + key + ':"', (compiled.values[name],), '"']
    pieces.append("}}")
    parts: list[str] = []
    text = ""
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
        else:
            parts += [_q(text), piece[0]]
            text = ""
    parts.append(_q(text))
    # A layout without quoted fields splits the line on spaces only: a token may hold a quote.
    when = "plain" if quoted else "plain AND NOT contains(line, '\"')"
    return f"CASE WHEN {when} THEN concat({', '.join(parts)}) ELSE {generic} END"


def _layout_in(ids: list[int]) -> str:
    """SQL: the line's layout is one of `ids`, as a bit test rather than `layout IN (...)`.

    DuckDB plans an IN list as a mark join, and an INSERT whose source has a join runs as a
    one-thread Insert instead of a parallel Batch Insert (with preserve_insertion_order): the
    whole text import ran on one core (ALB, 200k lines: 5.45 s wall for 7.5 CPU-s)."""
    if len(ids) == 1:
        return f"layout = {ids[0]}"
    assert max(ids) < 63, "a text plan has a few dozen layouts at most"
    mask = sum(1 << i for i in ids)
    return f"(({mask}::BIGINT >> layout) & 1) = 1"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path_value(path: str, values: dict[str, str]) -> str:
    if path == "$.line":
        return "line"
    m = _FIELD_PATH.match(path)
    if m is None:
        raise ValueError(f"text mappings read '$.line' or '$.fields.<name>', not {path!r}")
    return values.get(m.group(1) or m.group(2), "NULL::VARCHAR")


def _column_exprs(spec: FormatSpec, values: list[str]) -> list[str]:
    """Each normalized column's SQL with the mapping's `{path}` placeholders replaced by
    `values` (SQL of each path's text, in the order of `mapping.paths`)."""
    assert spec.mapping is not None
    index = {name: i for i, name in enumerate(spec.mapping.paths)}
    exprs = []
    for col in _STAGE_COLUMNS:
        if col == "source_type":
            exprs.append(_q(spec.source_type))
        elif col == "provider":
            exprs.append(_q(spec.provider))
        elif col not in spec.mapping.columns:
            exprs.append("NULL")
        else:
            expr = spec.mapping.columns[col]
            exprs.append("(" + re.sub(r"\{(\w+)\}", lambda m: f"({values[index[m.group(1)]]})", expr) + ")")
    return exprs
