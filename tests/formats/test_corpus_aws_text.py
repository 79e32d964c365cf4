"""Real logs written by other projects (../shared/corpus): every VPC Flow Logs, S3 access log and
load balancer log file imports with nothing lost.

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

FORMATS = {"aws_vpc_flow", "aws_vpc_flow_parquet", "aws_s3_access", "aws_elb"}


FILES = files_detected_as(lambda s: s.name in FORMATS)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_text_file_imports_without_loss(path: Path, tmp_path: Path) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [path]).files
        c = f.counts
        assert f.reconciled
        assert c.seen > 0
        assert c.rejected == 0, f.warnings[:5]
        assert case.summary().events == c.kept
