"""Real logs written by other projects (../shared/corpus): every GCP, Kubernetes, OTLP and ECS file
the corpus holds imports with nothing lost.

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
from viewer.formats import ecs_json, gcp_audit, gcp_vpc_flow, k8s_audit, otel_logs

FAMILY = {s.name for m in (gcp_audit, gcp_vpc_flow, k8s_audit, otel_logs, ecs_json) for s in m.SPECS}


FILES = files_detected_as(lambda s: s.name in FAMILY)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.skipif(CORPUS.is_dir() and not FILES, reason="the corpus holds no GCP/k8s/OTLP/ECS files")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file_imports_without_loss(path: Path, tmp_path: Path) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        report = import_paths(case, [path])
        [f] = report.files
        c = f.counts
        assert f.format in FAMILY
        assert f.reconciled
        assert c.seen > 0
        assert c.rejected == 0, f.warnings[:5]
        assert case.summary().events == c.kept
