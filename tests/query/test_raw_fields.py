"""The extracted raw fields (viewer.core.raw_fields) and the library queries that read them.

Each rewritten library query must return the same rows as its earlier raw-JSON version, kept
here as the reference, on cases imported by the real import code: the bundled AWS incident and a
case of the format fixtures (CloudTrail, Entra sign-ins, Kubernetes audit). The table itself is
checked column by column against `raw->>'$.path'` over every event.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from viewer.core import derived, raw_fields, search_index
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.query import library
from viewer.core.query.common import TranslationError
from viewer.core.query.runner import QueryRunner

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"
SECURITY_GROUP_CALLS = Path(__file__).resolve().parents[1] / "data" / "queries" / "security_group_calls.json"
FIXTURE_DIRS = (
    "aws_cloudtrail",
    "aws_cloudtrail_jsonl",
    "entra_signin",
    "entra_signin_jsonl",
    "k8s_audit",
    "aws_vpc_flow",
    "gcp_vpc_flow",
)

#: The library's SQL before it read raw_fields / raw_volume, grouped in two steps or bucketed time
#: by epoch arithmetic: the independent reference.
REFERENCE: dict[str, str] = {
    "aws_s3_data_access_by_principal": """
        SELECT principal_id, raw->>'$.requestParameters.bucketName' AS bucket, count(*) AS reads,
               sum(TRY_CAST(raw->>'$.additionalEventData.bytesTransferredOut' AS DOUBLE)) AS bytes_out,
               min(ts) AS first_seen, max(ts) AS last_seen
        FROM events WHERE source_type = 'cloudtrail' AND action = 'GetObject' GROUP BY ALL""",
    "aws_s3_bucket_exposure_changes": """
        SELECT ts, principal_id, action, raw->>'$.requestParameters.bucketName' AS bucket, src_ip, outcome
        FROM events WHERE source_type = 'cloudtrail'
          AND action IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutObjectAcl',
                         'DeletePublicAccessBlock', 'PutPublicAccessBlock', 'DeleteBucketPublicAccessBlock')""",
    "aws_security_group_open_to_world": """
        SELECT ts, principal_id, action,
               coalesce(raw->>'$.requestParameters.groupId',
                        raw->>'$.requestParameters.ModifySecurityGroupRulesRequest.GroupId') AS group_id,
               src_ip, outcome
        FROM events WHERE source_type = 'cloudtrail'
          AND action IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')
          AND regexp_matches(concat(raw->>'$.requestParameters.ipPermissions',
                                    raw->>'$.requestParameters.ModifySecurityGroupRulesRequest'),
                             '"(cidrIp|cidrIpv6|CidrIpv4|CidrIpv6)": *"(0[.]0[.]0[.]0/0|::/0)"')""",
    "aws_instances_launched": """
        SELECT ts, principal_id, region, raw->>'$.requestParameters.instanceType' AS instance_type,
               target_id, src_ip, outcome
        FROM events WHERE source_type = 'cloudtrail' AND action = 'RunInstances'""",
    "aws_secrets_and_keys_access": """
        SELECT principal_id, action, count(*) AS calls, min(ts) AS first_seen, max(ts) AS last_seen
        FROM events WHERE source_type = 'cloudtrail'
          AND (action IN ('GetSecretValue', 'BatchGetSecretValue')
               OR (action IN ('GetParameter', 'GetParameters', 'GetParametersByPath')
                   AND raw->>'$.requestParameters.withDecryption' = 'true'))
        GROUP BY ALL""",
    "aws_console_login_without_mfa": """
        SELECT ts, principal_id, src_ip, user_agent, cloud_account FROM events
        WHERE source_type = 'cloudtrail' AND action = 'ConsoleLogin' AND outcome = 'success'
          AND raw->>'$.additionalEventData.MFAUsed' = 'No'""",
    "aws_iam_users_created": """
        SELECT ts, principal_id, raw->>'$.requestParameters.userName' AS new_user, src_ip, outcome
        FROM events WHERE source_type = 'cloudtrail' AND action = 'CreateUser'""",
    "aws_access_keys_created": """
        SELECT ts, principal_id, coalesce(raw->>'$.requestParameters.userName', principal_name) AS key_owner,
               raw->>'$.responseElements.accessKey.accessKeyId' AS new_key, src_ip, outcome
        FROM events WHERE source_type = 'cloudtrail' AND action = 'CreateAccessKey'""",
    "aws_assume_role_cross_account": """
        SELECT ts, principal_id, principal_account, raw->>'$.requestParameters.roleArn' AS role_arn,
               split_part(raw->>'$.requestParameters.roleArn', ':', 5) AS role_account, src_ip, outcome
        FROM events WHERE source_type = 'cloudtrail' AND action = 'AssumeRole'
          AND split_part(raw->>'$.requestParameters.roleArn', ':', 5) <> principal_account""",
    "aws_assume_role_by_principal": """
        SELECT principal_id, raw->>'$.requestParameters.roleArn' AS role_arn, count(*) AS times,
               min(ts) AS first_seen, max(ts) AS last_seen
        FROM events WHERE source_type = 'cloudtrail' AND action = 'AssumeRole' GROUP BY ALL""",
    "aws_credential_use_by_ip": """
        SELECT credential_id, src_ip, count(*) AS calls, count(DISTINCT user_agent) AS user_agents,
               min(ts) AS first_seen, max(ts) AS last_seen
        FROM events WHERE source_type = 'cloudtrail' AND coalesce(credential_id, '') <> '' GROUP BY ALL""",
    "aws_ip_shared_by_principals": """
        SELECT src_ip, count(DISTINCT principal_id) AS principals, list(DISTINCT principal_id) AS who,
               count(*) AS events
        FROM events
        WHERE source_type = 'cloudtrail' AND src_ip IS NOT NULL AND src_ip NOT LIKE '%.amazonaws.com'
        GROUP BY src_ip HAVING count(DISTINCT principal_id) > 1""",
    "aws_discovery_burst": """
        SELECT principal_id, time_bucket(INTERVAL 5 MINUTE, ts) AS window, count(*) AS calls,
               count(DISTINCT action) AS distinct_actions
        FROM events WHERE source_type = 'cloudtrail'
          AND (action LIKE 'List%' OR action LIKE 'Describe%' OR action LIKE 'Get%')
        GROUP BY ALL HAVING count(DISTINCT action) >= 5""",
    "entra_risky_signins": """
        SELECT ts, principal_name, src_ip, raw->>'$.riskLevelDuringSignIn' AS risk, outcome, user_agent
        FROM events WHERE source_type = 'entra_signin'
          AND coalesce(raw->>'$.riskLevelDuringSignIn', raw->>'$.properties.riskLevelDuringSignIn')
              IN ('medium', 'high')""",
    "entra_signins_by_location": """
        SELECT principal_name,
               coalesce(raw->>'$.location.countryOrRegion', raw->>'$.properties.location.countryOrRegion')
                   AS country,
               count(*) AS signins, min(ts) AS first_seen, max(ts) AS last_seen
        FROM events WHERE source_type = 'entra_signin' GROUP BY ALL""",
    "k8s_exec_into_pods": """
        SELECT ts, principal_id, action, target_id, src_ip, outcome FROM events
        WHERE source_type = 'k8s_audit'
          AND raw->>'$.objectRef.resource' = 'pods' AND raw->>'$.objectRef.subresource' IN ('exec', 'attach')""",
    "k8s_secrets_read": """
        SELECT principal_id, raw->>'$.verb' AS verb, raw->>'$.objectRef.namespace' AS namespace,
               count(*) AS requests, min(ts) AS first_seen, max(ts) AS last_seen
        FROM events WHERE source_type = 'k8s_audit' AND raw->>'$.objectRef.resource' = 'secrets'
          AND raw->>'$.verb' IN ('get', 'list', 'watch')
        GROUP BY ALL""",
    "k8s_anonymous_and_denied": """
        SELECT principal_id, src_ip, error_code, count(*) AS requests, min(ts) AS first_seen,
               max(ts) AS last_seen
        FROM events WHERE source_type = 'k8s_audit'
          AND (principal_id = 'system:anonymous' OR raw->>'$.responseStatus.code' IN ('401', '403'))
        GROUP BY ALL""",
    "net_port_scan_suspects": """
        SELECT src_ip, time_bucket(INTERVAL 1 HOUR, ts) AS hour, count(DISTINCT dst_port) AS ports,
               count(DISTINCT dst_ip) AS hosts
        FROM events WHERE source_type IN ('vpcflow', 'gcp_vpcflow') AND dst_port IS NOT NULL
        GROUP BY ALL HAVING count(DISTINCT dst_port) >= 20""",
    "net_traffic_over_time": """
        SELECT time_bucket(INTERVAL 1 HOUR, ts) AS hour, sum(bytes) AS total_bytes, count(*) AS flows
        FROM events WHERE source_type IN ('vpcflow', 'gcp_vpcflow') GROUP BY hour""",
    "volume_per_hour": """
        SELECT time_bucket(INTERVAL 1 HOUR, ts) AS hour, source_type, count(*) AS events
        FROM events GROUP BY ALL""",
    "volume_by_source": """
        SELECT source_type, provider, count(*) AS events, sum(strlen(raw::VARCHAR)) AS raw_bytes,
               min(ts) AS first_seen, max(ts) AS last_seen
        FROM events GROUP BY ALL""",
    "volume_by_log": """
        SELECT source_type, log_name, count(*) AS events, sum(strlen(raw::VARCHAR)) AS raw_bytes
        FROM events GROUP BY ALL""",
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    """The format fixtures, imported one folder per import: raw_fields grows incrementally. The
    stored rows are built after each of the first imports only, so the last ones are above the
    mark and the views read them from the events, as between an import and its deferred build."""
    case = CaseFile.create(tmp_path_factory.mktemp("raw_fields_fixtures") / "fixtures.caseline")
    import_paths(case, [SECURITY_GROUP_CALLS])
    for i, name in enumerate(FIXTURE_DIRS):
        import_paths(case, [p for p in (FORMATS / name).iterdir() if p.name != "expected.json"])
        if i < len(FIXTURE_DIRS) - 3:
            derived.update_deferred(case)
    return case


def _sorted(rows: list[tuple]) -> list[tuple]:
    def cell(v: object) -> object:
        return tuple(sorted(map(str, v))) if isinstance(v, list) else v

    return sorted((tuple(cell(v) for v in r) for r in rows), key=repr)


def test_every_library_query_reading_raw_json_has_a_reference() -> None:
    reads_raw = [q.name for q in library.bundled() if "raw->>" in q.text("sql") or "raw::" in q.text("sql")]
    assert reads_raw == ["entra_risky_signins"]  # it shows the raw top-level field the filter does not
    uses_tables = [
        q.name for q in library.bundled() if "raw_fields" in q.text("sql") or "raw_volume" in q.text("sql")
    ]
    assert set(uses_tables) <= set(REFERENCE)
    # time_bucket() on TIMESTAMPTZ calls ICU per row (~10x a scan at 10M): the library does not use it.
    assert [q.name for q in library.bundled() if "time_bucket(INTERVAL" in q.text("sql")] == []


@pytest.mark.parametrize("case_name", ["sample_built", "fixtures"])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_rewritten_query_returns_the_reference_rows(
    name: str, case_name: str, request: pytest.FixtureRequest
) -> None:
    case: CaseFile = request.getfixturevalue(case_name)
    cur = case.cursor()
    want = cur.execute(REFERENCE[name]).fetchall()
    got_rel = cur.execute(library.get(name).text("sql"))
    got = got_rel.fetchall()
    assert _sorted(got) == _sorted(want)


def test_the_cases_exercise_the_rewritten_queries(sample_built: CaseFile, fixtures: CaseFile) -> None:
    """Equal empty answers prove little: most rewritten queries find rows in one of the cases."""
    found = set()
    for case in (sample_built, fixtures):
        cur = case.cursor()
        found |= {n for n in REFERENCE if cur.execute(library.get(n).text("sql")).fetchall()}
    assert len(found) >= len(REFERENCE) * 2 // 3, sorted(set(REFERENCE) - found)


@pytest.mark.parametrize("case_name", ["sample_built", "fixtures"])
def test_each_column_is_what_raw_json_gives(case_name: str, request: pytest.FixtureRequest) -> None:
    case: CaseFile = request.getfixturevalue(case_name)
    cur = case.cursor()
    assert raw_fields.is_current(cur) == (case_name == "sample_built")
    stored = cur.execute("SELECT count(*) FROM raw_fields_rows").fetchall()[0][0]
    assert (
        0 < stored < cur.execute("SELECT count(*) FROM raw_fields").fetchall()[0][0]
        or case_name == "sample_built"
    )
    for column, paths in raw_fields.FIELDS.items():
        sources = [s for s, cols in raw_fields.SOURCES.items() if column in cols]
        expr = f"coalesce({', '.join(f'raw->>{p!r}' for p in paths)})"
        if column in {"bytes_out"}:
            expr = f"TRY_CAST({expr} AS DOUBLE)"
        in_sources = ", ".join(f"'{s}'" for s in sources)
        stored_sql = f"f.{column}"
        if column in raw_fields.EXCEPT_FROM:
            # Stored only where it differs from the events column (flagged), which holds it elsewhere.
            other = raw_fields.EXCEPT_FROM[column]
            stored_sql = (
                f"CASE WHEN f.{column}_differs THEN f.{column} "
                f"WHEN source_type IN ({in_sources}) THEN events.{other} END"
            )
            wrong_flags = cur.execute(
                f"""SELECT count(*) FROM events LEFT JOIN raw_fields f USING (event_id)
                    WHERE f.{column}_differs IS DISTINCT FROM (CASE WHEN source_type IN ({in_sources})
                        AND ({expr}) IS DISTINCT FROM events.{other} THEN TRUE END)"""
            ).fetchall()[0][0]
            assert wrong_flags == 0, column
        bad = cur.execute(
            f"""SELECT count(*) FROM events LEFT JOIN raw_fields f USING (event_id)
                WHERE (CASE WHEN source_type IN ({in_sources}) THEN {expr} END) IS DISTINCT FROM {stored_sql}"""
        ).fetchall()[0][0]
        assert bad == 0, column
    # Sparse: a row only where some field is set.
    empty = cur.execute(
        "SELECT count(*) FROM raw_fields WHERE " + " AND ".join(f"{c} IS NULL" for c in raw_fields._COLUMNS)
    ).fetchall()[0][0]
    assert empty == 0
    want = cur.execute(
        "SELECT source_type, provider, log_name, count(*), sum(strlen(raw::VARCHAR)) FROM events GROUP BY ALL"
    ).fetchall()
    got = cur.execute(
        "SELECT source_type, provider, log_name, sum(events)::BIGINT, sum(raw_bytes) FROM raw_volume GROUP BY ALL"
    ).fetchall()
    assert _sorted(got) == _sorted(want)


def test_fields_of_a_failed_import_roll_back_with_it(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    import_paths(case, list((FORMATS / "aws_cloudtrail").glob("*.json.gz")))
    derived.update_deferred(case)
    cur = case.cursor()
    before = cur.execute("SELECT count(*) FROM raw_fields").fetchall()[0][0]
    with pytest.raises(RuntimeError), case.transaction(cur):
        cur.execute("INSERT INTO events SELECT * REPLACE (event_id + 1000000000 AS event_id) FROM events")
        assert (
            cur.execute("SELECT count(*) FROM raw_fields").fetchall()[0][0] == 2 * before
        )  # read from events
        derived.update_all(cur, deferred=True)
        assert cur.execute("SELECT count(*) FROM raw_fields").fetchall()[0][0] == 2 * before
        raise RuntimeError("the import fails after its derived update")
    assert cur.execute("SELECT count(*) FROM raw_fields").fetchall()[0][0] == before
    assert raw_fields.is_current(cur)


def test_a_case_without_the_tables_gets_a_clear_error(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "old.caseline")
    import_paths(case, list((FORMATS / "aws_cloudtrail").glob("*.json.gz")))
    cur = case.cursor()
    cur.execute("DROP VIEW raw_fields")  # as a case imported before raw_fields existed
    runner = QueryRunner(case)
    with pytest.raises(TranslationError, match=r"no raw_fields table yet.*caseline reindex"):
        runner.run("sql", library.get("aws_instances_launched").text("sql"))
    with pytest.raises(duckdb.Error):
        cur.execute("SELECT * FROM raw_fields")


def test_a_case_with_the_first_version_tables_is_rebuilt_with_views(tmp_path: Path) -> None:
    """Version 1 kept raw_fields / raw_volume as tables; the next write replaces them."""
    case = CaseFile.create(tmp_path / "v1.caseline")
    files = sorted((FORMATS / "aws_cloudtrail").glob("*.json.gz"))
    import_paths(case, files[:1])
    cur = case.cursor()
    want = cur.execute("SELECT * FROM raw_fields ORDER BY event_id").fetchall()
    assert want
    for name in ("raw_fields", "raw_volume"):
        cur.execute(f"CREATE TABLE {name}_v1 AS SELECT * FROM {name}")
        cur.execute(f"DROP VIEW {name}")
        cur.execute(f"ALTER TABLE {name}_v1 RENAME TO {name}")
    cur.execute("DROP TABLE raw_fields_rows")
    cur.execute("UPDATE case_meta SET value = '1' WHERE key LIKE 'derived:raw_fields%'")
    derived.update_deferred(case)
    kinds = dict(cur.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert (kinds["raw_fields"], kinds["raw_volume"], kinds["raw_fields_rows"]) == (
        "VIEW",
        "VIEW",
        "BASE TABLE",
    )
    assert cur.execute("SELECT * FROM raw_fields ORDER BY event_id").fetchall() == want
    assert raw_fields.is_current(cur)


def test_an_unbuilt_tail_is_pending_work_until_the_deferred_build(tmp_path: Path) -> None:
    """The app and the CLI build deferred structures when `derived.pending` says so."""
    case = CaseFile.create(tmp_path / "p.caseline")
    import_paths(case, list((FORMATS / "aws_cloudtrail").glob("*.json.gz")))
    cur = case.cursor()
    derived.update_deferred(case)  # everything built...
    cur.execute("DELETE FROM raw_fields_state")  # ...then the raw fields lose their mark
    assert not raw_fields.is_current(cur) and derived.pending(cur)
    derived.update_deferred(case)
    assert raw_fields.is_current(cur) and not derived.pending(cur)


def test_a_deferred_build_can_be_limited_to_named_structures(tmp_path: Path) -> None:
    """`only` builds the structures named (benchmarks/query_workbench.py: no query reads the
    search index, the costliest of them) and leaves the others pending."""
    case = CaseFile.create(tmp_path / "p.caseline")
    import_paths(case, list((FORMATS / "aws_cloudtrail").glob("*.json.gz")))
    cur = case.cursor()
    assert not raw_fields.is_current(cur) and not search_index.is_ready(cur)
    assert set(derived.update_deferred(case, only=["raw_fields_build"])) == {"raw_fields_build"}
    assert raw_fields.is_current(cur) and not search_index.is_ready(cur) and derived.pending(cur)
