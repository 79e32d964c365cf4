"""The CLI contract, run as a user runs it: a subprocess on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "formats"


def sample(name: str) -> str:
    return str(next(p for p in (DATA / name).iterdir() if p.name != "expected.json"))


def caseline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "viewer.cli", *args], capture_output=True, text=True)


def test_new_import_info_query(tmp_path: Path) -> None:
    case = str(tmp_path / "c.caseline")
    assert caseline("new", case).returncode == 0
    r = caseline("import", case, sample("aws_cloudtrail"), sample("aws_cloudtrail_digest"))
    assert r.returncode == 0, r.stderr
    assert "aws_cloudtrail  seen 3 = kept 3 + rejected 0 + duplicate 0" in r.stdout
    assert "digest recorded in the ledger" in r.stdout
    assert "search index: up to date" in r.stdout  # built after the import committed
    info = json.loads(caseline("info", case, "--json").stdout)
    assert info["events"] == 3 and info["sources"] == {"cloudtrail": 3}
    assert [row["role"] for row in info["ledger"]] == ["events", "digest"]
    assert info["first_ts"].endswith("+00:00")
    q = caseline(
        "query", case, "SELECT action, count(*) AS n FROM events GROUP BY ALL ORDER BY 1", "--format", "csv"
    )
    assert q.stdout.splitlines() == ["action,n", "ConsoleLogin,1", "DeleteBucketPolicy,1", "StartLogging,1"]
    j = caseline(
        "query",
        case,
        "SELECT raw->>'$.userIdentity.arn' AS arn FROM events WHERE action = 'StartLogging'",
        "--format",
        "json",
        "--read-only",
    )
    assert json.loads(j.stdout) == {"arn": "arn:aws:iam::123456789012:user/Mary_Major"}


def test_errors_go_to_stderr_with_nonzero_exit(tmp_path: Path) -> None:
    case = str(tmp_path / "c.caseline")
    caseline("new", case)
    r = caseline("query", case, "DELETE FROM events", "--read-only")
    assert r.returncode != 0 and "read-only" in r.stderr.lower()
    r = caseline("import", case, str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such file" in r.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    r = caseline("import", case, str(notes))
    assert r.returncode == 1 and "unknown format" in r.stderr and "aws_cloudtrail" in r.stderr
    r = caseline("import", case, str(notes), "--format", "nope")
    assert r.returncode == 2 and "unknown format 'nope'" in r.stderr
    assert caseline("new", case).returncode == 2  # exists already


def test_reindex_builds_derived_tables(tmp_path: Path) -> None:
    case = str(tmp_path / "c.caseline")
    assert caseline("import", case, sample("aws_cloudtrail"), "--no-search-index").returncode == 0
    r = caseline("reindex", case)
    assert r.returncode == 0 and "timeline_rollup: up to date" in r.stdout
    q = caseline("query", case, "SELECT key FROM case_meta WHERE key LIKE 'derived:%' ORDER BY 1", "--format", "csv")
    assert q.stdout.splitlines()[1:] == ["derived:page_anchors", "derived:search_index", "derived:timeline_rollup"]
