"""Entra object ids and the names an analyst knows: Azure Activity names its caller by object id
(the `oid` claim), Entra sign-ins carry the same id as `userId` beside the UPN. The names are
kept per import from the new sign-ins only (`identity_build.entra_user_name`), so across
imports in any order the actor tables equal a rebuild from scratch, the latest sign-in's UPN
names the id, and a token seen in Azure Activity resolves to that UPN."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from entities.actor_tables import actor_tables, rebuilt_actor_tables
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"
OID = "c0c0c0c0-0000-4000-8000-00000000c0c0"  # the caller of the bundled Azure Activity record
OTHER_OID = "d1d1d1d1-0000-4000-8000-00000000d1d1"


def _graph_page(path: Path, signins: list[tuple[str, str, str, str]]) -> Path:
    """A Graph API page of sign-ins (id, time, userId, UPN), from the bundled one."""
    page = json.loads((FORMATS / "entra_signin" / "signIns-page-1.json").read_text())
    template = page["value"][0]
    page["value"] = [
        {**copy.deepcopy(template), "id": sid, "createdDateTime": at, "userId": uid, "userPrincipalName": upn}
        for sid, at, uid, upn in signins
    ]
    page.pop("@odata.nextLink", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(page))
    return path


def _diagnostic(path: Path, sid: str, at: str, uid: str, upn: str) -> Path:
    """One sign-in in the diagnostic-settings shape (`properties.userId`), from the bundled one."""
    doc = json.loads((FORMATS / "entra_signin_records" / "signin-eventhub-capture.json").read_text())
    record = doc["records"][0]
    record["time"] = at
    record["properties"].update({"id": sid, "createdDateTime": at, "userId": uid, "userPrincipalName": upn})
    doc["records"] = [record]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _activity(path: Path) -> Path:
    """The bundled Azure Activity records: the first is a call by OID with a token (`uti`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((FORMATS / "azure_activity_records" / "activity-eventhub-capture.json").read_text())
    return path


BATCHES: dict[str, Any] = {
    "graph": lambda p: _graph_page(
        p / "graph.json",
        [
            ("s-1", "2024-05-03T09:00:00Z", OID, "carol@contoso.example"),
            ("s-2", "2024-05-03T09:05:00Z", OTHER_OID, "dave@contoso.example"),
        ],
    ),
    "activity": _activity,
    # The same object id signs in later under a new UPN (a rename), in the other shape.
    "renamed": lambda p: _diagnostic(
        p / "diag.json", "s-3", "2024-05-04T08:00:00+00:00", OID, "carol.new@contoso.example"
    ),
}
ORDERS = [
    ["graph", "activity", "renamed"],
    ["renamed", "activity", "graph"],
    ["activity", "renamed", "graph"],
]


def _azure_names(cur) -> dict[str, str]:
    return dict(
        cur.execute("SELECT principal_id, actor FROM principal_actor WHERE provider = 'azure'").fetchall()
    )


@pytest.mark.parametrize("order", ORDERS, ids=["story", "reversed", "activity-first"])
def test_object_ids_named_by_the_latest_signin_across_imports(tmp_path: Path, order: list[str]) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    cur = case.cursor()
    for i, name in enumerate(order):
        import_paths(case, [BATCHES[name](tmp_path / str(i))])
        assert actor_tables(cur) == rebuilt_actor_tables(cur), f"after importing {order[: i + 1]}"
        seen = order[: i + 1]
        expected = {}
        if "graph" in seen:
            expected = {OID: "carol@contoso.example", OTHER_OID: "dave@contoso.example"}
        if "renamed" in seen:
            expected[OID] = "carol.new@contoso.example"  # 2024-05-04, after the Graph sign-in
        assert _azure_names(cur) == expected, f"after importing {seen}"
    # The Activity record's token resolves to the object id's latest UPN.
    token = cur.execute(
        "SELECT credential_id FROM events WHERE source_type = 'azure_activity' AND principal_id = ?", [OID]
    ).fetchall()
    assert token and token[0][0]
    actor = cur.execute(
        "SELECT actor FROM credential_actor WHERE credential_id = ?", [token[0][0]]
    ).fetchall()
    assert actor == [("carol.new@contoso.example",)]
    # Later imports read only their own sign-ins: the per-import rows hold each import's names.
    per_import = cur.execute("SELECT count(*) FROM entra_user_name WHERE uid = ?", [OID]).fetchall()[0][0]
    assert per_import == 2
