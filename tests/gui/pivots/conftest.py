"""One real multi-source case for the pivot GUI tests: the bundled AWS incident (three accounts,
role chains across them, a leaked key) plus the network story of `tests/entities/stories.py`
(CloudTrail, VPC flow, GuardDuty and Entra sign-ins sharing the attacker's address)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from entities import stories
from support.sample_case import build_sample_case

from viewer.core.entities import builder
from viewer.core.ingest import import_paths

FORMATS = Path(__file__).resolve().parents[2] / "data" / "formats"


@pytest.fixture(scope="session")
def pivot_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(case path, truth of the sample incident); entity tables current."""
    root = tmp_path_factory.mktemp("pivot_case")
    case, truth = build_sample_case(root)
    ev = root / "network"
    ev.mkdir()
    stories.write_cloudtrail(ev / "cloudtrail.json", [stories.assume_role(), *stories.session_calls()])
    stories.write_flow_log(ev / f"{stories.ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b_20240501T1010Z_a1.log")
    stories.write_guardduty(ev / "finding.json", FORMATS / "aws_guardduty_finding" / "finding.json")
    stories.write_entra_signin(ev / "signins.json", FORMATS / "entra_signin" / "signIns-page-1.json")
    import_paths(case, [ev])
    cur = case.cursor()
    if not builder.is_ready(cur):  # the import builds them once the builder is registered in derived
        with case.transaction(cur):
            builder.update(cur)
    case.close()
    (root / "truth.json").write_text(json.dumps(truth))
    return root / "sample.caseline", truth


@pytest.fixture
def pivot_sql(pivot_case: tuple[Path, dict]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An independent read-only connection for expected values."""
    con = duckdb.connect(str(pivot_case[0]), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


@pytest.fixture
def stale_case(pivot_case: tuple[Path, dict], tmp_path: Path) -> Path:
    """A writable copy whose entity tables no longer match the events (an old case)."""
    path = tmp_path / "stale.caseline"
    shutil.copy(pivot_case[0], path)
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM entity_state")
    con.close()
    return path
