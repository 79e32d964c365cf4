"""Each import recomputes the actor of only the keys its events can change (a new issuing record
or new uses of a key of their chain): after every import, in several orders, the actor tables
equal a rebuild from scratch, including a root key whose representative user changes, keys that
issue each other (bad data) and keys the import does not touch."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from entities import stories
from entities.actor_tables import actor_tables, rebuilt_actor_tables
from viewer.core.case_file import CaseFile
from viewer.core.entities import builder, identity_build
from viewer.core.ingest import import_paths

OTHER_KEY = "AKIAOTHERUSER000001"
LOOP_A, LOOP_B = "ASIALOOPKEY00000001", "ASIALOOPKEY00000002"


def _who(key: str, name: str) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper()}",
        "arn": f"arn:aws:iam::{stories.ACCOUNT}:user/{name}",
        "accountId": stories.ACCOUNT,
        "accessKeyId": key,
        "userName": name,
    }


def _assume(uid: str, caller_key: str, new_key: str) -> dict[str, Any]:
    return stories.ct(
        uid,
        "2024-05-01T11:00:00Z",
        _who(caller_key, "looper"),
        "sts.amazonaws.com",
        "AssumeRole",
        params={"roleArn": stories.ROLE_ARN, "roleSessionName": uid},
        response={"credentials": {"accessKeyId": new_key, "expiration": "May 1, 2024, 12:00:00 PM"}},
    )


def _calls(prefix: str, key: str, name: str, count: int) -> list[dict[str, Any]]:
    return [
        stories.ct(
            f"{prefix}-{i}", f"2024-05-01T12:0{i}:00Z", _who(key, name), "s3.amazonaws.com", "ListBuckets"
        )
        for i in range(count)
    ]


BATCHES: dict[str, list[dict[str, Any]]] = {
    "audit": stories.audit_session_calls(),
    "hop": stories.cross_account_assume(),
    "assume": [stories.assume_role_with_source_identity()],
    "session": stories.session_calls(),
    "other": _calls("e-other", OTHER_KEY, "bystander", 2),
    # The user's key, used more often by someone else: the root's representative user changes.
    "takeover": _calls("e-take", stories.USER_KEY, "intruder", 3),
    "loop": [_assume("e-loop-a", LOOP_B, LOOP_A), _assume("e-loop-b", LOOP_A, LOOP_B)],
}
ORDERS = [
    ["audit", "hop", "assume", "session", "other", "takeover", "loop"],
    ["takeover", "loop", "other", "session", "assume", "hop", "audit"],
    ["session", "audit", "takeover", "hop", "loop", "assume", "other"],
]


@pytest.mark.parametrize("order", ORDERS, ids=["story", "reversed", "mixed"])
def test_actor_tables_after_each_import_equal_a_rebuild(tmp_path: Path, order: list[str]) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    cur = case.cursor()
    partial = mock.patch.object(identity_build, "_affected_keys", wraps=identity_build._affected_keys)
    with partial as affected:
        for i, name in enumerate(order):
            import_paths(case, [stories.write_cloudtrail(tmp_path / str(i) / f"{name}.json", BATCHES[name])])
            assert builder.has_actor_tables(cur)
            assert actor_tables(cur) == rebuilt_actor_tables(cur), f"after importing {order[: i + 1]}"
    assert affected.call_count == len(order) - 1  # every import after the first, key by key
    actors = dict(cur.execute("SELECT credential_id, actor FROM credential_actor").fetchall())
    # the intruder uses the user's key most: the chain below it ends at the intruder
    intruder = f"arn:aws:iam::{stories.ACCOUNT}:user/intruder"
    assert actors[stories.USER_KEY] == actors[stories.SESSION_KEY] == actors[stories.AUDIT_KEY] == intruder
    assert actors[OTHER_KEY].endswith("user/bystander")
    assert {LOOP_A, LOOP_B} <= set(actors)
