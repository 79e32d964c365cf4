"""Events without a principal in the actor-chain pane: a flow record shows the instance behind it
and who launched it (network attribution), a GuardDuty finding what it names. Expected values come
from the story's constants and from SQL written here."""

from __future__ import annotations

from entities import stories

from ..conftest import WAIT_MS
from .test_pivot_panels import _window


def _rows(feature) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    tree = feature.chain.tree
    return [
        (tree.topLevelItem(i).text(0), tree.topLevelItem(i).text(1), tree.topLevelItem(i).data(0, 256))
        for i in range(tree.topLevelItemCount())
    ]


def test_a_flow_record_names_its_instance_and_the_human_who_launched_it(
    qtbot, settings, pivot_case, pivot_sql
):  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    [(flow_id,)] = pivot_sql.execute(
        "SELECT event_id FROM events WHERE source_type = 'vpcflow' AND src_ip = ? AND dst_ip = ?",
        [stories.ATTACKER_IP, stories.PRIVATE_IP],
    ).fetchall()
    # RunInstances was called by the assumed-role session; its actor is the CI user behind it.
    [(launcher,)] = pivot_sql.execute(
        "SELECT principal_id FROM events WHERE action = 'RunInstances' AND contains(raw::VARCHAR, ?)",
        [stories.INSTANCE],
    ).fetchall()
    with qtbot.waitSignal(feature.chain.networkShown, timeout=WAIT_MS) as blocker:
        win.detail.show_event(win.session.cursor, flow_id)
    network = blocker.args[0]
    assert [a.instance_id for a in network.attributions][:1] == [stories.INSTANCE]
    rows = _rows(feature)
    assert (stories.ENI, "target_id") in [(v, f) for v, _how, f in rows]
    assert (stories.INSTANCE, "target_id") in [(v, f) for v, _how, f in rows]
    assert (launcher, "launched the instance (RunInstances)", "principal_id") in rows
    assert launcher == stories.SESSION_ARN
    assert feature.chain.actor_label.text() == f"Actor: {stories.USER_ARN} (launched {stories.INSTANCE})"
    # The actions act on the human behind the launch.
    assert feature.chain.everything_button.isEnabled() and feature.chain.chain.actor == stories.USER_ARN


def test_a_finding_lists_what_it_names(qtbot, settings, pivot_case, pivot_sql):  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    [(finding_id,)] = pivot_sql.execute(
        "SELECT event_id FROM events WHERE source_type = 'guardduty' AND cloud_account = ?", [stories.ACCOUNT]
    ).fetchall()
    named = {
        r[0]
        for r in pivot_sql.execute(
            "SELECT DISTINCT value FROM finding_link WHERE event_id = ?", [finding_id]
        ).fetchall()
    }
    with qtbot.waitSignal(feature.chain.networkShown, timeout=WAIT_MS) as blocker:
        win.detail.show_event(win.session.cursor, finding_id)
    assert blocker.args[0].links
    shown = {v for v, _how, _f in _rows(feature)}
    assert named and named <= shown and stories.INSTANCE in shown


def test_an_event_with_a_principal_keeps_its_identity_chain(qtbot, settings, pivot_case, pivot_sql):  # type: ignore[no-untyped-def]
    win, feature = _window(qtbot, settings, pivot_case[0])
    [(ev,)] = pivot_sql.execute(
        "SELECT max(event_id) FROM events WHERE principal_id = ?", [stories.SESSION_ARN]
    ).fetchall()
    with qtbot.waitSignal(feature.chain.chainShown, timeout=WAIT_MS) as blocker:
        win.detail.show_event(win.session.cursor, ev)
    assert blocker.args[0].actor == stories.USER_ARN
    rows = _rows(feature)
    assert rows[0][0] == stories.SESSION_ARN
    # The chain's last key reads as what it is, not "root" (which means the root user in AWS).
    assert (stories.USER_KEY, "long-term access key") in [(v, how) for v, how, _f in rows]
