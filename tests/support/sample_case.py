"""The bundled sample case, generated and imported for tests that need real evidence.

`build_sample_case(root)` imports the CloudTrail bucket only (what most tests count against
truth.json's CloudTrail figures); `network=True` imports the network evidence beside it (VPC flow
logs and GuardDuty findings), as `make sample` does. `shared_network_case` builds that full case
once per test session for read-only tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from viewer.core.case_file import CaseFile
from viewer.core.ingest import ImportReport, import_paths

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "sample_cases" / "generate_aws_incident.py"


def build_sample_case(root: Path, network: bool = False) -> tuple[CaseFile, dict]:
    """Generate the evidence under `root`, import it into a new case; return the case and its truth."""
    case, truth, _ = build_sample_case_with_report(root, network)
    return case, truth


def build_sample_case_with_report(root: Path, network: bool = False) -> tuple[CaseFile, dict, ImportReport]:
    evidence, network_evidence = root / "evidence", root / "network_evidence"
    truth_path = root / "truth.json"
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--out",
            str(evidence),
            "--network-out",
            str(network_evidence),
            "--truth",
            str(truth_path),
        ],
        check=True,
        capture_output=True,
    )
    case = CaseFile.create(root / "sample.caseline")
    report = import_paths(case, [evidence, network_evidence] if network else [evidence])
    assert all(f.reconciled for f in report.files)
    return case, json.loads(truth_path.read_text()), report


_SHARED: dict[str, tuple[CaseFile, dict, ImportReport, Path]] = {}


def shared_network_case(factory: pytest.TempPathFactory) -> tuple[CaseFile, dict, ImportReport, Path]:
    """The full sample case (CloudTrail + network), built once per session: (case, truth, the
    import's report, the folder holding evidence/ and network_evidence/). Read it, never write."""
    if "case" not in _SHARED:
        root = factory.mktemp("sample_network")
        _SHARED["case"] = (*build_sample_case_with_report(root, network=True), root)
    return _SHARED["case"]
