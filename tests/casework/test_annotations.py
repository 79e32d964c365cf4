"""Annotations: edits, the append-only change log, undo/redo, SQL views, markers and the filter."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trail import Trail, hourly_chain, new_key  # noqa: E402

from viewer.core.case_file import CaseFile  # noqa: E402
from viewer.core.casework import annotation_views as views  # noqa: E402
from viewer.core.casework import annotations as an  # noqa: E402
from viewer.core.ingest import import_paths  # noqa: E402


@pytest.fixture
def case(tmp_path):
    key, fp = new_key()
    hourly_chain(Trail(tmp_path / "ev", key, fp), 3)
    c = CaseFile.create(tmp_path / "a.caseline")
    import_paths(c, [tmp_path / "ev"])
    yield c
    c.close()


def _ids(case, n=None):
    rows = case.cursor().execute("SELECT event_id FROM events ORDER BY ts, event_id").fetchall()
    return [r[0] for r in rows][:n]


def test_tags_stars_notes_are_queryable_in_sql(case):
    ids = _ids(case)
    assert an.tag_events(case, ids[:3], "Malicious") == 3
    assert an.tag_events(case, ids[:4], "malicious") == 1  # only the new one is a change
    an.tag_events(case, ids[:1], "ioc")
    an.set_starred(case, ids[1:2])
    an.set_event_note(case, ids[0], "first call from the attacker")
    cur = case.cursor()
    assert cur.execute("SELECT event_id FROM event_tags WHERE tag = 'malicious' ORDER BY 1").fetchall() == [
        (i,) for i in sorted(ids[:4])
    ]
    assert cur.execute(
        "SELECT tags, note FROM event_annotations WHERE event_id = ?", [ids[0]]
    ).fetchall() == [(["IOC", "malicious"], "first call from the attacker")]
    got = views.for_events(case, ids)
    assert got[ids[1]].starred and not got[ids[0]].starred and ids[5] not in got


def test_every_change_is_appended_and_undo_is_a_new_change(case):
    ids = _ids(case, 2)
    an.tag_events(case, ids, "suspicious")
    an.set_entity_note(case, "ip", "198.51.100.7", "attacker")
    an.set_entity_note(case, "IP", "198.51.100.7", "attacker (confirmed)")
    assert views.entity_note(case, "ip", "198.51.100.7") == "attacker (confirmed)"
    undone = an.undo(case)
    assert undone is not None and undone.kind == "undo"
    assert views.entity_note(case, "ip", "198.51.100.7") == "attacker"
    an.undo(case)
    assert views.entity_note(case, "ip", "198.51.100.7") is None
    an.redo(case)
    assert views.entity_note(case, "ip", "198.51.100.7") == "attacker"
    rows = (
        case.cursor()
        .execute(
            "SELECT action_kind, value, prev_value FROM annotation_changes WHERE target_kind = 'entity' ORDER BY change_id"
        )
        .fetchall()
    )
    assert rows == [
        ("edit", "attacker", None),
        ("edit", "attacker (confirmed)", "attacker"),
        ("undo", "attacker", "attacker (confirmed)"),
        ("undo", None, "attacker"),
        ("redo", "attacker", None),
    ]
    an.undo(case)
    an.undo(case)  # the two-event tag action, undone as a whole
    assert case.cursor().execute("SELECT count(*) FROM event_tags").fetchall() == [(0,)]
    assert an.undo(case) is None and an.can_redo(case)
    an.set_starred(case, ids[:1])  # a new edit clears the redo stack
    assert not an.can_redo(case)
    logged = case.cursor().execute("SELECT count(*) FROM activity_log WHERE action = 'annotation'").fetchall()
    assert logged == [(len(an.history(case, 100)),)]


def test_bookmarks_markers_and_ranges(case):
    ids = _ids(case)
    ts = dict(case.cursor().execute("SELECT event_id, ts FROM events").fetchall())
    an.set_starred(case, [ids[0], ids[-1]])
    start, end = ts[ids[0]], ts[ids[0]] + dt.timedelta(minutes=1)
    markers = views.markers_in_range(case, start, end)
    assert [m.event_id for m in markers] == [ids[0]] and markers[0].starred
    b = an.add_bookmark(case, "first hour", start, end, "recon")
    an.update_bookmark(case, b, name="recon window")
    assert [(x.name, x.start, x.end, x.note) for x in views.bookmarks(case)] == [
        ("recon window", start, end, "recon")
    ]
    assert views.bookmarks(case, end + dt.timedelta(hours=5), end + dt.timedelta(hours=6)) == []
    an.remove_bookmark(case, b)
    assert views.bookmarks(case) == []
    with pytest.raises(an.AnnotationError, match="ends .* before it starts"):
        an.add_bookmark(case, "backwards", end, start)


def test_filter_expression_selects_events(case):
    ids = _ids(case)
    an.tag_events(case, ids[:3], "reviewed")
    an.set_starred(case, ids[2:4])
    sql, params = views.filter_sql("starred -tag:reviewed")
    got = (
        case.cursor()
        .execute(f"SELECT event_id FROM events WHERE {sql} ORDER BY ts, event_id", params)
        .fetchall()
    )
    assert [r[0] for r in got] == [ids[3]]
    sql, params = views.filter_sql("is:annotated")
    n = case.cursor().execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchall()[0][0]
    assert n == 4
    with pytest.raises(views.AnnotationFilterError) as err:
        views.filter_sql("starred bogus")
    assert err.value.position == 8


def test_bad_input_is_refused(case):
    with pytest.raises(an.AnnotationError, match="no such event"):
        an.tag_events(case, [424242], "benign")
    with pytest.raises(an.AnnotationError, match="invalid tag"):
        an.tag_events(case, _ids(case, 1), "two words")
    assert case.cursor().execute("SELECT count(*) FROM annotation_changes").fetchall() == [(0,)]
