"""Real logs written by other projects (../shared/corpus): every VPC Flow Logs, S3 access log and
load balancer log file imports with nothing lost.

The corpus is never copied into this repository; on a machine without it these tests skip and
say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.sources import archive_kind, read_head
from viewer.formats import registry

FORMATS = {"aws_vpc_flow", "aws_vpc_flow_parquet", "aws_s3_access", "aws_elb"}


def _text_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = []
    for p in sorted(CORPUS.rglob("*")):
        if not p.is_file() or p.name.startswith(".") or archive_kind(p):
            continue
        spec = registry.detect(read_head(p)[0])
        if spec is not None and spec.name in FORMATS:
            found.append(p)
    return found


FILES = _text_files()


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
