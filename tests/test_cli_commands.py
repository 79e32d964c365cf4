"""The CLI commands added for queries, case work and entities, run as a user would (subprocess)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.sample_case import build_sample_case


def caseline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "viewer.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, Path]:
    root = tmp_path_factory.mktemp("cli")
    case, truth = build_sample_case(root)
    path = str(case.path)
    case.close()
    return path, truth, root / "evidence"


def test_query_in_kql_insights_library_and_show_sql(sample: tuple[str, dict, Path]) -> None:
    case, truth, _ = sample
    exfil = truth["exfiltration"]
    r = caseline(
        "query",
        case,
        "--lang",
        "kql",
        'AWSCloudTrail | where action == "GetObject" | summarize n = count() by principal_id',
        "--format",
        "json",
    )
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {"principal_id": exfil["principal_arn"], "n": exfil["get_object_count"]} in rows
    r = caseline(
        "query", case, "--library", "aws_s3_data_access_by_principal", "--lang", "insights", "--format", "csv"
    )
    assert r.returncode == 0 and exfil["bucket"] in r.stdout
    # What Logs Insights applied unasked goes to stderr, the rows stay clean on stdout
    r = caseline("query", case, "--lang", "insights", "fields eventName", "--format", "csv")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "eventName"
    assert "note: no limit: at most 10,000 rows" in r.stderr and "note:" not in r.stdout
    r = caseline("query", case, "--lang", "insights", "--show-sql", "fields eventName")
    assert r.stdout.startswith("-- no sort: most recent events first") and "\nSELECT " in r.stdout
    r = caseline("query", "--show-sql", "AWSCloudTrail | take 3", "--lang", "kql")
    assert r.returncode == 0 and "SELECT" in r.stdout and "LIMIT 3" in r.stdout.upper()
    r = caseline("query", "--library", "list")
    assert r.returncode == 0 and len(r.stdout.splitlines()) >= 40
    r = caseline("query", case, "--lang", "kql", "AWSCloudTrail | mv-expand x")
    assert r.returncode == 2 and "line 1, column" in r.stderr


def test_query_output_streams_every_row_and_is_logged_when_the_reader_stops(
    sample: tuple[str, dict, Path], tmp_path: Path
) -> None:
    """Rows are printed a batch at a time (the whole result held in memory took 2.9 GB for 1M
    events as CSV): every row of a result of several batches comes out, in order, and a reader
    that stops early (`| head`) still leaves the query in the activity log."""
    case = str(tmp_path / "c.caseline")
    shutil.copy(sample[0], case)
    n = 25_000  # two and a half of the CLI's batches
    sql = f"SELECT range AS i, 'x' || range AS s FROM range({n})"
    csv_out = caseline("query", case, sql, "--format", "csv")
    assert csv_out.returncode == 0, csv_out.stderr
    assert csv_out.stdout.splitlines() == ["i,s", *(f"{i},x{i}" for i in range(n))]
    json_out = caseline("query", case, sql, "--format", "json")
    assert [json.loads(line)["i"] for line in json_out.stdout.splitlines()] == list(range(n))
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "viewer.cli",
            "query",
            case,
            f"SELECT range AS i FROM range({10 * n})",
            "--format",
            "csv",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as head:
        assert head.stdout is not None
        first = [head.stdout.readline() for _ in range(3)]
        head.stdout.close()  # the reader is gone: the next writes fail with a broken pipe
        assert head.wait(60) == 0
    assert first == ["i\n", "0\n", "1\n"]
    logged = caseline(
        "query",
        case,
        "SELECT detail FROM activity_log WHERE action = 'query_run' ORDER BY logged_at",
        "--format",
        "json",
    )
    details = [json.loads(json.loads(line)["detail"]) for line in logged.stdout.splitlines()]
    details = [d for d in details if "FROM range(" in d["text"]]  # this test's, not the sample's
    assert [d["rows"] for d in details[:2]] == [n, n]
    assert details[2]["text"].endswith(f"range({10 * n})") and 0 < details[2]["rows"] < 10 * n


def test_verify_report_bundle_and_export(sample: tuple[str, dict, Path], tmp_path: Path) -> None:
    case, truth, evidence = sample
    r = caseline("verify", case, "--evidence", str(evidence))
    # The sample trail's digests carry stand-in signatures and a logging gap: never "verified".
    assert r.returncode == 1 and "NOT verified" in r.stdout
    assert "verify: verified" in r.stdout  # but every evidence file re-hashes unchanged
    out = tmp_path / "report.html"
    assert caseline("report", case, "-o", str(out)).returncode == 0
    assert "<html" in out.read_text().lower()
    copy = tmp_path / "copy.caseline"
    shutil.copy(case, copy)
    z = tmp_path / "case.zip"
    assert caseline("bundle", str(copy), "-o", str(z)).returncode == 0
    r = caseline("verify", str(z))
    assert r.returncode == 0 and "verified" in r.stdout
    csv_out = tmp_path / "exfil.csv"
    r = caseline("export", str(copy), "-o", str(csv_out), "--filter", "action:GetObject")
    assert r.returncode == 0
    lines = csv_out.read_text().splitlines()
    assert "evidence_sha256" in lines[0] and len(lines) > truth["exfiltration"]["get_object_count"]


def test_entities_and_pivot(sample: tuple[str, dict, Path], tmp_path: Path) -> None:
    case, truth, _ = sample
    copy = tmp_path / "c.caseline"
    shutil.copy(case, copy)
    r = caseline("entities", str(copy), "--kind", "ip", "--json")
    assert r.returncode == 0
    ips = {e["entity"] for e in json.loads(r.stdout)["entities"]}
    assert set(truth["attacker"]["ips"]) <= ips
    r = caseline("pivot", str(copy), "principal", "backup-admin", "--json")
    rep = json.loads(r.stdout)
    assert rep["matches"] == [truth["exfiltration"]["principal_arn"]]


def test_pivot_on_a_bucket_prints_its_sources_and_who_touched_it(sample: tuple[str, dict, Path]) -> None:
    case, truth, _ = sample
    exfil = truth["exfiltration"]
    r = caseline("pivot", case, "resource", exfil["bucket"], "--events", "1")
    assert r.returncode == 0, r.stderr
    # The bare name typed resolves to the bucket as the Target panel lists it: its ARN, whose
    # scope holds the bare name and the objects too.
    assert f"target_id: arn:aws:s3:::{exfil['bucket']}\n" in r.stdout
    assert f"filter: resource:arn:aws:s3:::{exfil['bucket']}" in r.stdout
    assert re.search(r"^  cloudtrail: [\d,]+ events, [\d,]+ failures, ", r.stdout, re.MULTILINE)
    assert f"touched by {exfil['principal_arn']}: GetObject ×{exfil['get_object_count']:,}" in r.stdout
    # A resource has many actors: no single "actor:" line claims one of them.
    assert "\nactor:" not in r.stdout
