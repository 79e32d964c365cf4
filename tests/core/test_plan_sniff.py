"""Planning many files sniffs them in worker processes: the plan must be the one a single process
makes, file for file (format, every claimant in order, notes)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from viewer.core import ingest, plan_sniff

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"


def _plan(paths: list[Path], parallel_from: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    monkeypatch.setattr(plan_sniff, "PARALLEL_FROM", parallel_from)
    plan = ingest.plan_import(paths)
    try:
        return [
            (pf.source.display_path, pf.spec.name if pf.spec else None, pf.candidates, pf.notes, pf.role)
            for pf in plan.files
        ]
    finally:
        plan.cleanup()


def test_workers_plan_every_sample_as_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every format's samples, gzipped copies, an empty file, a non-UTF-8 file, an unknown text
    # file and an archive (not sniffed: its members are).
    evidence = tmp_path / "evidence"
    shutil.copytree(FORMATS, evidence, ignore=shutil.ignore_patterns("expected*"))
    for sample in sorted(evidence.rglob("sample*"))[:20]:
        if sample.is_file() and sample.suffix != ".gz":
            (sample.parent / (sample.name + ".copy.gz")).write_bytes(gzip.compress(sample.read_bytes()))
    (evidence / "empty.json").write_bytes(b"")
    (evidence / "latin1.log").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (evidence / "notes.txt").write_text("nothing to see here\n")
    shutil.make_archive(str(tmp_path / "bundle"), "zip", FORMATS / "aws_cloudtrail")
    paths = [evidence, tmp_path / "bundle.zip"]

    one = _plan(paths, 10**9, monkeypatch)
    assert len(one) > 60
    assert any(role == "container" for *_, role in one) and any(role == "unknown" for *_, role in one)
    assert any("file is empty" in notes for _, _, _, notes, _ in one)
    assert any("Windows-1252" in " ".join(notes) for _, _, _, notes, _ in one)
    # Sniffed by the workers (a failed worker would fall back to one process: same plan).
    answered: list[int] = []
    real_run = subprocess.run

    def run(*args: object, **kwargs: object) -> subprocess.CompletedProcess:
        done = real_run(*args, **kwargs)  # type: ignore[call-overload]
        answered.append(done.returncode)
        return done

    monkeypatch.setattr(plan_sniff.subprocess, "run", run)
    assert _plan(paths, 1, monkeypatch) == one
    assert answered == [0] * plan_sniff.WORKERS


def test_a_failing_pool_falls_back_to_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FORMATS / "aws_vpc_flow", tmp_path / "vpc")
    one = _plan([tmp_path / "vpc"], 10**9, monkeypatch)

    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("no processes in this sandbox")

    monkeypatch.setattr(plan_sniff.subprocess, "run", no_processes)
    assert _plan([tmp_path / "vpc"], 1, monkeypatch) == one
    # A worker that fails (here: a program that only exits with an error) changes nothing either.
    monkeypatch.undo()
    monkeypatch.setattr(plan_sniff, "_PYTHON", shutil.which("false"))
    assert _plan([tmp_path / "vpc"], 1, monkeypatch) == one


def test_an_answer_naming_a_format_unknown_here_falls_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers know a format this process does not (one saved meanwhile, here: one left out
    of the list): the files are sniffed again here, each once, none twice."""
    from viewer.core.sources import discover
    from viewer.formats import registry

    shutil.copytree(FORMATS / "aws_vpc_flow", tmp_path / "vpc")
    shutil.copytree(FORMATS / "aws_cloudtrail", tmp_path / "trail")
    files = discover([tmp_path / "trail", tmp_path / "vpc"]).files  # the unknown name comes last
    specs = [s for s in registry.all_specs() if s.name != "aws_vpc_flow"]

    def unknown(name: str) -> None:
        raise registry.UnknownFormatError(name)

    monkeypatch.setattr(plan_sniff.registry, "get", unknown)
    monkeypatch.setattr(plan_sniff, "PARALLEL_FROM", 1)
    got = list(plan_sniff.sniff_files(files, specs))
    monkeypatch.setattr(plan_sniff, "PARALLEL_FROM", 10**9)
    here = list(plan_sniff.sniff_files(files, specs))
    assert len(got) == len(files) and [[s.name for s in g.found] for g in got if g is not None] == [
        [s.name for s in h.found] for h in here if h is not None
    ]
