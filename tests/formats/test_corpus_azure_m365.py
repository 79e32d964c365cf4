"""Real logs written by other projects (../shared/corpus): every Azure Activity, Entra ID and
Microsoft 365 audit file imports with nothing lost.

The corpus is never copied into this repository; on a machine without it these tests skip and
say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS
from support.corpus import files_detected_as

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

SOURCE_TYPES = {"azure_activity", "entra_signin", "entra_audit", "m365_ual"}


FILES = files_detected_as(lambda s: s.source_type in SOURCE_TYPES)
ABSENT = f"shared corpus not present at {CORPUS}"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=ABSENT)
@pytest.mark.skipif(CORPUS.is_dir() and not FILES, reason="the corpus holds no Azure / Entra / M365 files")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file_imports_without_loss(path: Path, tmp_path: Path) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [path])
        [f] = report.files
        c = f.counts
        assert f.reconciled
        assert c.seen > 0
        assert c.rejected == 0, f.warnings[:5]
        assert case.summary().events == c.kept
