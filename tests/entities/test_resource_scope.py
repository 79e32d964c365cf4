"""A resource under every name the logs give it: the bucket of the sample incident, by its bare
name or its ARN, takes in its objects and shows the exfiltration the truth file records; a role's
ARN takes in its bare name in its own account only, and not a function of the same name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.sample_case import build_sample_case

from viewer.core.case_file import CaseFile
from viewer.core.entities import api, cards, pivots
from viewer.core.entities.resources import bare_name, resource_sql, target_entity
from viewer.core.event_query import EventFilter, where_sql
from viewer.core.ingest import import_paths


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaseFile, dict]:
    return build_sample_case(tmp_path_factory.mktemp("resource_sample"))


@pytest.mark.parametrize("spelling", ["bare", "arn"])
def test_the_bucket_card_shows_the_exfiltration(sample: tuple[CaseFile, dict], spelling: str) -> None:
    case, truth = sample
    exfil = truth["exfiltration"]
    bucket = exfil["bucket"] if spelling == "bare" else "arn:aws:s3:::" + exfil["bucket"]
    card = cards.resource_card(case.cursor(), bucket)
    got = [
        r
        for r in card["touched_by"]
        if r["principal_id"] == exfil["principal_arn"] and r["action"] == "GetObject"
    ]
    assert len(got) == 1
    assert got[0]["events"] == exfil["get_object_count"]
    assert got[0]["first_seen"].isoformat() == exfil["first_get_object"]
    assert got[0]["last_seen"].isoformat() == exfil["last_get_object"]
    other_spelling = exfil["bucket"] if spelling == "arn" else "arn:aws:s3:::" + exfil["bucket"]
    assert other_spelling in card["also_named"]
    assert any(n.endswith(f"objects (arn:aws:s3:::{exfil['bucket']}/...)") for n in card["also_named"])


def test_both_spellings_of_the_bucket_select_the_same_events(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    cur = case.cursor()
    bucket = truth["exfiltration"]["bucket"]

    def ids(value: str) -> set[int]:
        params: list[object] = []
        sql = resource_sql(value, params)
        return {r[0] for r in cur.execute(f"SELECT event_id FROM events WHERE {sql}", params).fetchall()}

    bare, arn = ids(bucket), ids("arn:aws:s3:::" + bucket)
    assert bare == arn
    # More than the exact text selects: the bucket's ARN and its objects are named apart.
    exact = {
        r[0] for r in cur.execute("SELECT event_id FROM events WHERE target_id = ?", [bucket]).fetchall()
    }
    assert exact < bare
    assert len(bare) >= truth["exfiltration"]["get_object_count"] + len(exact)


def test_the_pivot_of_a_bucket_lists_the_exfiltration_calls(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    exfil = truth["exfiltration"]
    report = api.pivot_report(case.cursor(), "resource", exfil["bucket"], events=100_000)
    gets = [
        e
        for e in report["events"]
        if e["action"] == "GetObject" and e["principal_id"] == exfil["principal_arn"]
    ]
    assert len(gets) == exfil["get_object_count"]
    assert {e["src_ip"] for e in gets} == {exfil["source_ip"]}


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:iam::111122223333:role/path/deploy", "deploy"),
        ("arn:aws:s3:::acme-data", "acme-data"),
        ("arn:aws:lambda:us-east-1:111122223333:function:billing", "billing"),
        ("arn:aws:s3:::acme-data/exports/a.csv", None),  # an object is its own resource
        ("deploy", None),
    ],
)
def test_bare_name_of_an_arn(arn: str, name: str | None) -> None:
    assert bare_name(arn) == name


def _call(i: int, account: str, source: str, name: str, request: dict, resources: list | None = None) -> dict:
    record = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/ops", "accountId": account},
        "eventTime": f"2024-05-04T10:{i:02d}:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.5",
        "requestParameters": request,
        "eventID": f"00000000-0000-4000-9000-{i:012d}",
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
    }
    if resources:
        record["resources"] = resources
    return record


A, B = "111122223333", "444455556666"
ROLE_A = f"arn:aws:iam::{A}:role/deploy"


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    folder = tmp_path_factory.mktemp("resource_roles")
    records = [
        _call(
            1,
            A,
            "sts.amazonaws.com",
            "AssumeRole",
            {"roleArn": ROLE_A, "roleSessionName": "x"},
            [{"ARN": ROLE_A, "type": "AWS::IAM::Role"}],
        ),
        _call(
            2,
            A,
            "iam.amazonaws.com",
            "AttachRolePolicy",
            {"roleName": "deploy", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        _call(3, B, "iam.amazonaws.com", "PutRolePolicy", {"roleName": "deploy", "policyName": "p"}),
        _call(4, A, "lambda.amazonaws.com", "UpdateFunctionCode20150331v2", {"functionName": "deploy"}),
    ]
    (folder / "trail.json").write_text(json.dumps({"Records": records}))
    case = CaseFile.create(folder / "roles.caseline")
    import_paths(case, [Path(folder / "trail.json")])
    return case


def test_a_role_arn_takes_in_its_bare_name_in_its_account_only(roles: CaseFile) -> None:
    cur = roles.cursor()
    params: list[object] = []
    sql = resource_sql(ROLE_A, params)
    got = cur.execute(f"SELECT action FROM events WHERE {sql} ORDER BY ts", params).fetchall()
    # Not the role of that name in account B, nor the Lambda function named `deploy`.
    assert [r[0] for r in got] == ["AssumeRole", "AttachRolePolicy"]


def test_a_typed_name_takes_in_every_arn_ending_with_it(roles: CaseFile) -> None:
    cur = roles.cursor()
    params: list[object] = []
    sql = resource_sql("deploy", params)
    got = cur.execute(f"SELECT action FROM events WHERE {sql} ORDER BY ts", params).fetchall()
    assert [r[0] for r in got] == [
        "AssumeRole",
        "AttachRolePolicy",
        "PutRolePolicy",
        "UpdateFunctionCode20150331v2",
    ]


def test_the_filter_term_selects_what_the_card_counts(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    cur = case.cursor()
    bucket = truth["exfiltration"]["bucket"]
    card = cards.resource_card(cur, bucket)
    sql, params = where_sql(EventFilter(text=f"resource:{bucket}"), cur)
    assert cur.execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchall()[0][0] == card["events"]
    sql, params = where_sql(EventFilter(text=f"-resource:{bucket}"), cur)
    total = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert (
        cur.execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchall()[0][0]
        == total - card["events"]
    )


AZURE_LINES = Path(__file__).resolve().parents[1] / "data" / "formats" / "azure_activity_jsonl" / "PT1H.json"
VM = "/subscriptions/44444444-5555-6666-7777-888888888888/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-web-02"


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    """The diagnostic-settings export names the VM in capitals; the same VM in the portal's case,
    and an extension under it."""
    folder = tmp_path_factory.mktemp("resource_azure")
    first, second = (json.loads(line) for line in AZURE_LINES.read_text().splitlines())
    assert first["resourceId"] == VM.upper()
    second["resourceId"] = VM
    child = dict(second, resourceId=VM + "/extensions/CustomScriptExtension", time="2024-05-04T06:02:00Z")
    (folder / "PT1H.json").write_text("\n".join(json.dumps(r) for r in (first, second, child)) + "\n")
    case = CaseFile.create(folder / "azure.caseline")
    assert import_paths(case, [folder / "PT1H.json"]).total("kept") == 3
    return case


def _count(case: CaseFile, value: str) -> int:
    params: list[object] = []
    sql = resource_sql(value, params)
    return case.cursor().execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchall()[0][0]


def test_an_azure_id_in_any_case_and_what_is_under_it(azure: CaseFile) -> None:
    assert _count(azure, VM) == _count(azure, VM.upper()) == 3
    assert _count(azure, VM.rsplit("/providers/", 1)[0]) == 3  # the resource group holds all three
    assert _count(azure, "vm-web-02") == 2  # typed name: the VM in both cases, not its extension
    names = cards.resource_card(azure.cursor(), VM)["also_named"]
    assert names == [VM.upper(), f"1 resource under it ({VM}/...)"]


def _selected(case: CaseFile, sql: str, params: list[object]) -> int:
    return case.cursor().execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchall()[0][0]


def test_the_target_panel_lists_the_bucket_once_with_its_objects(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    cur = case.cursor()
    bucket = truth["exfiltration"]["bucket"]
    rows = {r.entity: r for r in pivots.panel_rows(cur, "resource", limit=100_000).rows}
    # One row, counting what the card counts (its bare name and its 1,329 objects included).
    assert rows["arn:aws:s3:::" + bucket].events == cards.resource_card(cur, bucket)["events"] > 1_300
    assert bucket not in rows
    assert not [e for e in rows if e.startswith("arn:aws:s3:::") and "/" in e]
    # A partition: every event with a target counted once, under one row.
    assert sum(r.events for r in rows.values()) == _selected(case, "target_id IS NOT NULL", [])


def test_a_click_on_a_target_row_selects_its_events(sample: tuple[CaseFile, dict]) -> None:
    case, truth = sample
    cur = case.cursor()
    for row in pivots.panel_rows(cur, "resource", limit=40).rows:
        pf = pivots.selection_filter(cur, "resource", [row.entity])
        assert pf.filter_text is not None and pf.filter_text.startswith("target:")
        assert _selected(case, pf.where_sql, pf.params) == row.events, row.entity
        assert _selected(case, *where_sql(EventFilter(text=pf.filter_text), cur)) == row.events, row.entity
    # An object typed is its bucket; the negated term keeps the rest.
    bucket = "arn:aws:s3:::" + truth["exfiltration"]["bucket"]
    some_object = cur.execute(
        "SELECT min(target_id) FROM events WHERE starts_with(target_id, ?)", [bucket + "/"]
    ).fetchall()[0][0]
    assert target_entity(some_object) == bucket
    both = [
        _selected(case, *where_sql(EventFilter(text=f"{neg}target:{some_object}"), cur)) for neg in ("-", "")
    ]
    row = cards.resource_card(cur, bucket)["events"]
    assert both == [_selected(case, "true", []) - row, row]
    # A prefix applies to the entity: an object key's start is no bucket's, a bucket's start is.
    assert _selected(case, *where_sql(EventFilter(text=f"target:{bucket}/*"), cur)) == 0
    assert _selected(case, *where_sql(EventFilter(text=f"target:{bucket[:-3]}*"), cur)) >= row


def test_the_target_panel_merges_an_azure_id_in_two_letter_cases(azure: CaseFile) -> None:
    cur = azure.cursor()
    rows = {r.entity: r.events for r in pivots.panel_rows(cur, "resource").rows}
    assert rows == {VM.lower(): 2, (VM + "/extensions/CustomScriptExtension").lower(): 1}
    assert _selected(azure, *where_sql(EventFilter(text=f"target:{VM.upper()}"), cur)) == 2
