"""Planning many files sniffs them in worker processes: the plan must be the one a single process
makes, file for file (format, every claimant in order, notes)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from viewer.core import ingest, plan_sniff
from viewer.core.jobs import Cancelled, CancelToken, JobContext, Progress

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
    workers = _record_workers(monkeypatch)
    assert _plan(paths, 1, monkeypatch) == one
    assert [w.returncode for w in workers] == [0] * plan_sniff.WORKERS


def _record_workers(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen]:
    """The worker processes started from now on, as they are started."""
    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen:
        proc = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        started.append(proc)
        return proc

    monkeypatch.setattr(plan_sniff.subprocess, "Popen", popen)
    return started


def test_a_failing_pool_falls_back_to_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FORMATS / "aws_vpc_flow", tmp_path / "vpc")
    one = _plan([tmp_path / "vpc"], 10**9, monkeypatch)

    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("no processes in this sandbox")

    monkeypatch.setattr(plan_sniff.subprocess, "Popen", no_processes)
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


def _tree_of_files(root: Path, n: int) -> Path:
    """`n` small CloudTrail files and a zip of some of them (unpacked when planned)."""
    sample = next((FORMATS / "aws_cloudtrail").glob("*.json.gz")).read_bytes()
    folder = root / "trail"
    for i in range(n):
        day = folder / f"{i // 100:03d}"
        day.mkdir(parents=True, exist_ok=True)
        (day / f"f{i:05d}.json.gz").write_bytes(sample)
    shutil.make_archive(str(folder / "bundle"), "zip", folder / "000")
    return folder


@pytest.mark.parametrize("parallel_from", [10**9, 1], ids=["threads", "workers"])
def test_planning_reports_files_found_then_files_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel_from: int
) -> None:
    folder = _tree_of_files(tmp_path, 800)
    seen: list[tuple[str, int, int | None]] = []
    ctx = JobContext(
        on_progress=lambda p: seen.append((p.phase, p.files_done, p.files_total)), min_interval=0
    )
    monkeypatch.setattr(plan_sniff, "PARALLEL_FROM", parallel_from)
    monkeypatch.setattr(plan_sniff, "PROGRESS_EVERY", 0.005)
    plan = ingest.plan_import([folder], ctx=ctx)
    try:
        files = len(plan.files)
        assert files == 800 + 1 + 100  # the files, the zip, its members
        assert all(
            pf.spec is not None and pf.spec.name == "aws_cloudtrail"
            for pf in plan.files
            if pf.source.container
        )
    finally:
        plan.cleanup()
    finding = [s for s in seen if s[0] == "finding files"]
    detecting = [s for s in seen if s[0] == "detecting formats"]
    assert seen.index(finding[-1]) < seen.index(detecting[0])  # one phase, then the other
    assert finding[-1][1] == files and all(total is None for *_, total in finding)
    assert [d for _, d, _ in finding] == sorted(d for _, d, _ in finding)
    assert detecting[0][1:] == (0, files) and all(total == files for *_, total in detecting)
    assert [d for _, d, _ in detecting] == sorted(d for _, d, _ in detecting)
    assert detecting[-1][1] == files
    # Seen on the way, not only at the end (the workers answer a line per file as they go).
    assert any(0 < d < files for _, d, _ in detecting)


@pytest.mark.parametrize("parallel_from", [10**9, 1], ids=["threads", "workers"])
@pytest.mark.parametrize("phase", ["finding files", "detecting formats"])
def test_a_cancelled_plan_stops_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel_from: int, phase: str
) -> None:
    folder = _tree_of_files(tmp_path, 300)
    unpacked = tmp_path / "tmp"
    unpacked.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(unpacked))  # where archives are unpacked
    monkeypatch.setattr(plan_sniff, "PARALLEL_FROM", parallel_from)
    workers = _record_workers(monkeypatch)
    token = CancelToken()
    seen: list[int] = []

    def progress(p: Progress) -> None:
        if p.phase == phase:
            seen.append(p.files_done)
            if p.files_done >= 150 or (p.phase == "detecting formats" and workers):
                token.cancel()

    with pytest.raises(Cancelled):
        ingest.plan_import([folder], ctx=JobContext(token, progress, min_interval=0))
    assert seen and max(seen) < 401  # stopped before the end
    assert list(unpacked.iterdir()) == []  # the zip's members were unpacked there, and removed
    assert all(w.poll() is not None for w in workers)  # no worker left running


def test_an_archive_is_counted_and_cancelled_member_by_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big archive is unpacked with the count going up per member (a nested archive's too), and
    a cancel stops it part way, its unpacked folder removed."""
    import zipfile

    from viewer.core.sources import discover

    sample = next((FORMATS / "aws_cloudtrail").glob("*.json.gz")).read_bytes()
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        for i in range(10):
            zf.writestr(f"inner/{i}.json.gz", sample)
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        for i in range(200):
            zf.writestr(f"AWSLogs/{i:03d}.json.gz", sample)
        zf.write(inner, "nested/inner.zip")
    counts: list[int] = []
    found = discover([outer], JobContext(on_progress=lambda p: counts.append(p.files_done), min_interval=0))
    try:
        assert len(found.files) == 1 + 200 + 1 + 10
        assert counts[-1] == len(found.files) and counts == sorted(counts) and len(set(counts)) > 200
    finally:
        found.cleanup()

    unpacked = tmp_path / "tmp"
    unpacked.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(unpacked))
    token = CancelToken()
    seen: list[int] = []

    def stop_at_twenty(p: Progress) -> None:
        seen.append(p.files_done)
        if p.files_done >= 20:
            token.cancel()

    with pytest.raises(Cancelled):
        discover([outer], JobContext(token, stop_at_twenty, min_interval=0))
    assert max(seen) == 20  # the next member was not unpacked
    assert list(unpacked.iterdir()) == []


def test_a_folder_is_listed_as_sorted_rglob_lists_it(tmp_path: Path) -> None:
    """The walk that lists a folder finds the files `sorted(rglob)` found, in its order (part by
    part: `a/x` before `a-b/x`, though `-` sorts before `/`), links to files followed, links to
    folders and broken links not."""
    import os

    from viewer.core.sources import _files_under

    root = tmp_path / "evidence"
    for rel in ["a/x.json", "a-b/x.json", "a/b/c/deep.log", ".hidden", "Z.txt", "z.txt", "m/ü.csv"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "elsewhere.json").write_text("{}")
    os.symlink(outside / "elsewhere.json", root / "link-to-file.json")
    os.symlink(outside, root / "link-to-folder")
    os.symlink(tmp_path / "missing", root / "broken-link")
    (root / "empty-folder").mkdir()

    expected = [
        (f, f.relative_to(root).as_posix(), f.stat().st_size)
        for f in sorted(x for x in root.rglob("*") if x.is_file())
    ]
    assert _files_under(root) == expected
    assert [rel for _, rel, _ in expected][:3] == [".hidden", "Z.txt", "a/b/c/deep.log"]
    assert "link-to-file.json" in [rel for _, rel, _ in expected]
    assert not any(rel.startswith(("link-to-folder", "broken")) for _, rel, _ in expected)


def test_a_plan_summary_counts_what_its_files_say(tmp_path: Path) -> None:
    """The summary a window shows (made in one pass, in the planner's thread) agrees with the
    files: roles, bytes of events (as total_bytes) and the unknown files in order."""
    evidence = tmp_path / "evidence"
    shutil.copytree(FORMATS / "aws_cloudtrail", evidence / "ct", ignore=shutil.ignore_patterns("expected*"))
    (evidence / "notes.txt").write_text("nothing to see here\n")
    (evidence / "zz-more-notes.txt").write_text("nor here\n")
    shutil.make_archive(str(tmp_path / "bundle"), "zip", evidence / "ct")
    plan = ingest.plan_import([evidence, tmp_path / "bundle.zip"])
    try:
        summary = plan.summary()
        roles = [pf.role for pf in plan.files]
        assert summary.roles == {role: roles.count(role) for role in set(roles)}
        assert {"events", "unknown", "container"} <= set(summary.roles)
        assert summary.events_bytes == sum(pf.source.size for pf in plan.files if pf.role == "events") > 0
        assert summary.unknown == [i for i, role in enumerate(roles) if role == "unknown"]
        assert [Path(plan.files[i].source.display_path).name for i in summary.unknown] == [
            "notes.txt",
            "zz-more-notes.txt",
        ]
    finally:
        plan.cleanup()
