"""Athena over a CloudTrail table: the generated SQL is valid and selects the right rows (run on a
DuckDB table shaped like the Athena one, filter values that try to break out of their quotes
included), and results fetched over real HTTP from moto come back as the CloudTrail records they
were, resumably, with clear errors and no secret kept."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from viewer.cli import main as cli_main
from viewer.core.case_file import CaseFile
from viewer.core.fetch import athena, athena_sql
from viewer.core.fetch.athena_rows import COMPLEX, JSON_TEXT, RowConverter, parse_hive
from viewer.core.fetch.aws_auth import AwsTarget, FetchError, store_access_key
from viewer.core.jobs import Cancelled, CancelToken, JobContext

START = dt.datetime(2024, 3, 11, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 13, 23, 59, 59, tzinfo=dt.UTC)
OUTPUT = "s3://athena-results/caseline/"
PEOPLE = ("alice", "bob", "ci-deploy")


def _record(i: int) -> dict[str, Any]:
    """A CloudTrail record; every third is an assumed role with a session context."""
    who = PEOPLE[i % 3]
    t = START + dt.timedelta(hours=2 * i)
    ident: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": f"AIDA{i:016d}",
        "arn": f"arn:aws:iam::111122223333:user/{who}",
        "accountId": "111122223333",
        "accessKeyId": f"AKIA{i:016d}",
        "userName": who,
    }
    if who == "ci-deploy":
        ident = {
            "type": "AssumedRole",
            "principalId": f"AROA{i:016d}:session",
            "arn": f"arn:aws:sts::111122223333:assumed-role/ci-deploy/session{i}",
            "accountId": "111122223333",
            "accessKeyId": f"ASIA{i:016d}",
            "sessionContext": {
                "attributes": {"mfaAuthenticated": "false", "creationDate": t.strftime("%Y-%m-%dT%H:%M:%SZ")},
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROA{i:016d}",
                    "arn": "arn:aws:iam::111122223333:role/ci-deploy",
                    "accountId": "111122223333",
                    "userName": "ci-deploy",
                },
            },
        }
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": ident,
        "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com" if i % 2 else "iam.amazonaws.com",
        "eventName": ("GetObject", "CreateAccessKey", "PutBucketPolicy", "ListUsers")[i % 4],
        "awsRegion": "us-east-1",
        "sourceIPAddress": f"198.51.100.{i % 5}",
        "userAgent": "aws-cli/2.15 \"quoted\" agent, with comma",
        "requestParameters": {"bucketName": "acme", "ARN": f"arn:aws:s3:::acme/k{i}", "nested": {"x": [1, None]}},
        "requestID": f"REQ{i:05d}",
        "eventID": str(uuid.UUID(int=1000 + i)),
        "readOnly": i % 4 in (0, 3),
        "resources": [{"ARN": f"arn:aws:s3:::acme/k{i}", "accountId": "111122223333", "type": "AWS::S3::Object"}],
        "eventType": "AwsApiCall",
        "managementEvent": i % 2 == 0,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": "s3.amazonaws.com"},
    }  # fmt: skip
    if i % 5 == 0:
        rec["errorCode"], rec["errorMessage"] = "AccessDenied", "User: x is not authorized; it's 'denied'"
    return rec


RECORDS = [_record(i) for i in range(24)]


def _lower(value: Any, fields_of_schema: bool = True) -> Any:
    """A struct as the Athena table holds it: field names in lower case."""
    if isinstance(value, list):
        return [_lower(v) for v in value]
    if isinstance(value, dict):
        return {k.lower(): _lower(v) for k, v in value.items()}
    return value


def _column_text(rec: dict[str, Any]) -> dict[str, str | None]:
    """Each column of the generated query as Athena returns it: structs as json_format JSON
    (lower-case names, absent fields null), documents as their JSON text, booleans as strings."""
    by_lower = {k.lower(): v for k, v in rec.items()}
    out: dict[str, str | None] = {}
    for name, _ in athena_sql.COLUMNS:
        v = by_lower.get(name)
        if v is None:
            out[name] = None
        elif name in COMPLEX:
            lowered = _lower(v)
            if name == "useridentity":
                lowered.setdefault("invokedby", None)  # json_format keeps null fields
            out[name] = json.dumps(lowered)
        elif name in JSON_TEXT:
            out[name] = json.dumps(v)
        elif isinstance(v, bool):
            out[name] = "true" if v else "false"
        else:
            out[name] = str(v)
    return out


def _expected(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if v is not None}


def _queue_results(moto_url: str, region: str, records: list[dict[str, Any]], header: bool = True) -> None:
    """Give moto's Athena (which runs no SQL) the rows its next query returns."""
    names = [n for n, _ in athena_sql.COLUMNS]
    rows = [{"Data": [{"VarCharValue": n} for n in names]}] if header else []
    for rec in records:
        text = _column_text(rec)
        rows.append({"Data": [{"VarCharValue": text[n]} if text[n] is not None else {} for n in names]})
    body = {
        "region": region,
        "results": [{"rows": rows, "column_info": [{"Name": n, "Type": "varchar"} for n in names]}],
    }
    req = urllib.request.Request(
        moto_url + "/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert urllib.request.urlopen(req).status == 201


def _queue_empty(moto_url: str, region: str) -> None:
    body = {"region": region, "results": [{"rows": [], "column_info": []}]}
    req = urllib.request.Request(
        moto_url + "/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req).read()


def _selects(f: athena_sql.TrailFilter, rec: dict[str, Any]) -> bool:
    """The filter's meaning, independently of the SQL."""
    ident = rec["userIdentity"]
    issuer = ident.get("sessionContext", {}).get("sessionIssuer", {})
    names = {ident.get(k) for k in ("arn", "userName", "principalId", "accessKeyId")}
    names |= {issuer.get("arn"), issuer.get("userName")}
    t = dt.datetime.fromisoformat(rec["eventTime"])
    return (
        f.start <= t <= f.end
        and (not f.principals or bool(names & set(f.principals)))
        and (not f.ips or rec["sourceIPAddress"] in f.ips)
        and (not f.event_names or rec["eventName"] in f.event_names)
    )


# --- the SQL, checked on DuckDB -----------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _duck_type(hive: str) -> str:
    """The DuckDB type of a Hive column type (STRUCT<a:T> -> STRUCT(a T), ARRAY<T> -> T[])."""
    t = hive.strip()
    up = t.upper()
    if up.startswith("STRUCT<"):
        fields = [f.split(":", 1) for f in _split_top(t[7:-1])]
        return "STRUCT(" + ", ".join(f'"{n.strip()}" {_duck_type(ty)}' for n, ty in fields) + ")"
    if up.startswith("ARRAY<"):
        return _duck_type(t[6:-1]) + "[]"
    if up.startswith("MAP<"):
        k, v = _split_top(t[4:-1])
        return f"MAP({_duck_type(k)}, {_duck_type(v)})"
    return "VARCHAR"


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A DuckDB table with the Athena CloudTrail table's columns and partitions, holding RECORDS."""
    folder = tmp_path_factory.mktemp("duck")
    rows = []
    for rec in RECORDS:
        row: dict[str, Any] = {}
        for name, _ in athena_sql.COLUMNS:
            v = {k.lower(): v for k, v in rec.items()}.get(name)
            if v is not None and name in JSON_TEXT:
                v = json.dumps(v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            elif v is not None and name in COMPLEX:
                v = _lower(v)
            row[name] = v
        row.update(
            account="111122223333", region="us-east-1", timestamp=rec["eventTime"][:10].replace("-", "/")
        )
        rows.append(row)
    (folder / "rows.ndjson").write_text("\n".join(json.dumps(r) for r in rows))
    columns = {n: _duck_type(t) for n, t in athena_sql.COLUMNS} | dict.fromkeys(
        athena_sql.PARTITIONS, "VARCHAR"
    )
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db")
    con.execute(
        "CREATE TABLE db.cloudtrail AS SELECT * FROM read_json(?, format='newline_delimited', columns=?)",
        [str(folder / "rows.ndjson"), columns],
    )
    # Trino's json_format(JSON) gives the JSON text; DuckDB's JSON values already are text.
    con.execute("CREATE MACRO json_format(j) AS CAST(j AS VARCHAR)")
    return con


FILTERS = [
    athena_sql.TrailFilter(START, END, partition_column="timestamp"),
    athena_sql.TrailFilter(START, START + dt.timedelta(hours=20), principals=("alice",)),
    athena_sql.TrailFilter(START, END, principals=("arn:aws:iam::111122223333:role/ci-deploy",), ips=("198.51.100.2",)),
    athena_sql.TrailFilter(START, END, event_names=("CreateAccessKey", "PutBucketPolicy"), partition_column="timestamp"),
    # Values that try to leave their quotes select nothing and change nothing.
    athena_sql.TrailFilter(START, END, principals=("x' OR '1'='1",)),
    athena_sql.TrailFilter(START, END, event_names=("'); DROP TABLE db.cloudtrail; --",)),
    athena_sql.TrailFilter(START, END, principals=("alice", "bob\\' OR 1=1 --")),
]  # fmt: skip


@pytest.mark.parametrize("filt", FILTERS)
def test_generated_sql_runs_on_a_cloudtrail_shaped_table_and_selects_the_right_rows(
    duck: duckdb.DuckDBPyConnection, filt: athena_sql.TrailFilter
) -> None:
    sql = athena_sql.select_sql("db", "cloudtrail", filt)
    cur = duck.cursor()
    cur.execute(sql)
    names = [d[0] for d in cur.description]
    records = [
        RowConverter(names).record([None if v is None else str(v) for v in row]) for row in cur.fetchall()
    ]
    expected = [_expected(r) for r in RECORDS if _selects(filt, r)]
    assert sorted(records, key=lambda r: r["eventID"]) == sorted(expected, key=lambda r: r["eventID"])
    assert duck.execute("SELECT count(*) FROM db.cloudtrail").fetchall() == [(len(RECORDS),)]


def test_names_and_table_settings_that_could_break_the_sql_are_refused() -> None:
    f = athena_sql.TrailFilter(START, END)
    with pytest.raises(ValueError, match="not a usable Athena name"):
        athena_sql.select_sql("db", 'cloudtrail"; DROP TABLE x; --', f)
    good = athena_sql.TrailTable("db", "ct", "acme-trail", ("111122223333",), ("us-east-1",), START.date())
    for bad in (
        {"bucket": "acme'); DROP"},
        {"prefix": "logs'/x"},
        {"accounts": ("1111",)},
        {"regions": ("us-east-1', 'x",)},
        {"org_id": "o-'x"},
    ):
        fields = {**good.__dict__, **bad}
        with pytest.raises(ValueError, match="not a valid"):
            athena_sql.create_table_sql(athena_sql.TrailTable(**fields))
    ddl = athena_sql.create_table_sql(
        athena_sql.TrailTable(
            "db", "ct", "acme-trail", ("111122223333", "444455556666"), ("us-east-1", "eu-west-1"),
            dt.date(2024, 1, 1), prefix="org/", org_id="o-abcdefghij",
        )
    )  # fmt: skip
    assert "LOCATION 's3://acme-trail/org/AWSLogs/o-abcdefghij/'" in ddl
    assert (
        "'storage.location.template'='s3://acme-trail/org/AWSLogs/o-abcdefghij/${account}/CloudTrail/" in ddl
    )
    assert "'projection.account.values'='111122223333,444455556666'" in ddl
    assert "'projection.timestamp.range'='2024/01/01,NOW'" in ddl


def test_hive_text_of_a_struct_is_read_best_effort() -> None:
    text = (
        "{type=AssumedRole, principalid=AROA1:s, arn=arn:aws:sts::1:assumed-role/r/s, accountid=1, "
        "invokedby=null, sessioncontext={attributes={mfaauthenticated=false, creationdate=2024-03-11T00:00:00Z}, "
        "sessionissuer={type=Role, arn=arn:aws:iam::1:role/r}}}"
    )
    assert parse_hive(text) == {
        "type": "AssumedRole", "principalid": "AROA1:s", "arn": "arn:aws:sts::1:assumed-role/r/s", "accountid": "1",
        "invokedby": None,
        "sessioncontext": {"attributes": {"mfaauthenticated": "false", "creationdate": "2024-03-11T00:00:00Z"},
                           "sessionissuer": {"type": "Role", "arn": "arn:aws:iam::1:role/r"}},
    }  # fmt: skip
    assert parse_hive("[{arn=a, type=b}, {arn=c, type=d}]") == [
        {"arn": "a", "type": "b"},
        {"arn": "c", "type": "d"},
    ]


# --- over HTTP, from moto --------------------------------------------------------------------------


def _target(moto_url: str, region: str) -> AwsTarget:
    return AwsTarget(region=region, endpoint_url=moto_url)


def _athena_client(moto_url: str, region: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "athena",
        endpoint_url=moto_url,
        region_name=region,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )


def _case_records(case: CaseFile) -> list[dict[str, Any]]:
    rows = case.cursor().execute("SELECT raw FROM events WHERE source_type = 'cloudtrail'").fetchall()
    return sorted((json.loads(r[0]) for r in rows), key=lambda r: r["eventID"])


def test_generated_query_results_import_as_the_cloudtrail_records_they_were(
    tmp_path: Path, moto_url: str
) -> None:
    region = "us-west-2"
    filt = athena_sql.TrailFilter(START, END, principals=("ci-deploy",))
    chosen = [r for r in RECORDS if _selects(filt, r)]
    _queue_results(moto_url, region, chosen)
    req = athena.AthenaRequest(table="cloudtrail", filter=filt, database="security", output_location=OUTPUT)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = athena.fetch(case, _target(moto_url, region), req, tmp_path / "cache")
        acq = rep.acquisition
        assert rep.complete and acq.records_retrieved == acq.records_imported == len(chosen)
        assert _case_records(case) == sorted((_expected(r) for r in chosen), key=lambda r: r["eventID"])
        # The query Athena was given is the generated one, its value quoted.
        ex = _athena_client(moto_url, region).get_query_execution(
            QueryExecutionId=acq.params["query_execution_id"]
        )
        assert (
            ex["QueryExecution"]["Query"]
            == acq.params["sql"]
            == athena_sql.select_sql("security", "cloudtrail", filt)
        )
        assert "'ci-deploy'" in acq.params["sql"]
        kinds = case.cursor().execute("SELECT DISTINCT kind FROM imports").fetchall()
        assert kinds == [("live:aws-athena",)]


def test_create_table_runs_the_projection_ddl_before_the_query(tmp_path: Path, moto_url: str) -> None:
    region = "eu-west-1"
    table = athena_sql.TrailTable(
        "security", "trail_pp", "acme-trail", ("111122223333",), (region,), START.date()
    )
    _queue_empty(moto_url, region)  # moto hands queued results to every execution, DDL included
    _queue_results(moto_url, region, RECORDS[:5])
    filt = athena_sql.TrailFilter(START, END, partition_column="timestamp")
    req = athena.AthenaRequest(
        table="trail_pp", filter=filt, database="security", output_location=OUTPUT, create_table=table
    )
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = athena.fetch(case, _target(moto_url, region), req, tmp_path / "cache")
        assert rep.acquisition.records_imported == 5
    client = _athena_client(moto_url, region)
    queries = [
        client.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"]
        for q in client.list_query_executions()["QueryExecutionIds"]
    ]
    assert athena_sql.create_table_sql(table) in queries
    assert '"timestamp" BETWEEN' in rep.acquisition.params["sql"]


def test_a_cancelled_fetch_resumes_the_same_query_without_duplicates(
    tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    region = "ap-southeast-2"
    monkeypatch.setattr(athena, "RECORDS_PER_FILE", 5)
    monkeypatch.setattr(athena, "IMPORT_BATCH_FILES", 1)
    _queue_results(moto_url, region, RECORDS)
    req = athena.AthenaRequest(
        sql="SELECT * FROM security.cloudtrail", database="security", output_location=OUTPUT
    )
    token = CancelToken()

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase.startswith("imported"):
            token.cancel()

    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(Cancelled):
            athena.fetch(
                case, _target(moto_url, region), req, tmp_path / "cache", JobContext(token, on_progress)
            )
        partial = case.summary().events
        assert 0 < partial < len(RECORDS)
        rep = athena.fetch(case, _target(moto_url, region), req, tmp_path / "cache")
        assert rep.complete and rep.acquisition.params["sql"] == req.sql
        assert _case_records(case) == sorted((_expected(r) for r in RECORDS), key=lambda r: r["eventID"])
    client = _athena_client(moto_url, region)
    assert len(client.list_query_executions()["QueryExecutionIds"]) == 1  # the query ran once


def test_bare_struct_columns_are_read_and_the_fetch_says_so(tmp_path: Path, moto_url: str) -> None:
    region = "ca-central-1"
    names = ["eventid", "eventtime", "eventname", "eventsource", "useridentity"]
    rows = [{"Data": [{"VarCharValue": n} for n in names]}]
    for r in RECORDS[:3]:
        ident = ", ".join(f"{k.lower()}={v}" for k, v in r["userIdentity"].items() if isinstance(v, str))
        rows.append(
            {
                "Data": [
                    {"VarCharValue": v}
                    for v in (
                        r["eventID"],
                        r["eventTime"],
                        r["eventName"],
                        r["eventSource"],
                        "{" + ident + "}",
                    )
                ]
            }
        )
    body = {
        "region": region,
        "results": [{"rows": rows, "column_info": [{"Name": n, "Type": "varchar"} for n in names]}],
    }
    req = urllib.request.Request(
        moto_url + "/moto-api/static/athena/query-results", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(req).read()
    query = "SELECT eventid, eventtime, eventname, eventsource, useridentity FROM ct"
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = athena.fetch(
            case,
            _target(moto_url, region),
            athena.AthenaRequest(sql=query, output_location=OUTPUT),
            tmp_path / "c",
        )
        assert not rep.complete and "best effort" in rep.acquisition.failed[0]
        got = {r["eventID"]: r["userIdentity"] for r in _case_records(case)}
        assert got[RECORDS[0]["eventID"]]["userName"] == RECORDS[0]["userIdentity"]["userName"]


def test_errors_are_clear_and_keep_the_case_unchanged(tmp_path: Path, moto_url: str) -> None:
    region = "sa-east-1"
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(FetchError, match="WorkGroup does not exist"):
            athena.fetch(
                case,
                _target(moto_url, region),
                athena.AthenaRequest(sql="SELECT 1", workgroup="nope", output_location=OUTPUT),
                tmp_path / "cache",
            )
        with pytest.raises(FetchError, match="no AWS region named 'moon-1'"):
            athena.fetch(
                case, _target(moto_url, "moon-1"), athena.AthenaRequest(sql="SELECT 1"), tmp_path / "cache"
            )
        _queue_empty(moto_url, region)
        body = {"region": region, "results": [{"rows": [{"Data": [{"VarCharValue": "n"}]}, {"Data": [{"VarCharValue": "3"}]}],
                                               "column_info": [{"Name": "n", "Type": "bigint"}]}]}  # fmt: skip
        urllib.request.urlopen(
            urllib.request.Request(
                moto_url + "/moto-api/static/athena/query-results", data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
        ).read()  # fmt: skip
        _athena_client(moto_url, region).start_query_execution(
            QueryString="SELECT 0"
        )  # takes the empty result
        with pytest.raises(
            FetchError, match="not CloudTrail events: no eventid, eventtime, eventname, eventsource"
        ):
            athena.fetch(
                case,
                _target(moto_url, region),
                athena.AthenaRequest(sql="SELECT count(*) AS n FROM ct", output_location=OUTPUT),
                tmp_path / "cache",
            )
        assert case.summary().events == 0


def test_keyring_secret_never_reaches_the_case(tmp_path: Path, moto_url: str) -> None:
    region = "eu-north-1"
    secret = "AtHeNaKeYrInGsEcReT/abcdefghijklmnopqrstuv"
    store_access_key("athena-investigation", "AKIAI44QH8DHBEXAMPLE", secret)
    _queue_results(moto_url, region, RECORDS[:4])
    target = AwsTarget(region=region, endpoint_url=moto_url, keyring_name="athena-investigation")
    with CaseFile.create(tmp_path / "c.caseline") as case:
        rep = athena.fetch(
            case,
            target,
            athena.AthenaRequest(sql="SELECT * FROM ct", output_location=OUTPUT),
            tmp_path / "cache",
        )
        assert rep.acquisition.records_imported == 4
    assert secret.encode() not in (tmp_path / "c.caseline").read_bytes()
    assert not any(secret.encode() in p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())


def test_cli_shows_generated_sql_and_fetches(
    tmp_path: Path, moto_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    region = "us-east-2"
    case = str(tmp_path / "c.caseline")
    times = ["--start", START.isoformat(), "--end", END.isoformat()]
    common = ["--region", region, "--endpoint-url", moto_url]
    code = cli_main(
        [
            "fetch",
            case,
            "aws-athena",
            "--table",
            "cloudtrail",
            "--principal",
            "o'brien",
            *times,
            "--show-sql",
            *common,
        ]
    )
    assert code == 0 and "'o''brien'" in capsys.readouterr().out
    table = ["--create-table", "--trail-bucket", "acme-trail", "--account", "111122223333", "--trail-region",
             "us-east-1", "--table-since", "2024-01-01"]  # fmt: skip
    code = cli_main(["fetch", case, "aws-athena", "--table", "ct", *times, *table, "--show-sql", *common])
    out = capsys.readouterr().out
    assert (
        code == 0 and "'projection.timestamp.range'='2024/01/01,NOW'" in out and '"timestamp" BETWEEN' in out
    )
    _queue_results(moto_url, region, RECORDS[:6])
    code = cli_main(
        ["fetch", case, "aws-athena", "--table", "cloudtrail", "--database", "security", *times,
         "--output-location", OUTPUT, *common]
    )  # fmt: skip
    assert code == 0 and "6 records imported" in capsys.readouterr().out
    code = cli_main(
        ["fetch", case, "aws-athena", "--sql", "SELECT 1", *times, "--workgroup", "nope", *common]
    )
    assert code == 2 and "WorkGroup does not exist" in capsys.readouterr().err


def test_access_denied_is_a_clear_error(tmp_path: Path, moto_iam: dict) -> None:
    store_access_key("athena-analyst", moto_iam["key_id"], moto_iam["secret"])
    target = AwsTarget(region="us-east-1", endpoint_url=moto_iam["url"], keyring_name="athena-analyst")
    with CaseFile.create(tmp_path / "c.caseline") as case:
        with pytest.raises(FetchError, match="the Athena query: access denied") as err:
            athena.fetch(
                case, target, athena.AthenaRequest(sql="SELECT 1", output_location=OUTPUT), tmp_path / "c"
            )
        assert moto_iam["secret"] not in str(err.value)
        assert case.summary().events == 0
