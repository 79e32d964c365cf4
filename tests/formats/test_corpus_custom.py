"""Real logs (../shared/corpus) that no built-in format claims, read through a custom format made
the way the Map fields dialog makes one (sample, suggested time field, guessed time format):
every record is accounted for (seen = kept + rejected + duplicate) and nothing is lost.

The corpus is never copied here; without it these tests skip and say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS
from support.corpus import heads

from viewer.core.case_file import CaseFile
from viewer.core.custom_formats import (
    SampleError,
    draft_format,
    read_sample,
    suggest_columns,
    suggest_time_field,
)
from viewer.core.ingest import import_paths
from viewer.formats import custom_store, registry
from viewer.formats.timeparse import guess

MAX_FILES = 40


def _unclaimed_tabular_files() -> list[Path]:
    found = []
    for p, head in heads():
        tabular = head.first_char in "[{" or "," in head.first_line or ";" in head.first_line
        if tabular and not [s for s in registry.candidates(head) if not registry.is_custom(s)]:
            found.append(p)
        if len(found) >= MAX_FILES:
            break
    return found


UNCLAIMED = _unclaimed_tabular_files()


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.parametrize("path", UNCLAIMED, ids=lambda p: str(p.relative_to(CORPUS)))
def test_generic_mapping_of_an_unclaimed_corpus_file_loses_nothing(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(custom_store.CONFIG_ENV, str(tmp_path / "config"))
    try:
        sample = read_sample(path)
    except SampleError as exc:
        pytest.skip(f"not a generic CSV/JSON log: {exc}")
    time_field = suggest_time_field(sample)
    spec = guess(sample.values(time_field)) if time_field else None
    if time_field is None or spec is None:
        pytest.skip("no field of the sample parses as a time")
    fmt = draft_format(sample, "corpus_file", time_field, spec, suggest_columns(sample, time_field))
    custom_store.save(fmt)
    with CaseFile.create(tmp_path / "c.caseline") as case:
        [f] = import_paths(case, [path], forced_format=fmt.spec_name).files
        c = f.counts
        assert f.reconciled
        assert c.seen > 0
        assert case.summary().events == c.kept
        lost = [w for w in f.warnings if "cells, the header has" in w or "invalid JSON" in w]
        assert not lost, lost[:5]
