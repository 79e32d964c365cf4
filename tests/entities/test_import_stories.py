"""The correlation tables as part of every import (viewer.core.derived), and stories across
accounts, clouds and import order whose truth is known (tests/entities/stories.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from unittest import mock

import duckdb
import pytest

from entities import stories
from viewer.core import derived
from viewer.core.case_file import CaseFile
from viewer.core.entities import actors, builder, panel_query, panel_stats, pivots
from viewer.core.ingest import import_paths
from viewer.core.jobs import Cancelled, CancelToken, JobContext
from viewer.core.query import completion

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"
ALB_SAMPLE = next((FORMATS / "aws_elb").glob("*.log.gz"))


def _event_id(cur: duckdb.DuckDBPyConnection, uid: str) -> int:
    return int(cur.execute("SELECT event_id FROM events WHERE event_uid = ?", [uid]).fetchall()[0][0])


def _actor_column(cur: duckdb.DuckDBPyConnection, event_id: int) -> str | None:
    rows = cur.execute("SELECT actor FROM events_actor WHERE event_id = ?", [event_id]).fetchall()
    return rows[0][0] if rows else None


def _tables(cur: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """The tables' content; the rollup re-summed (each import appends its own rows for an hour)."""
    summed = """SELECT kind, k, hour_us, sum(n), sum(n_fail), min(first_us), max(first_us + span_us), bit_or(sources)
                FROM entity_rollup GROUP BY ALL"""
    queries = {
        t: f"SELECT * FROM {t}" for t in builder.TABLES if t not in ("entity_rollup_rows", "entity_state")
    }
    queries["entity_rollup"] = summed
    queries["entity_state"] = "SELECT event_id_max, events, exact FROM entity_state"
    return {t: sorted(cur.execute(sql).fetchall(), key=repr) for t, sql in queries.items()}


# -- registered in derived: every import keeps the tables current ------------------------------
def test_import_alone_keeps_the_tables_current(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [stories.write_cloudtrail(tmp_path / "a" / "uses.json", stories.session_calls())])
    cur = case.cursor()
    assert builder.is_ready(cur)
    version = cur.execute("SELECT value FROM case_meta WHERE key = 'derived:entities'").fetchall()
    assert version == [(str(builder.VERSION),)]
    import_paths(case, [stories.write_cloudtrail(tmp_path / "b" / "assume.json", [stories.assume_role()])])
    assert builder.is_ready(cur)
    run = _event_id(cur, "e-run")
    assert _actor_column(cur, run) == stories.USER_ARN
    # Incremental over two imports equals one build over everything.
    incremental = _tables(cur)
    cur.execute("DELETE FROM entity_state")
    builder.update(cur)
    assert _tables(cur) == incremental


def test_cancelled_import_leaves_the_tables_as_before(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [stories.write_cloudtrail(tmp_path / "a" / "uses.json", stories.session_calls())])
    cur = case.cursor()
    before = _tables(cur)
    token = CancelToken()

    def on_progress(p) -> None:  # cancel inside the entity build, after the events were written
        if p.phase == "indexing: entities":
            token.cancel()

    more = stories.write_cloudtrail(tmp_path / "b" / "assume.json", [stories.assume_role()])
    with pytest.raises(Cancelled):
        import_paths(case, [more], ctx=JobContext(token, on_progress, min_interval=0))
    assert _tables(cur) == before
    assert builder.is_ready(cur)


def test_case_without_the_tables_gets_them_at_its_next_update(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "old.caseline")
    import_paths(case, [stories.write_cloudtrail(tmp_path / "a" / "uses.json", stories.session_calls())])
    cur = case.cursor()
    # What a case of an older Caseline looks like: no entity tables, no version mark.
    for table in builder.TABLES:
        cur.execute(f"DROP TABLE {table}")
    cur.execute("DELETE FROM case_meta WHERE key = 'derived:entities'")
    assert not builder.is_ready(cur)
    assert derived.pending(cur)  # the GUI's background indexer runs update_deferred
    derived.update_deferred(case)
    assert builder.is_ready(cur) and not derived.pending(cur)
    assert pivots.panel_rows(cur, "principal").exact_from_tables


def test_actor_column_is_offered_by_query_completion(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [stories.write_cloudtrail(tmp_path / "ct.json", [stories.assume_role()])])
    words = completion.gather(case.cursor()).words("sql")
    assert {"actor", "events_actor", "event_actor"} <= set(words)


def test_key_collision_makes_panels_count_from_events(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    path = stories.write_cloudtrail(tmp_path / "ct.json", stories.session_calls())
    # Every entity gets the same key: the build must notice and the panels must not trust it.
    with mock.patch.object(panel_stats, "key_sql", lambda entity: f"0::UBIGINT + 0*length({entity})"):
        import_paths(case, [path])
    cur = case.cursor()
    assert not builder.is_ready(cur) and builder.has_actor_tables(cur)
    page = pivots.panel_rows(cur, "action")
    assert not page.exact_from_tables
    assert {r.entity for r in page.rows} == {"DescribeInstances", "RunInstances", "AssociateAddress"}


# -- a cross-account chain with sourceIdentity, its records imported last ----------------------
def test_cross_account_chain_imported_out_of_order(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "x.caseline")
    import_paths(
        case, [stories.write_cloudtrail(tmp_path / "1" / "audit.json", stories.audit_session_calls())]
    )
    cur = case.cursor()
    call = _event_id(cur, "e-audit-1")
    before = actors.actor_chain(cur, call)
    assert before is not None and before.gap and before.actor == stories.AUDIT_SESSION_ARN
    # The hop into the other account arrives next, the user's AssumeRole last.
    import_paths(
        case, [stories.write_cloudtrail(tmp_path / "2" / "hop.json", stories.cross_account_assume())]
    )
    middle = actors.actor_chain(cur, call)
    assert middle is not None and middle.gap and middle.actor == stories.SESSION_ARN
    first = [stories.assume_role_with_source_identity(), *stories.session_calls()]
    import_paths(case, [stories.write_cloudtrail(tmp_path / "3" / "first.json", first)])
    after = actors.actor_chain(cur, call)
    assert after is not None and not after.gap
    assert after.actor == stories.USER_ARN
    assert after.source_identity == stories.SOURCE_IDENTITY
    keys = [h.identity for h in after.hops if h.kind in ("temporary key", "root key")]
    assert keys == [stories.AUDIT_KEY, stories.SESSION_KEY, stories.USER_KEY]
    depth = cur.execute(
        "SELECT depth FROM credential_actor WHERE credential_id = ?", [stories.AUDIT_KEY]
    ).fetchall()
    assert depth == [(2,)]
    # The role owner's copy names only an AWSAccount; sharedEventID ties it to the same human.
    owner = actors.actor_chain(cur, _event_id(cur, "e-hop-owner"))
    assert owner is not None and owner.actor == stories.USER_ARN
    # The column and the pivot agree with an independent query of the identities in the story.
    story = cur.execute(
        "SELECT event_id FROM events WHERE credential_id IN (?, ?, ?) OR event_uid = 'e-hop-owner'",
        [stories.USER_KEY, stories.SESSION_KEY, stories.AUDIT_KEY],
    ).fetchall()
    by_column = cur.execute(
        "SELECT event_id FROM events_actor WHERE actor = ?", [stories.USER_ARN]
    ).fetchall()
    assert sorted(by_column) == sorted(story)
    where, params = actors.actor_filter(cur, stories.USER_ARN)
    by_pivot = cur.execute(f"SELECT event_id FROM events WHERE {where}", params).fetchall()
    assert sorted(by_pivot) == sorted(story)


# -- one address across CloudTrail, VPC flow, Entra, GCP audit and ALB logs ---------------------
def test_one_ip_entity_across_five_sources(tmp_path: Path) -> None:
    ev = tmp_path / "evidence"
    ev.mkdir()
    stories.write_cloudtrail(ev / "cloudtrail.json", [stories.assume_role(), *stories.session_calls()])
    stories.write_flow_log(ev / f"{stories.ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b_20240501T1010Z_a1.log")
    stories.write_entra_signin(ev / "signins.json", FORMATS / "entra_signin" / "signIns-page-1.json")
    stories.write_gcp_audit(ev / "gcp_audit.jsonl", FORMATS / "gcp_audit" / "audit.json")
    stories.write_alb(ev / "alb", ALB_SAMPLE)
    case = CaseFile.create(tmp_path / "ip.caseline")
    import_paths(case, [ev])
    cur = case.cursor()
    pf = pivots.selection_filter(cur, "ip", [stories.ATTACKER_IP])
    truth = cur.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE outcome = 'failure'), min(ts), max(ts),
                   list_sort(list(DISTINCT source_type)), list_sort(list(DISTINCT provider))
            FROM events WHERE {pf.where_sql}""",
        pf.params,
    ).fetchall()[0]
    assert {"cloudtrail", "vpcflow", "entra_signin", "gcp_audit", "elb"} <= set(truth[4])
    row = next(
        r
        for r in pivots.panel_rows(cur, "ip", search=stories.ATTACKER_IP).rows
        if r.entity == stories.ATTACKER_IP
    )
    assert (row.events, row.failures, row.first_seen, row.last_seen) == truth[:4]
    assert (list(row.sources), list(row.clouds)) == (truth[4], truth[5])
    # A time filter with partial hours at both ends gives what counting the events gives.
    start, end = truth[2] + dt.timedelta(minutes=3), truth[3]
    ranged = pivots.panel_rows(cur, "ip", (start, end), search=stories.ATTACKER_IP).rows
    counted = cur.execute(
        f"SELECT count(*) FROM events WHERE ({pf.where_sql}) AND ts >= ? AND ts < ?", [*pf.params, start, end]
    ).fetchall()[0][0]
    assert [r.events for r in ranged if r.entity == stories.ATTACKER_IP] == [counted]


def test_edge_events_are_found_through_the_time_order(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, [stories.write_cloudtrail(tmp_path / "ct.json", stories.session_calls())])
    cur = case.cursor()
    start = dt.datetime(2024, 5, 1, 10, 0, 30, tzinfo=dt.UTC)
    end = dt.datetime(2024, 5, 1, 10, 2, 30, tzinfo=dt.UTC)
    interval = [(panel_query.to_us(start), panel_query.to_us(end))]
    where = panel_query.edge_where(cur, interval)
    assert "event_id BETWEEN" in where
    ids = {r[0] for r in cur.execute(f"SELECT event_id FROM events WHERE {where}").fetchall()}
    by_ts = {
        r[0]
        for r in cur.execute("SELECT event_id FROM events WHERE ts >= ? AND ts < ?", [start, end]).fetchall()
    }
    assert ids == by_ts == {_event_id(cur, "e-desc"), _event_id(cur, "e-run")}
    # A time order that does not cover the events is not used; the answer stays the same.
    cur.execute("UPDATE page_anchors_state SET events = events + 1")
    assert "event_id BETWEEN" not in panel_query.edge_where(cur, interval)
    page = pivots.panel_rows(cur, "action", (start, end))
    counted = cur.execute(
        "SELECT action, count(*) FROM events WHERE ts >= ? AND ts < ? GROUP BY 1", [start, end]
    ).fetchall()
    assert page.exact_from_tables and {r.entity: r.events for r in page.rows} == dict(counted)
