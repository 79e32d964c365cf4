"""Cases written by an older Caseline: refused read-only with a way out, upgraded copies that leave
the original byte-identical, in-place upgrades from the CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
from support.old_cases import schema_1_case

from viewer.cli import main
from viewer.core.case_file import (
    CaseError,
    CaseFile,
    CaseNeedsUpgradeError,
    CaseVersionError,
    schema_version_of,
)
from viewer.core.case_upgrade import upgraded_copy
from viewer.core.jobs import Cancelled, CancelToken, JobContext
from viewer.core.migrations import SCHEMA_VERSION


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_only_open_of_an_older_case_is_refused_naming_the_way_out(tmp_path: Path) -> None:
    old = schema_1_case(tmp_path / "old.caseline")
    before = _sha(old)
    with pytest.raises(CaseNeedsUpgradeError) as err:
        CaseFile.open(old, read_only=True)
    assert err.value.version == 1 and err.value.path == old
    assert "caseline upgrade CASE --to COPY" in str(err.value)
    assert _sha(old) == before
    # The refused open released the file: a writer can open it at once.
    with CaseFile.open(old) as case:
        assert case.summary().schema_version == SCHEMA_VERSION


def test_an_upgraded_copy_reads_like_the_original_which_stays_untouched(tmp_path: Path) -> None:
    old = schema_1_case(tmp_path / "old.caseline")
    before = _sha(old)
    seen = []
    done = upgraded_copy(old, tmp_path / "copies" / "c.caseline", JobContext(on_progress=seen.append))
    assert _sha(old) == before and schema_version_of(old) == 1
    assert (done.source_sha256, done.from_version, done.to_version) == (before, 1, SCHEMA_VERSION)
    assert seen and seen[-1].bytes_done == seen[-1].bytes_total == old.stat().st_size
    with CaseFile.open(done.copy, read_only=True) as case:
        cur = case.cursor()
        assert cur.execute("SELECT action, raw->>'$.a' FROM events").fetchall() == [("GetObject", "1")]
        [(detail,)] = cur.execute("SELECT detail FROM activity_log WHERE action = 'upgraded_copy'").fetchall()
    assert before in str(detail) and str(old) in str(detail)
    assert before in done.describe()


def test_a_copy_never_replaces_a_file_and_a_cancelled_copy_leaves_nothing(tmp_path: Path) -> None:
    old = schema_1_case(tmp_path / "old.caseline")
    taken = tmp_path / "taken.caseline"
    taken.write_bytes(b"keep me")
    with pytest.raises(CaseError, match="already exists"):
        upgraded_copy(old, taken)
    assert taken.read_bytes() == b"keep me"
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        upgraded_copy(old, tmp_path / "cancelled.caseline", JobContext(token))
    assert not (tmp_path / "cancelled.caseline").exists()


def test_a_newer_case_is_not_copied(tmp_path: Path) -> None:
    path = tmp_path / "new.caseline"
    CaseFile.create(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE case_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(CaseVersionError):
        upgraded_copy(path, tmp_path / "copy.caseline")
    assert not (tmp_path / "copy.caseline").exists()


def test_cli_upgrade_to_a_copy_then_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = schema_1_case(tmp_path / "old.caseline")
    before = _sha(old)
    assert main(["query", "--read-only", str(old), "SELECT 1"]) == 2
    assert "upgrade" in capsys.readouterr().err
    assert main(["upgrade", str(old), "--to", str(tmp_path / "copy.caseline")]) == 0
    assert before in capsys.readouterr().out and _sha(old) == before
    assert main(["query", "--read-only", str(tmp_path / "copy.caseline"), "SELECT count(*) FROM events"]) == 0
    assert "1" in capsys.readouterr().out
    assert main(["upgrade", str(old)]) == 0
    assert f"case schema 1 -> {SCHEMA_VERSION}" in capsys.readouterr().out
    assert schema_version_of(old) == SCHEMA_VERSION
    assert main(["upgrade", str(old)]) == 0
    assert "up to date" in capsys.readouterr().out
