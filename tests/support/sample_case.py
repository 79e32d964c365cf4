"""The bundled sample case, generated and imported for tests that need real CloudTrail evidence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "sample_cases" / "generate_aws_incident.py"


def build_sample_case(root: Path) -> tuple[CaseFile, dict]:
    """Generate the evidence under `root`, import it into a new case; return the case and its truth."""
    evidence = root / "evidence"
    truth_path = root / "truth.json"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(evidence), "--truth", str(truth_path)], check=True
    )
    case = CaseFile.create(root / "sample.caseline")
    report = import_paths(case, [evidence])
    assert all(f.reconciled for f in report.files)
    return case, json.loads(truth_path.read_text())
