"""The issuing records and EC2 calls parsed from an import's stage (import_picks) give the
correlation tables that reading them back from `raw` gives, for files read through the stage and
files read otherwise (JSON lines) in one import, and for a case rebuilt later without a stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

from entities import stories
from viewer.core.case_file import CaseFile
from viewer.core.entities import builder, import_picks, raw_picks
from viewer.core.ingest import import_paths

TABLES = ("credential_issue", "instance_launch", "net_binding", "credential_actor", "principal_actor")


def _create_key() -> dict[str, Any]:
    return stories.ct(
        "e-create-key",
        "2024-05-01T09:30:00Z",
        stories._user(),
        "iam.amazonaws.com",
        "CreateAccessKey",
        params={"userName": "backdoor"},
        response={
            "accessKey": {"accessKeyId": "AKIABACKDOOR0000001", "userName": "backdoor", "status": "Active"}
        },
    )


def _tables(cur) -> dict[str, list[tuple]]:
    return {t: sorted(cur.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def test_picks_from_the_stage_equal_picks_from_raw(tmp_path: Path) -> None:
    arrays = [
        stories.write_cloudtrail(
            tmp_path / "s3" / "a.json", [stories.assume_role_with_source_identity(), _create_key()]
        ),
        stories.write_cloudtrail(tmp_path / "s3" / "b.json", stories.session_calls()),
    ]
    lines = tmp_path / "lines" / "hop.jsonl"  # not read through a stage: its picks come from raw
    lines.parent.mkdir()
    lines.write_text("".join(json.dumps(r) + "\n" for r in stories.cross_account_assume()))
    case = CaseFile.create(tmp_path / "c.caseline")
    cur = case.cursor()
    captures = mock.patch.object(import_picks, "capture", wraps=import_picks.capture)
    creates = mock.patch.object(raw_picks, "create", wraps=raw_picks.create)
    with captures as capture, creates as create:
        import_paths(case, [*arrays, lines])
    assert capture.call_count >= 1
    covered = create.call_args.args[2][1]  # the runs of files whose picks were captured
    files = dict(cur.execute("SELECT rel_path, evidence_id FROM evidence").fetchall())
    captured = {name for name, e in files.items() if any(a <= e <= b for a, b in covered)}
    assert captured == {"a.json", "b.json"}
    got = _tables(cur)
    assert got["credential_issue"] and got["instance_launch"] and got["net_binding"]
    assert {r[0] for r in got["credential_issue"]} == {
        stories.SESSION_KEY,
        stories.AUDIT_KEY,
        "AKIABACKDOOR0000001",
    }
    # the same import's tables built from scratch, every pick read from raw
    cur.execute("DELETE FROM entity_state")
    builder.update(cur)
    assert _tables(cur) == got
    assert cur.execute(
        f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{import_picks.PICKS}'"
    ).fetchall() == [(0,)]


def test_a_dropped_duplicate_leaves_no_pick_behind(tmp_path: Path) -> None:
    """The stage is parsed before the import drops identical records: the pick of a duplicate
    issuing record must not reach the tables (one issuing row per key, as from raw)."""
    records = [stories.assume_role_with_source_identity(), _create_key()]
    arrays = [
        stories.write_cloudtrail(tmp_path / "s3" / "a.json", records),
        # the same records again, in a file of its own (another record makes it another file)
        stories.write_cloudtrail(tmp_path / "s3" / "b.json", [*records, *stories.session_calls()[:1]]),
    ]
    case = CaseFile.create(tmp_path / "c.caseline")
    cur = case.cursor()
    summary = import_paths(case, arrays)
    assert summary.total("duplicate") == len(records)
    got = _tables(cur)
    keys = [r[0] for r in got["credential_issue"]]
    assert sorted(keys) == sorted({stories.SESSION_KEY, "AKIABACKDOOR0000001"})
    cur.execute("DELETE FROM entity_state")
    builder.update(cur)
    assert _tables(cur) == got
