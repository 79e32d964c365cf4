"""Real logs written by other projects (../shared/corpus): every GuardDuty, CloudWatch Logs,
Route 53 Resolver and CloudTrail Insights file imports with nothing lost.

The corpus is never copied into this repository; without it these tests skip and say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS
from support.corpus import files_detected_as

from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.formats import (
    aws_cloudtrail_insights,
    aws_cloudwatch_logs,
    aws_guardduty,
    aws_route53_resolver,
)

OUR_FORMATS = {
    spec.name
    for module in (aws_guardduty, aws_cloudwatch_logs, aws_route53_resolver, aws_cloudtrail_insights)
    for spec in module.SPECS
}


FILES = files_detected_as(lambda s: s.name in OUR_FORMATS)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.skipif(
    CORPUS.is_dir() and not FILES, reason="the corpus holds no GuardDuty/CWL/Route 53/Insights file"
)
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file_imports_without_loss(path: Path, tmp_path: Path) -> None:
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [path]).files
        c = f.counts
        assert f.reconciled
        assert c.seen > 0
        # CloudWatch Logs control messages are not events: the only rejection allowed, and named.
        control = sum("CONTROL_MESSAGE" in w for w in f.warnings)
        assert c.rejected == control, [w for w in f.warnings if "CONTROL_MESSAGE" not in w][:5]
        assert case.summary().events == c.kept
