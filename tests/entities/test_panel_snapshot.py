"""The one-statement snapshot of a panel's checks answers exactly what the separate queries do,
in every state the tables can be in (current, behind the events, built by another version,
missing), and only on the cursor it was read on."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from viewer.core.case_file import CaseFile
from viewer.core.entities import builder, day_totals, panel_query, panel_snapshot, panel_stats, pivots
from viewer.core.entities.kinds import KINDS
from viewer.core.ingest import import_paths

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"


def _answers(cur: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Every check the snapshot stands in for, as the panel code asks it."""
    got: dict[str, object] = {
        "state": builder.state(cur),
        "ready": builder.is_ready(cur),
        "time order": panel_query._time_order_current(cur),
    }
    try:
        got["sources"] = panel_stats.source_bits(cur)
    except duckdb.CatalogException:
        got["sources"] = "missing"
    for kind in KINDS:
        try:
            got[f"bounds {kind.name}"] = panel_stats.kind_bounds(cur, kind)
        except duckdb.CatalogException:
            got[f"bounds {kind.name}"] = "missing"
        got[f"grid {kind.name}"] = day_totals.is_current(cur, kind.name)
    return got


def _same_inside_and_out(cur: duckdb.DuckDBPyConnection) -> dict[str, object]:
    outside = _answers(cur)
    with panel_snapshot.reading(cur) as snap:
        inside = _answers(cur)
    assert inside == outside
    return {"snap": snap, **outside}


@pytest.fixture()
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CaseFile:
    # Day grids for every kind: the sample's kinds are far too small for the builder's own rule.
    monkeypatch.setattr(day_totals, "MIN_ENTITIES", 0)
    monkeypatch.setattr(day_totals, "MIN_ROLLUP_ROWS", 0)
    monkeypatch.setattr(day_totals, "MAX_CELLS_PER_ROLLUP_ROW", float("inf"))
    c = CaseFile.create(tmp_path / "snap.caseline")
    import_paths(c, sorted((FORMATS / "aws_cloudtrail").glob("*.json.gz")))
    return c


def test_snapshot_answers_as_the_queries_in_every_state(case: CaseFile, tmp_path: Path) -> None:
    cur = case.cursor()
    current = _same_inside_and_out(cur)
    assert current["snap"] is not None and current["ready"] and current["time order"]
    assert any(v is not None for k, v in current.items() if k.startswith("grid"))
    assert current["sources"]
    # Events above the tables' marks (an import's committed chunks, not yet in the tables).
    far = 1 << 60
    cur.execute(f"INSERT INTO events SELECT * REPLACE (event_id + {far} AS event_id) FROM events LIMIT 3")
    behind = _same_inside_and_out(cur)
    assert behind["state"] is None and not behind["time order"]
    cur.execute(f"DELETE FROM events WHERE event_id >= {far}")
    assert _same_inside_and_out(cur)["ready"]
    # Tables another version built.
    cur.execute("UPDATE case_meta SET value = '1' WHERE key = 'derived:entities'")
    assert _same_inside_and_out(cur)["state"] is None
    # Tables missing: no snapshot, the queries answer.
    cur.execute("DROP TABLE entity_day_state")
    assert _same_inside_and_out(cur)["snap"] is None


def test_inside_the_block_the_answers_come_from_the_snapshot(case: CaseFile) -> None:
    """Tables changed after the snapshot was read: the checks inside the block still answer what
    it read (they do not query), and outside it they see the change."""
    cur = case.cursor()
    with panel_snapshot.reading(cur) as snap:
        assert snap is not None
        before = _answers(cur)
        cur.execute("UPDATE entity_kinds SET max_life_us = max_life_us + 1")
        cur.execute("UPDATE entity_state SET events = events + 1")
        cur.execute("UPDATE entity_day_state SET events = events + 2")  # no longer equal to the state
        cur.execute("UPDATE page_anchors_state SET events = events + 1")
        cur.execute("DELETE FROM entity_sources")
        assert _answers(cur) == before
    after = _answers(cur)
    changed = {k for k in before if before[k] != after[k]}
    assert {"state", "ready", "time order", "sources"} <= changed
    assert any(k.startswith("bounds") for k in changed) and any(k.startswith("grid") for k in changed)


def test_snapshot_answers_only_on_its_own_cursor(case: CaseFile) -> None:
    cur, other = case.cursor(), case.cursor()
    with panel_snapshot.reading(cur) as snap:
        assert panel_snapshot.current(cur) is snap and panel_snapshot.current(other) is None
    assert panel_snapshot.current(cur) is None


def test_panels_read_through_the_snapshot_equal_the_ones_without(
    case: CaseFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    cur = case.cursor()
    kinds = ("ip", "principal", "credential", "session_id")
    with_snapshot = [pivots.panel_rows(cur, kind, limit=1000) for kind in kinds]
    monkeypatch.setattr(panel_snapshot, "read", lambda cur: None)  # every check queries alone
    without = [pivots.panel_rows(cur, kind, limit=1000) for kind in kinds]
    assert with_snapshot == without and all(page.exact_from_tables and page.rows for page in without)
