"""Real logs written by other projects (../shared/corpus): every CloudTrail file imports, nothing lost.

The corpus is never copied into this repository; on a machine without it (a user's) these tests
skip and say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS
from support.corpus import files_detected_as

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths

CLOUDTRAIL = files_detected_as(lambda s: s.provider == "aws" and s.source_type.startswith("cloudtrail"))


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
def test_corpus_has_cloudtrail_files() -> None:
    assert CLOUDTRAIL, "the corpus holds CloudTrail samples; detection found none"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.parametrize("path", CLOUDTRAIL, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_cloudtrail_file_imports_without_loss(path: Path, tmp_path: Path) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [path])
        [f] = report.files
        c = f.counts
        assert f.reconciled
        assert c.seen > 0 or f.role == "digest"
        assert c.rejected == 0, f.warnings[:5]
        assert case.summary().events == c.kept
