"""Pivots, actor resolution and network attribution against stories whose truth is known."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from unittest import mock

import duckdb
import pytest
from support.sample_case import build_sample_case

from entities import stories
from viewer.core.case_file import CaseFile
from viewer.core.entities import (
    actors,
    api,
    builder,
    cards,
    day_totals,
    network,
    panel_day_query,
    panel_query,
    panel_stats,
    panel_whole_query,
    pivots,
)
from viewer.core.entities.kinds import entity_kind
from viewer.core.event_query import EventFilter, where_sql
from viewer.core.ingest import import_paths

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"


def _event_id(cur: duckdb.DuckDBPyConnection, uid: str) -> int:
    return int(cur.execute("SELECT event_id FROM events WHERE event_uid = ?", [uid]).fetchall()[0][0])


def _import(case: CaseFile, *paths: Path) -> duckdb.DuckDBPyConnection:
    import_paths(case, list(paths))
    cur = case.cursor()
    builder.update(cur)
    actors.create_view(cur)
    return cur


# -- the bundled AWS incident -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, dict]:
    case, truth = build_sample_case(tmp_path_factory.mktemp("sample"))
    cur = case.cursor()
    builder.update(cur)
    actors.create_view(cur)
    return cur, truth


def _leaked(truth: dict) -> tuple[str, str]:
    """(leaked key, its user's ARN) from the truth file."""
    keys = truth["attacker"]["long_term_access_keys"]
    key = next(k for k, why in keys.items() if "leaked" in why)
    user = next(a for a in truth["attacker"]["principal_arns"] if a.endswith(":user/" + keys[key].split()[0]))
    return key, user


def test_temporary_keys_resolve_to_the_leaked_user_across_accounts(sample) -> None:
    cur, truth = sample
    leaked_key, user = _leaked(truth)
    for temp_key, session_arn in truth["attacker"]["temporary_access_keys"].items():
        event = cur.execute(
            "SELECT max(event_id) FROM events WHERE credential_id = ? AND principal_id = ?",
            [temp_key, session_arn],
        ).fetchall()[0][0]
        chain = actors.actor_chain(cur, int(event))
        assert chain is not None
        assert chain.actor == user
        assert chain.gap is False
        assert chain.source_identity == truth["attacker"]["source_identity"]
        assert chain.hops[-1].identity == leaked_key and chain.hops[-1].kind == "root key"
    # The dev-account key was issued in another account's session: two issuing hops.
    dev_key = next(
        k for k, arn in truth["attacker"]["temporary_access_keys"].items() if ":333333333333:" in arn
    )
    depth = cur.execute("SELECT depth FROM credential_actor WHERE credential_id = ?", [dev_key]).fetchall()
    assert depth == [(2,)]
    # Each temporary key's root is the leaked key; the leaked key (no issuing record) is its own.
    roots = cur.execute(
        "SELECT credential_id, root_credential FROM credential_actor WHERE credential_id IN (SELECT unnest(?))",
        [[leaked_key, *truth["attacker"]["temporary_access_keys"]]],
    ).fetchall()
    assert sorted(roots) == sorted(
        (k, leaked_key) for k in [leaked_key, *truth["attacker"]["temporary_access_keys"]]
    )


def test_role_owner_copy_of_cross_account_assume_role_has_the_same_actor(sample) -> None:
    cur, truth = sample
    _, user = _leaked(truth)
    for shared in truth["cross_account_assume_role"]:
        for record in shared["records"]:
            chain = actors.actor_chain(cur, _event_id(cur, record["eventID"]))
            assert chain is not None and chain.actor == user, record


def test_event_actor_view_and_actor_pivot_cover_every_attacker_identity(sample) -> None:
    cur, truth = sample
    _, user = _leaked(truth)
    temp = list(truth["attacker"]["temporary_access_keys"])
    via_view = cur.execute(
        "SELECT count(*) FROM events e JOIN event_actor a USING (event_id) "
        "WHERE e.credential_id IN (SELECT unnest(?::VARCHAR[])) AND a.actor = ?",
        [temp, user],
    ).fetchall()[0][0]
    direct = cur.execute(
        "SELECT count(*) FROM events WHERE credential_id IN (SELECT unnest(?::VARCHAR[]))", [temp]
    ).fetchall()[0][0]
    assert via_view == direct > 0
    where, params = actors.actor_filter(cur, user)
    principals = {
        r[0]
        for r in cur.execute(f"SELECT DISTINCT principal_id FROM events WHERE {where}", params).fetchall()
    }
    sessions = set(truth["attacker"]["temporary_access_keys"].values())
    assert sessions | {user} <= principals
    # The created backup-admin user is not ci-deploy: its key's creator is provenance only.
    assert truth["exfiltration"]["principal_arn"] not in principals


def test_key_created_by_attacker_shows_its_creator(sample) -> None:
    cur, truth = sample
    backup_key = next(k for k, why in truth["attacker"]["long_term_access_keys"].items() if "created" in why)
    event = cur.execute("SELECT max(event_id) FROM events WHERE credential_id = ?", [backup_key]).fetchall()[
        0
    ][0]
    chain = actors.actor_chain(cur, int(event))
    assert chain is not None and chain.actor == truth["exfiltration"]["principal_arn"]
    created = [h for h in chain.hops if h.kind == "key created by"]
    admin_session = next(
        a for a in truth["attacker"]["temporary_access_keys"].values() if ":111111111111:" in a
    )
    assert [h.identity for h in created] == [admin_session]


@pytest.mark.parametrize("kind", ["principal", "ip", "credential", "target_id", "user_agent", "action"])
def test_panels_from_tables_equal_counting_the_events(sample, kind: str) -> None:
    cur, truth = sample
    first = dt.datetime.fromisoformat(truth["time_range"]["first_event"])
    ranges = [
        None,
        (first + dt.timedelta(minutes=17), first + dt.timedelta(days=2, minutes=41)),  # partial edge hours
        (first + dt.timedelta(hours=5), first + dt.timedelta(hours=5, minutes=20)),  # inside one hour
    ]
    for time_range in ranges:
        fast = pivots.panel_rows(cur, kind, time_range, limit=10_000)
        with mock.patch.object(builder, "is_ready", return_value=False):
            slow = pivots.panel_rows(cur, kind, time_range, limit=10_000)
        assert fast.exact_from_tables and not slow.exact_from_tables
        assert fast.rows == slow.rows and fast.total_entities == slow.total_entities > 0


def _ranges_around(cur: duckdb.DuckDBPyConnection) -> list[tuple[dt.datetime, dt.datetime]]:
    """Time filters of every shape the range readers split on: crossing midnight and hours,
    aligned on whole days, empty (before the first event, and between two events), holding one
    event, and the middle of the case (entities living inside it next to entities straddling
    its ends)."""
    (first, last), *_ = cur.execute("SELECT min(ts), max(ts) FROM events").fetchall()
    one = cur.execute("SELECT ts FROM events ORDER BY ts LIMIT 1 OFFSET 37").fetchall()[0][0]
    gap = cur.execute(
        """SELECT ts, next FROM (SELECT ts, lead(ts) OVER (ORDER BY ts) AS next FROM events)
           WHERE next - ts > INTERVAL 2 SECOND ORDER BY ts LIMIT 1"""
    ).fetchall()[0]
    midnight = first.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    middle = first + (last - first) / 2
    us = dt.timedelta(microseconds=1)
    return [
        (midnight - dt.timedelta(hours=3, minutes=7), midnight + dt.timedelta(hours=2, minutes=11)),
        (midnight - dt.timedelta(days=1), midnight + dt.timedelta(days=1)),
        (midnight - dt.timedelta(minutes=9), midnight + dt.timedelta(days=1, minutes=13)),
        (first - dt.timedelta(days=2), first - dt.timedelta(days=1)),
        (gap[0] + us, gap[1]),
        (one, one + us),
        (middle - dt.timedelta(hours=1, minutes=30), middle + dt.timedelta(hours=1, minutes=30)),
        (first, last + us),
    ]


@pytest.mark.parametrize("kind", ["credential", "session", "ip", "principal", "action"])
@pytest.mark.parametrize("way", ["sum every entity", "split, straddlers listed", "split, too many listed"])
def test_range_panels_equal_counting_the_events_at_every_boundary(sample, kind: str, way: str) -> None:
    cur, _ = sample
    ranges = _ranges_around(cur)
    totals = {}
    # The reader picks its way by the sizes of the kind's tables; each is forced here.
    split_ratio = 0 if way == "sum every entity" else 10**9
    listed = 0 if way == "split, too many listed" else 4096
    with (
        mock.patch.object(panel_query, "SPLIT_RATIO", split_ratio),
        mock.patch.object(panel_query, "MAX_LISTED_STRADDLING", listed),
    ):
        _compare_ranges(cur, kind, ranges, totals)
    assert totals[ranges[3], ""] == totals[ranges[4], ""] == 0 and totals[ranges[5], ""] <= 1
    assert totals[ranges[-1], ""] > totals[ranges[-2], ""] > 0


@pytest.mark.parametrize("kind", ["credential", "session", "ip", "principal", "action"])
def test_range_panels_through_day_grids_equal_counting_the_events(sample, kind: str) -> None:
    """The sample's kinds are too small for a day grid: built here for every kind, read for
    every range holding a whole day (the reader's own rule wants more), then dropped again."""
    cur, _ = sample
    (first, last), *_ = cur.execute("SELECT min(ts), max(ts) FROM events").fetchall()
    midnight = first.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    just_inside = (midnight + dt.timedelta(minutes=7), midnight + dt.timedelta(days=1, hours=23, minutes=50))
    beyond = (first - dt.timedelta(days=3), last + dt.timedelta(days=3))
    ranges = [*_ranges_around(cur), just_inside, beyond]  # whole days minus a few minutes at each end
    events = cur.execute("SELECT events FROM entity_state").fetchall()[0][0]
    with mock.patch.multiple(
        day_totals, MIN_ENTITIES=0, MIN_ROLLUP_ROWS=0, MAX_CELLS_PER_ROLLUP_ROW=float("inf")
    ):
        day_totals.update(cur, day_totals.stale_kinds(cur), {}, events)
    assert day_totals.current_kinds(cur)
    used, seen = [], []
    real, real_seen = day_totals.whole_days_sql, day_totals.seen_days_sql
    try:
        with (
            mock.patch.object(day_totals, "whole_days_sql", lambda *a: used.append(a) or real(*a)),
            mock.patch.object(day_totals, "seen_days_sql", lambda *a: seen.append(a) or real_seen(*a)),
            mock.patch.object(panel_day_query, "MIN_WHOLE_DAYS", 1),
        ):
            totals: dict = {}
            _compare_ranges(cur, kind, ranges, totals)
    finally:
        cur.execute("DELETE FROM entity_day_cum")
        cur.execute("DELETE FROM entity_day_state")
    assert len(used) >= 3  # the ranges holding whole days went through the grid
    assert seen  # and first/last seen and sources of their whole days came from its day fields
    assert totals[beyond, ""] == totals[ranges[-3], ""] >= totals[just_inside, ""] > 0


def test_day_grid_kept_per_import_equals_summing_the_rollup(sample) -> None:
    """Imports arriving in any day order (middle days, then later ones, then earlier ones than
    the grid's first day) leave the grid equal to running sums computed in SQL from the rollup,
    and each row's day fields to the day before it."""
    cur, _ = sample
    day = day_totals.DAY_US
    got = cur.execute(
        f"""SELECT k, hour_us // {day} AS day, sum(n)::BIGINT AS n, sum(n_fail)::BIGINT AS n_fail,
                   min(first_us) AS first_us, max(first_us + span_us) AS last_us, bit_or(sources) AS sources
            FROM entity_rollup WHERE kind = 'ip' GROUP BY ALL"""
    ).fetchnumpy()
    k, days, counts = day_totals._as_deltas(got)
    lo, hi = int(days.min()), int(days.max())
    assert hi - lo >= 2
    middle = (days > lo) & (days < hi)
    events = cur.execute("SELECT events FROM entity_state").fetchall()[0][0]
    try:
        with mock.patch.multiple(
            day_totals, MIN_ENTITIES=0, MIN_ROLLUP_ROWS=0, MAX_CELLS_PER_ROLLUP_ROW=float("inf")
        ):
            # The first import's grid (built from its own counts), then two more imports.
            day_totals._write(
                cur, "ip", day_totals._merged(None, (k[middle], days[middle], counts[middle])), events
            )
            for part in (days == hi, days == lo):
                day_totals.update(cur, ["ip"], {"ip": (k[part], days[part], counts[part])}, events)
        grid = cur.execute(
            "SELECT day_us, k, n, n_fail, first_us, last_us, sources FROM entity_day_cum WHERE kind = 'ip' ORDER BY ALL"
        ).fetchall()
        first, slices = cur.execute(
            "SELECT first_day_us, days FROM entity_day_state WHERE kind = 'ip'"
        ).fetchall()[0]
    finally:
        cur.execute("DELETE FROM entity_day_cum")
        cur.execute("DELETE FROM entity_day_state")
    before = f"r.hour_us >= d.day_us - {day} AND r.hour_us < d.day_us"
    truth = cur.execute(
        f"""SELECT d.day_us, r.k, (sum(r.n) FILTER (WHERE r.hour_us < d.day_us))::BIGINT,
                   (sum(r.n_fail) FILTER (WHERE r.hour_us < d.day_us))::BIGINT,
                   min(r.first_us) FILTER (WHERE {before}), max(r.first_us + r.span_us) FILTER (WHERE {before}),
                   coalesce(bit_or(r.sources) FILTER (WHERE {before}), 0)
            FROM entity_rollup r, (SELECT unnest(range({lo * day}, {(hi + 2) * day}, {day})) AS day_us) d
            WHERE r.kind = 'ip' GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    assert (first, slices) == (lo * day, hi - lo + 2)
    assert grid == [(d, key, n or 0, f or 0, *rest) for d, key, n, f, *rest in truth]


def _compare_ranges(cur: duckdb.DuckDBPyConnection, kind: str, ranges: list, totals: dict) -> None:
    for time_range in ranges:
        for search, sort, descending in (
            ("", "events", True),
            ("a", "first_seen", False),
            ("", "entity", True),
        ):
            args = (cur, kind, time_range, search, sort, descending, 4, 1)
            fast = pivots.panel_rows(*args)
            with mock.patch.object(builder, "is_ready", return_value=False):
                slow = pivots.panel_rows(*args)
            assert fast.exact_from_tables and not slow.exact_from_tables
            assert fast.rows == slow.rows and fast.total_entities == slow.total_entities, (time_range, sort)
            totals[time_range, search] = fast.total_entities


def test_exfiltration_ip_panel_and_filters_agree_with_the_truth(sample) -> None:
    cur, truth = sample
    exfil = truth["exfiltration"]
    page = pivots.panel_rows(cur, "ip", search=exfil["source_ip"])
    row = next(r for r in page.rows if r.entity == exfil["source_ip"])
    start = dt.datetime.fromisoformat(exfil["first_get_object"])
    end = dt.datetime.fromisoformat(exfil["last_get_object"]) + dt.timedelta(seconds=1)
    # Between its first and last GetObject the exfiltration address did nothing else.
    during = pivots.panel_rows(cur, "ip", (start, end), search=exfil["source_ip"]).rows
    assert [r.events for r in during if r.entity == exfil["source_ip"]] == [exfil["get_object_count"]]
    pf = pivots.selection_filter(cur, "ip", [exfil["source_ip"]])
    total = cur.execute(f"SELECT count(*) FROM events WHERE {pf.where_sql}", pf.params).fetchall()[0][0]
    assert row.events == total and row.first_seen is not None
    card = cards.ip_card(cur, exfil["source_ip"])
    assert [p["value"] for p in card["principals"]] == [exfil["principal_arn"]]


def test_filter_text_selects_what_the_sql_selects(sample) -> None:
    cur, truth = sample
    leaked_key, user = _leaked(truth)
    for kind, value in (("credential", leaked_key), ("principal", user)):
        pf = pivots.selection_filter(cur, kind, [value])
        assert pf.filter_text is not None
        text_sql, params = where_sql(EventFilter(text=pf.filter_text))
        by_text = cur.execute(f"SELECT count(*) FROM events WHERE {text_sql}", params).fetchall()[0][0]
        by_sql = cur.execute(f"SELECT count(*) FROM events WHERE {pf.where_sql}", pf.params).fetchall()[0][0]
        assert by_text == by_sql > 0


def test_pivot_report_accepts_a_typed_name(sample) -> None:
    cur, truth = sample
    _, user = _leaked(truth)
    report = api.pivot_report(cur, "principal", user.rsplit("/", 1)[1])
    assert report["matches"] == [user]
    assert report["actor"] == user
    identities = set(report["actor_activity"]["identities"])
    assert set(truth["attacker"]["temporary_access_keys"].values()) <= identities
    json.dumps(report)  # the CLI prints it as JSON


# -- out of order ------------------------------------------------------------------------------
def test_assume_role_arriving_later_relinks_earlier_events(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "late.caseline")
    uses = stories.write_cloudtrail(tmp_path / "a" / "uses.json", stories.session_calls())
    cur = _import(case, uses)
    run = _event_id(cur, "e-run")
    before = actors.actor_chain(cur, run)
    assert before is not None and before.gap and before.actor == stories.SESSION_ARN
    issuing = stories.write_cloudtrail(tmp_path / "b" / "assume.json", [stories.assume_role()])
    cur = _import(case, issuing)
    after = actors.actor_chain(cur, run)
    assert after is not None and not after.gap and after.actor == stories.USER_ARN
    assert cur.execute("SELECT actor FROM event_actor WHERE event_id = ?", [run]).fetchall() == [
        (stories.USER_ARN,)
    ]


def test_issuing_record_after_its_uses_in_one_file(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "one.caseline")
    records = [*stories.session_calls(), stories.assume_role()]  # the AssumeRole is last in the file
    cur = _import(case, stories.write_cloudtrail(tmp_path / "ct.json", records))
    chain = actors.actor_chain(cur, _event_id(cur, "e-desc"))
    assert chain is not None and chain.actor == stories.USER_ARN and not chain.gap


# -- network and other clouds ------------------------------------------------------------------
@pytest.fixture()
def network_case(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    ev = tmp_path / "evidence"
    ev.mkdir()
    stories.write_cloudtrail(ev / "cloudtrail.json", [stories.assume_role(), *stories.session_calls()])
    stories.write_flow_log(ev / f"{stories.ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b_20240501T1010Z_a1.log")
    stories.write_guardduty(ev / "finding.json", FORMATS / "aws_guardduty_finding" / "finding.json")
    stories.write_entra_signin(ev / "signins.json", FORMATS / "entra_signin" / "signIns-page-1.json")
    case = CaseFile.create(tmp_path / "net.caseline")
    cur = _import(case, ev)
    sources = {r[0] for r in cur.execute("SELECT DISTINCT source_type FROM events").fetchall()}
    assert {"cloudtrail", "vpcflow", "guardduty", "entra_signin"} <= sources
    return cur


def test_flow_record_shows_instance_and_who_launched_it(network_case) -> None:
    cur = network_case
    flow = cur.execute(
        "SELECT event_id FROM events WHERE source_type = 'vpcflow' AND dst_ip = ?", [stories.EXFIL_DEST]
    ).fetchall()[0][0]
    found = network.attribute_event(cur, int(flow))
    assert found and found[0].instance_id == stories.INSTANCE and found[0].eni == stories.ENI
    assert found[0].launched_by == stories.SESSION_ARN
    assert found[0].launched_by_actor == stories.USER_ARN
    at = dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC)
    by_public = network.instance_for_ip(cur, stories.PUBLIC_IP, at)
    assert by_public is not None and by_public.instance_id == stories.INSTANCE
    assert network.instance_for_ip(cur, stories.PRIVATE_IP, dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC)) is None


def test_guardduty_finding_links_instance_addresses(network_case) -> None:
    cur = network_case
    finding = cur.execute("SELECT event_id FROM events WHERE source_type = 'guardduty'").fetchall()[0][0]
    links = network.finding_links(cur, int(finding))
    assert links["instance"] == [stories.INSTANCE]
    assert links["eni"] == [stories.ENI]
    assert {stories.PRIVATE_IP, stories.PUBLIC_IP} <= set(links["ip"])


def test_ip_panel_lists_addresses_not_the_services_named_as_source(sample) -> None:
    """CloudTrail's sourceIPAddress names the service for calls AWS services make; the sample
    case has them (AWS Config's), and the IP panel lists addresses only."""
    cur, _ = sample
    named = cur.execute(
        "SELECT count(DISTINCT src_ip) FROM events WHERE ends_with(src_ip, '.amazonaws.com')"
    ).fetchall()[0][0]
    assert named > 0
    entities = [r.entity for r in pivots.panel_rows(cur, "ip", limit=10_000).rows]
    assert len(entities) > 100
    assert all(e[0].isdigit() or ":" in e for e in entities)
    assert api.resolve(cur, "ip", "config.amazonaws.com") == []


def test_one_ip_entity_across_sources_and_spellings(network_case) -> None:
    cur = network_case
    row = next(
        r
        for r in pivots.panel_rows(cur, "ip", search=stories.ATTACKER_IP).rows
        if r.entity == stories.ATTACKER_IP
    )
    assert {"cloudtrail", "vpcflow", "entra_signin"} <= set(row.sources)
    assert {"aws", "azure"} <= set(row.clouds)
    pf = pivots.selection_filter(cur, "ip", [f"::ffff:{stories.ATTACKER_IP}"])
    stored = {
        r[0]
        for r in cur.execute(
            f"SELECT coalesce(src_ip, '') || '|' || coalesce(dst_ip, '') FROM events WHERE {pf.where_sql}",
            pf.params,
        ).fetchall()
    }
    assert any(f"::ffff:{stories.ATTACKER_IP}" in s for s in stored)
    assert (
        row.events
        == cur.execute(f"SELECT count(*) FROM events WHERE {pf.where_sql}", pf.params).fetchall()[0][0]
    )
    card = cards.ip_card(cur, stories.EXFIL_DEST)
    assert [(f["direction"], f["bytes"]) for f in card["flows"]] == [("in", stories.EXFIL_BYTES)]


def test_gcp_delegation_chain_names_the_original_authority(tmp_path: Path) -> None:
    sample = FORMATS / "gcp_audit" / "audit.json"
    case = CaseFile.create(tmp_path / "gcp.caseline")
    cur = _import(case, sample)
    text = json.loads(sample.read_text())
    entries = text if isinstance(text, list) else text.get("entries", [text])
    delegated = [
        e
        for e in entries
        if e.get("protoPayload", {}).get("authenticationInfo", {}).get("serviceAccountDelegationInfo")
    ]
    assert delegated, "the bundled GCP sample has an impersonated call"
    entry = delegated[0]
    authorities = entry["protoPayload"]["authenticationInfo"]["serviceAccountDelegationInfo"]
    original = authorities[0]["firstPartyPrincipal"]["principalEmail"]
    chain = actors.actor_chain(cur, _event_id(cur, entry["insertId"]))
    assert chain is not None and chain.actor == original
    assert chain.hops[0].identity == entry["protoPayload"]["authenticationInfo"]["principalEmail"]


def test_incremental_update_equals_a_full_rebuild(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "inc.caseline")
    grids = mock.patch.multiple(
        day_totals, MIN_ENTITIES=0, MIN_ROLLUP_ROWS=0, MAX_CELLS_PER_ROLLUP_ROW=float("inf")
    )  # day grids for every kind, kept per import
    grids.start()
    _import(case, stories.write_cloudtrail(tmp_path / "a" / "uses.json", stories.session_calls()))
    cur = _import(case, stories.write_cloudtrail(tmp_path / "b" / "assume.json", [stories.assume_role()]))
    tables = (
        "entity_totals",
        "entity_kinds",
        "entity_sources",
        "credential_actor",
        "net_binding",
        "instance_launch",
        "entity_day_cum",
        "entity_day_state",
    )

    def snapshot() -> dict[str, list[tuple]]:
        return {t: sorted(cur.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}

    incremental = snapshot()
    assert builder.is_ready(cur)
    cur.execute("DELETE FROM entity_state")  # forget the mark: the next update rebuilds everything
    assert not builder.is_ready(cur)
    builder.update(cur)
    grids.stop()
    assert snapshot() == incremental
    assert incremental["instance_launch"] and incremental["net_binding"] and incremental["entity_day_cum"]


@pytest.mark.parametrize("sort", sorted(pivots.SORT_KEYS))
@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("ties", ["read by threshold", "sorted in SQL"])
def test_every_sort_and_page_equals_counting_the_events(
    sample, sort: str, descending: bool, ties: str
) -> None:
    """Whole-case pages are read by a threshold on the sort column unless too many rows tie
    with the page's last (then sorted in SQL): each way is forced here."""
    cur, truth = sample
    first = dt.datetime.fromisoformat(truth["time_range"]["first_event"])
    time_range = (first + dt.timedelta(minutes=17), first + dt.timedelta(days=2, minutes=41))
    tied = -(10**6) if ties == "sorted in SQL" else panel_whole_query.MAX_TIED_ROWS
    with mock.patch.object(panel_whole_query, "MAX_TIED_ROWS", tied):
        for kind in ("principal", "ip", "action", "credential", "session"):
            for window in (None, time_range):
                for offset in (0, 2):
                    args = (cur, kind, window, "", sort, descending, 3, offset)
                    fast = pivots.panel_rows(*args)
                    with mock.patch.object(builder, "is_ready", return_value=False):
                        slow = pivots.panel_rows(*args)
                    assert fast.rows == slow.rows and fast.total_entities == slow.total_entities, (
                        kind,
                        window,
                    )


def test_a_day_grid_is_not_built_far_larger_than_the_rollup_it_sums(sample) -> None:
    """Short-lived entities would give a grid row per entity and day: a kind qualifies only when
    its grid stays within MAX_CELLS_PER_ROLLUP_ROW of its hourly rollup rows."""
    cur, _ = sample
    rows = cur.execute(
        f"""SELECT t.kind, t.n * (max_last // {day_totals.DAY_US} - min_first // {day_totals.DAY_US} + 2), r.n
            FROM (SELECT kind, count(*) AS n, min(first_us) AS min_first, max(last_us) AS max_last
                  FROM entity_totals GROUP BY kind) t
            JOIN (SELECT kind, count(*) AS n FROM entity_rollup GROUP BY kind) r USING (kind)"""
    ).fetchall()
    verdicts = set()
    with mock.patch.multiple(day_totals, MIN_ENTITIES=0, MIN_ROLLUP_ROWS=0):
        for kind, cells, rollup_rows in rows:
            expected = cells <= day_totals.MAX_CELLS_PER_ROLLUP_ROW * rollup_rows
            assert day_totals.qualifies(cur, kind) == expected, kind
            verdicts.add(expected)
    assert verdicts == {True, False}  # the sample has kinds on both sides of the rule
    # A rollup small enough to sum within the panels' budget gets no grid, whatever its cells.
    largest = max(rollup_rows for _, _, rollup_rows in rows)
    with mock.patch.multiple(day_totals, MIN_ENTITIES=0, MIN_ROLLUP_ROWS=largest + 1):
        assert not any(day_totals.qualifies(cur, kind) for kind, _, _ in rows)


def test_first_seen_bound_skips_entities_and_keeps_range_panels_exact(sample) -> None:
    """Range readers look only at entities first seen within the kind's longest life before the
    range (`kind_bounds`): for the sample's sessions (6 hours at most, in 5 days) that leaves out
    entities, and every range (day and hour boundaries, empty) still equals counting the events."""
    cur, _ = sample
    kind = "session_id"
    entities, life = panel_stats.kind_bounds(cur, entity_kind(kind))
    assert (entities, life) == tuple(
        cur.execute(
            "SELECT count(*), max(last_us - first_us) FROM entity_totals WHERE kind = ?", [kind]
        ).fetchall()[0]
    )
    ranges = _ranges_around(cur)
    skipped = sum(
        cur.execute(
            "SELECT count(*) FROM entity_totals WHERE kind = ? AND first_us < ?",
            [kind, panel_query.to_us(start) - life],
        ).fetchall()[0][0]
        for start, _ in ranges
    )
    assert skipped > 0
    for split_ratio in (0, 10**9):  # summing every entity of the range, and the split
        with mock.patch.object(panel_query, "SPLIT_RATIO", split_ratio):
            _compare_ranges(cur, kind, ranges, {})


def test_imports_of_one_source_each_name_their_sources(tmp_path: Path) -> None:
    """An import of a single source gives its events one constant source bit (no per-row test);
    imported one source at a time, the panels name the sources counting the events does."""
    case = CaseFile.create(tmp_path / "one_by_one.caseline")
    ev = tmp_path / "evidence"
    for folder in ("ct", "flow", "entra"):
        (ev / folder).mkdir(parents=True)
    paths = [
        stories.write_cloudtrail(
            ev / "ct" / "cloudtrail.json", [stories.assume_role(), *stories.session_calls()]
        ),
        stories.write_flow_log(
            ev / "flow" / f"{stories.ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b_20240501T1010Z_a1.log"
        ),
        stories.write_entra_signin(
            ev / "entra" / "signins.json", FORMATS / "entra_signin" / "signIns-page-1.json"
        ),
    ]
    for path in paths:
        cur = _import(case, path)
    assert cur.execute("SELECT count(*) FROM entity_sources").fetchall()[0][0] >= 3
    for kind in ("ip", "principal", "action", "credential"):
        fast = pivots.panel_rows(cur, kind, limit=10_000)
        with mock.patch.object(builder, "is_ready", return_value=False):
            slow = pivots.panel_rows(cur, kind, limit=10_000)
        assert (
            fast.exact_from_tables and fast.rows == slow.rows and fast.total_entities == slow.total_entities
        )
    ip = next(
        r
        for r in pivots.panel_rows(cur, "ip", search=stories.ATTACKER_IP).rows
        if r.entity == stories.ATTACKER_IP
    )
    assert {"cloudtrail", "vpcflow", "entra_signin"} <= set(ip.sources)


def test_tables_of_an_older_build_are_not_read(tmp_path: Path) -> None:
    """A case whose entity tables another version built (read-only: nothing rebuilds them) gets
    its panels counted from the events, as if the tables were missing."""
    case = CaseFile.create(tmp_path / "older.caseline")
    cur = _import(case, *sorted((FORMATS / "aws_cloudtrail").glob("*.json.gz")))
    current = pivots.panel_rows(cur, "ip", limit=1000)
    assert builder.is_ready(cur) and current.exact_from_tables and current.rows
    cur.execute("UPDATE case_meta SET value = '3' WHERE key = 'derived:entities'")
    assert not builder.is_ready(cur)
    older = pivots.panel_rows(cur, "ip", limit=1000)
    assert not older.exact_from_tables
    assert older.rows == current.rows
