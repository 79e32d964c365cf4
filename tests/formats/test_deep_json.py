"""Records nested thousands of levels deep: DuckDB reads them, Python's parser does not.

A damaged or hostile file can nest arrays far past anything a cloud log writes. The import must
count such a record and go on (the salvage reader once stopped the whole import with a
RecursionError), and one DuckDB kept must still open in the event detail.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.deep_json import DEEP, nested, record, trail
from viewer.core.case_file import CaseFile
from viewer.core.event_detail import fetch_event, parse_raw
from viewer.core.ingest import FileResult, import_paths
from viewer.core.json_depth import SHOWN_LEVELS, cut_below, deeper_than, element_end


def _import(tmp_path: Path, path: Path) -> tuple[FileResult, list[str], CaseFile]:
    case = CaseFile.create(tmp_path / "case.caseline")
    [f] = import_paths(case, [path]).files
    uids = [r[0] for r in case.cursor().execute("SELECT event_uid FROM events ORDER BY event_id").fetchall()]
    assert f.reconciled
    return f, uids, case


def test_element_end_skips_brackets_inside_strings() -> None:
    text = 'x [{"a": "]}\\"]", "b": [1, [2]]}, 3]'
    assert text[element_end(text, 3) :] == ", 3]"
    assert element_end(text, 2) == len(text)
    assert element_end("[[[1]", 0) is None  # not closed before the text ends


def test_cut_below_keeps_shallow_json_and_cuts_deep_containers() -> None:
    shallow = json.dumps({"a": [1, {"b": "[{]}"}], "c": '\\"]'})
    assert cut_below(shallow) == shallow
    cut = json.loads(cut_below(nested(DEEP)))
    value = cut["x"]
    for _ in range(SHOWN_LEVELS - 1):  # the object is the first level
        value = value[0]
    assert (
        value
        == f"\u22ef {DEEP - SHOWN_LEVELS + 1:,} more levels nested here ({2 * (DEEP - SHOWN_LEVELS + 1) + 16:,} characters)"
    )


def test_salvage_reader_counts_a_deep_record_and_reads_on(tmp_path: Path) -> None:
    """A broken record sends the file to the Python reader; the deep one there is one rejected
    record with its position, and the records after it still import."""
    deep = record(1, nested(DEEP))
    path = trail(tmp_path / "t.json.gz", [record(0), deep, record(2), record(3)[:-20], record(4)])
    f, uids, case = _import(tmp_path, path)
    with case:
        assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (5, 3, 2)
        assert uids == ["ev-0", "ev-2", "ev-4"]
        assert any("record 1: record nested too deeply to read" in w for w in f.warnings), f.warnings


def test_salvage_reader_finds_the_records_inside_an_unclosed_deep_element(tmp_path: Path) -> None:
    path = trail(tmp_path / "t.json.gz", [record(0), "[" * DEEP + record(1), record(2)])
    f, uids, case = _import(tmp_path, path)
    with case:
        assert (f.counts.seen, f.counts.kept, f.counts.rejected) == (4, 3, 1)
        assert uids == ["ev-0", "ev-1", "ev-2"]


def test_a_deep_record_duckdb_kept_opens_cut_with_its_whole_text_to_copy(tmp_path: Path) -> None:
    path = trail(tmp_path / "t.json.gz", [record(0), record(1, nested(DEEP))])
    f, uids, case = _import(tmp_path, path)
    with case:
        assert (f.counts.seen, f.counts.kept) == (2, 2)
        cur = case.cursor()
        event_id, stored = cur.execute("SELECT event_id, raw FROM events WHERE event_uid = 'ev-1'").fetchone()
        detail = fetch_event(cur, event_id)
        assert detail is not None
        assert detail.raw_text == stored and len(stored) > 2 * DEEP
        value = detail.raw["requestParameters"]["x"]
        while isinstance(value, list):
            value = value[0]
        assert value.startswith("\u22ef ") and "more levels nested here" in value
        shallow = fetch_event(
            cur, cur.execute("SELECT event_id FROM events WHERE event_uid = 'ev-0'").fetchone()[0]
        )
        assert shallow is not None and shallow.raw_text == json.dumps(json.loads(record(0)), indent=2)


def test_a_record_python_parses_but_deeper_than_shown_is_cut_too() -> None:
    """500 levels parse, but the tree and the pretty text would recurse once per level from the
    window's thread, near the limit: cut as well, and the stored text kept."""
    text = record(1, nested(500))
    raw, copied = parse_raw(text)
    assert copied == text
    value = raw["requestParameters"]["x"]
    while isinstance(value, list):
        value = value[0]
    assert value.startswith(f"\u22ef {2 + 500 - SHOWN_LEVELS} more levels nested here")  # record, its object
    assert deeper_than(json.loads(text), SHOWN_LEVELS) and not deeper_than(raw, SHOWN_LEVELS)
    assert not deeper_than(json.loads(record(0)), 3) and deeper_than(json.loads(record(0)), 1)
