"""A full disk is not bad evidence (viewer.core.write_space): the import stops at once with a
message that says so, takes back what it wrote, and sends no file to the salvage readers; the
scratch copies of records arrays go where there is room, or are not made at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.disk_limit import limited_cli
from tests.support.import_evidence import records, snapshot, taken_back_at_next_open, write_gz
from viewer.core import ingest
from viewer.core.array_extract import extract_arrays, scratch_dir
from viewer.core.case_file import CaseError, CaseFile
from viewer.core.ingest import import_paths
from viewer.core.write_space import ImportResourceError

REPO = Path(__file__).resolve().parents[2]


def _evidence(folder: Path, files: int, per_file: int) -> Path:
    for i in range(files):
        write_gz(folder / f"{i:02d}.json.gz", records(per_file, i * per_file))
    return folder


def test_temp_space_running_out_stops_the_import_and_leaves_the_case_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's temporary files limited to 1 MB (as a nearly full disk limits them) under a 192 MB
    write memory limit, which 80,000 records need to spill past (with room to spill they import:
    below). Before, the failure was taken for damaged evidence: the chunk's files were probed
    again and the error came back as a traceback about memory settings."""
    first = write_gz(tmp_path / "first.json.gz", records(5, 900_000))
    evidence = _evidence(tmp_path / "ev", files=8, per_file=10_000)
    case = CaseFile.create(tmp_path / "case.caseline")
    import_paths(case, [first])
    before = snapshot(case)
    probed: list[list[str]] = []
    real_probe = ingest.refused_files

    def probe(cur: object, paths: list[str]) -> set[str]:
        probed.append(paths)
        return real_probe(cur, paths)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "refused_files", probe)
    monkeypatch.setattr(ingest, "WRITE_MEMORY_LIMIT", "192MB")
    case.cursor().execute("SET max_temp_directory_size = '1MB'")

    with pytest.raises(ImportResourceError) as failed:
        import_paths(case, [evidence])

    assert isinstance(failed.value, CaseError)  # the CLI and the window show CaseErrors as they are
    message = str(failed.value)
    assert message.startswith(
        f"not enough disk space for the import: DuckDB could not write the case or its temporary files in {tmp_path}"
    ), message
    assert "Nothing was added to the case" in message and "max_temp_directory_size" not in message
    assert failed.value.taken_back
    assert probed == []
    assert snapshot(case) == before

    case.cursor().execute("RESET max_temp_directory_size")
    report = import_paths(case, [evidence])
    assert report.total("kept") == 80_000 and report.total("rejected") == 0
    assert not [w for f in report.files for w in f.warnings]


def test_scratch_copies_go_to_memory_only_where_there_is_room() -> None:
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        pytest.skip("no writable /dev/shm here: scratch copies always go to the temp folder")
    with scratch_dir() as small:
        assert Path(small).parent == shm
    with scratch_dir(need=2**62) as big:  # more than any /dev/shm holds
        assert Path(big).parent != shm and Path(big).is_dir()


_LIMITED_EXTRACT = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    from viewer.core.array_extract import extract_arrays
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    folder = Path(sys.argv[2])
    found = extract_arrays([(1, Path(sys.argv[1]))], "$.Records", folder)
    print(json.dumps({
        "arrays": [[f.array_path is not None, f.reason] for f in found],
        "left": sorted(p.name for p in folder.iterdir()),
    }))
    """
)


def _extract_with_file_size_limit(source: Path, folder: Path, limit: int) -> dict:
    folder.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", _LIMITED_EXTRACT, str(source), str(folder), str(limit)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_a_records_array_with_no_room_for_its_copy_goes_to_the_document_path(tmp_path: Path) -> None:
    """Writes past a file size limit fail as writes to a full disk do: the file is then read where
    it is (array_path None), and no partial copy is left behind; a smaller file is still copied."""
    small = write_gz(tmp_path / "small.json.gz", records(20))  # ~22 KB of JSON
    big = write_gz(tmp_path / "big.json.gz", records(200))  # ~220 KB
    limit = 100 * 1024
    assert _extract_with_file_size_limit(small, tmp_path / "s", limit) == {
        "arrays": [[True, ""]],
        "left": ["1.json"],
    }
    out = _extract_with_file_size_limit(big, tmp_path / "b", limit)
    assert out["left"] == []
    [[copied, reason]] = out["arrays"]
    assert not copied and reason == "no scratch copy: File too large"


def test_extract_arrays_copies_when_there_is_room(tmp_path: Path) -> None:
    """The same big file without the limit: copied (the fallback above is the limit's doing)."""
    big = write_gz(tmp_path / "big.json.gz", records(200))
    (tmp_path / "b").mkdir()
    [found] = extract_arrays([(1, big)], "$.Records", tmp_path / "b")
    assert found.array_path is not None and found.array_path.stat().st_size > 100 * 1024


def test_the_cli_says_the_disk_is_full_and_the_import_is_taken_back(tmp_path: Path) -> None:
    """The case file may not grow past 6 MB (a file size limit fails writes as a full disk does):
    40,000 events need more (7 MB). The CLI prints one clear error and exits 2, with no traceback;
    the next writable open takes the import back."""
    path = tmp_path / "case.caseline"
    with CaseFile.create(path) as case:
        import_paths(case, [write_gz(tmp_path / "first.json.gz", records(5, 900_000))])
        before = snapshot(case)
    assert path.stat().st_size < 6 * 1024**2
    evidence = _evidence(tmp_path / "ev", files=20, per_file=2_000)
    run = limited_cli(6 * 1024**2, "import", str(path), str(evidence), "--no-search-index")
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("error: not enough disk space for the import"), run.stderr
    # The write that failed was a chunk's commit (its checkpoint): DuckDB then refuses the case's
    # database until it is opened again, so the take-back waits for the next writable open.
    assert "The case still holds the part of this import written before it stopped" in run.stderr
    assert "File too large" in run.stderr
    assert len(taken_back_at_next_open(path, before)) == 1
