"""The CLI contract, run as a user runs it: a subprocess on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from viewer.formats import custom_store
from viewer.formats.custom import CustomFormat, Shape
from viewer.formats.timeparse import TimeFormat, TimeSpec

DATA = Path(__file__).resolve().parent / "data" / "formats"


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The subprocesses inherit a private config folder: the user's custom formats stay out."""
    monkeypatch.setenv(custom_store.CONFIG_ENV, str(tmp_path / "config"))
    return tmp_path / "config" / "formats"


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
    q = caseline(
        "query", case, "SELECT key FROM case_meta WHERE key LIKE 'derived:%' ORDER BY 1", "--format", "csv"
    )
    assert q.stdout.splitlines()[1:] == [
        "derived:entities",
        "derived:page_anchors",
        "derived:raw_fields",
        "derived:raw_fields_build",
        "derived:search_index",
        "derived:timeline_rollup",
    ]


VPN_CSV = (
    "Timestamp,User,Client IP,Action,Result\n"
    "2024-05-01 10:00:00,alice,192.0.2.10,login,OK\n"
    "2024-05-01 10:05:00,bob,198.51.100.7,login,DENIED\n"
    "yesterday,carol,203.0.113.5,logout,ok\n"
)


def _save_vpn(name: str = "vpn") -> None:
    custom_store.save(
        CustomFormat(
            name=name,
            shape=Shape.CSV,
            time_field="Timestamp",
            time=TimeSpec(TimeFormat.ISO8601, "+02:00"),
            sniff_keys=("Timestamp", "User", "Client IP", "Action", "Result"),
            fields={"principal_name": "User", "src_ip": "Client IP", "action": "Action", "outcome": "Result"},
            title="VPN export",
        )
    )


def test_formats_lists_built_in_and_custom_formats_with_their_reader(config_dir: Path) -> None:
    _save_vpn()
    config_dir.joinpath("broken.toml").write_text("caseline_custom_format = 1\n")
    r = caseline("formats", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    by_name = {f["name"]: f for f in out["formats"]}
    assert by_name["custom:vpn"]["origin"] == "custom" and by_name["custom:vpn"]["reader"] == "csv"
    assert by_name["custom:vpn"]["columns"] == [
        "ts",
        "source_type",
        "provider",
        "action",
        "outcome",
        "principal_name",
        "src_ip",
    ]
    ct = by_name["aws_cloudtrail"]
    assert (ct["origin"], ct["reader"], ct["records_path"], ct["provider"]) == (
        "built-in",
        "document",
        "$.Records",
        "aws",
    )
    assert out["custom_formats_dir"] == str(config_dir)
    [problem] = out["custom_format_problems"]
    assert str(config_dir / "broken.toml") in problem and "missing 'reader'" in problem
    text = caseline("formats")
    assert text.returncode == 0
    vpn_line = next(line for line in text.stdout.splitlines() if line.startswith("custom:vpn "))
    assert vpn_line.split()[1:5] == ["vpn", "other", "csv", "custom"]
    assert "broken.toml" in text.stderr


def test_import_with_a_custom_format_detected_or_forced(tmp_path: Path) -> None:
    _save_vpn()
    log = tmp_path / "vpn.csv"
    log.write_text(VPN_CSV)
    case = str(tmp_path / "c.caseline")
    r = caseline("import", case, str(log), "--no-search-index")
    assert r.returncode == 0, r.stderr
    assert f"{log}: custom:vpn  seen 3 = kept 2 + rejected 1 + duplicate 0" in r.stdout
    q = caseline(
        "query", case, "SELECT ts, principal_name, outcome FROM events ORDER BY ts", "--format", "csv"
    )
    assert q.stdout.splitlines()[1:] == [
        "2024-05-01T08:00:00+00:00,alice,success",
        "2024-05-01T08:05:00+00:00,bob,failure",
    ]
    other = tmp_path / "other.csv"
    other.write_text(VPN_CSV.replace("Client IP", "Address"))  # not claimed by the sniff
    r = caseline(
        "import", str(tmp_path / "d.caseline"), str(other), "--format", "custom:vpn", "--no-search-index"
    )
    assert r.returncode == 0 and "custom:vpn  seen 3 = kept 2" in r.stdout


def test_missing_custom_format_is_an_error_naming_the_folder(tmp_path: Path, config_dir: Path) -> None:
    log = tmp_path / "vpn.csv"
    log.write_text(VPN_CSV)
    r = caseline("import", str(tmp_path / "c.caseline"), str(log), "--format", "custom:nope")
    assert r.returncode == 2 and "no custom format 'nope'" in r.stderr and str(config_dir) in r.stderr


def test_a_tie_between_formats_is_reported_with_the_choice_made(tmp_path: Path) -> None:
    _save_vpn("vpn_a")
    _save_vpn("vpn_b")
    log = tmp_path / "vpn.csv"
    log.write_text(VPN_CSV)
    r = caseline("import", str(tmp_path / "c.caseline"), str(log), "--no-search-index")
    assert r.returncode == 0
    assert f"note: {log}: matches custom:vpn_a, custom:vpn_b equally; read as custom:vpn_a" in r.stderr


def test_unknown_file_lists_custom_formats_among_the_known_ones(tmp_path: Path) -> None:
    _save_vpn()
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    r = caseline("import", str(tmp_path / "c.caseline"), str(notes))
    assert r.returncode == 1 and "unknown format" in r.stderr and "custom:vpn" in r.stderr


def test_a_terminal_sees_planning_then_import_progress(tmp_path: Path) -> None:
    """On a terminal (a pseudo-terminal here), the progress line counts the files found and the
    files looked at before the import's own progress: a bucket of small files takes a while to
    plan. Each line is written over the last, padded so no longer line shows through."""
    import os
    import pty

    folder = tmp_path / "trail"
    folder.mkdir()
    for i in range(40):
        records = [
            {
                "eventVersion": "1.08",
                "eventTime": f"2024-05-01T10:{i:02d}:0{k}Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject",
                "eventID": f"{i:08d}-0000-4000-8000-00000000000{k}",
            }
            for k in range(3)
        ]
        (folder / f"f{i:02d}.json").write_text(json.dumps({"Records": records}))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "viewer.cli", "import", str(tmp_path / "c.caseline"), str(folder)],
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    lines = shown.decode().split("\r")
    assert any("finding files: " in line for line in lines)
    assert any("detecting formats: 40 of 40 files" in line for line in lines)
    planned = max(i for i, line in enumerate(lines) if "detecting formats" in line)
    importing = [line for line in lines[planned + 1 :] if " rec " in line]
    assert importing and "files 40/40" in importing[-1] and "120 rec" in importing[-1]
    # The progress line's versions (the terminal ends the line with \r\n: an empty last one).
    written = [w for w in shown.decode().split("\n")[0].split("\r") if w]
    assert all(
        len(later) >= len(earlier.rstrip()) for earlier, later in zip(written, written[1:], strict=False)
    )
