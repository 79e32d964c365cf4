"""Cases the KQL conformance suite runs on, built with the project's real import code.

`sample`: the bundled AWS incident (sample_cases/generate_aws_incident.py) imported by
core.ingest, so every column is filled the way a real CloudTrail import fills it.
`multi`: a small synthetic multi-source case (tests/support/synthetic_case.py), for the tables
other than AWSCloudTrail (AzureActivity, KubernetesAudit ...).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.synthetic_case import build_synthetic_case

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "sample_cases" / "generate_aws_incident.py"


def build_sample_case(root: Path) -> CaseFile:
    evidence = root / "evidence"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(evidence), "--truth", str(root / "truth.json")],
        check=True,
        capture_output=True,
    )
    case = CaseFile.create(root / "sample.caseline")
    report = import_paths(case, [evidence])
    assert all(f.reconciled for f in report.files)
    return case


def build_multi_source_case(root: Path) -> CaseFile:
    path = build_synthetic_case(root / "multi.caseline", 3_000, seed=11)
    return CaseFile.open(path)
