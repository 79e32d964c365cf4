"""The import forecasts, from its own rate of growth, whether the rest of it fits where the case
is (viewer.core.space_forecast), and says so while there is time to cancel. The room is bounded
by a file size limit here (tests.support.disk_limit), which the forecast reads as it reads a
full disk."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.disk_limit import files_limited_to, limited_cli
from tests.support.import_evidence import records, write_gz
from viewer.core import chunk_import, ingest
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.jobs import JobContext, Progress
from viewer.core.space_forecast import SpaceForecast
from viewer.core.write_space import ImportResourceError

REPO = Path(__file__).resolve().parents[2]
#: The file limit over the case's ~4.4 MB: the twenty files below need ~3.5 MB more.
ROOM = 2 * 1024**2
#: Each commit checkpointed, as a big import's chunks are (each passes DuckDB's 16 MB threshold):
#: the forecast reads the case file's growth after a checkpoint.
CHECKPOINT_EVERY_COMMIT = "SET checkpoint_threshold = '64KB'"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk per file, each committed on its own: twenty commits for twenty files."""
    monkeypatch.setattr(ingest, "CHUNK_FILES", 1)
    monkeypatch.setattr(chunk_import, "COMMIT_BYTES", 1)


def _case_and_evidence(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "case.caseline"
    with CaseFile.create(path) as case:
        import_paths(case, [write_gz(tmp_path / "first.json.gz", records(2_000, 900_000))])
    for i in range(20):
        write_gz(tmp_path / "ev" / f"{i:02d}.json.gz", records(2_000, i * 2_000))
    return path, tmp_path / "ev"


def _watch(seen: list[tuple[int, str]]) -> JobContext:
    def on_progress(p: Progress) -> None:
        if p.phase == "importing":
            seen.append((p.files_done, p.message))

    return JobContext(on_progress=on_progress, min_interval=0)


def test_an_import_that_will_not_fit_says_so_before_the_disk_fills(
    tmp_path: Path, small_chunks: None
) -> None:
    path, evidence = _case_and_evidence(tmp_path)
    seen: list[tuple[int, str]] = []
    with CaseFile.open(path) as case:
        case.cursor().execute(CHECKPOINT_EVERY_COMMIT)
        with files_limited_to(path.stat().st_size + ROOM), pytest.raises(ImportResourceError):
            import_paths(case, [evidence], ctx=_watch(seen))
    warned = [(files, message) for files, message in seen if message]
    assert warned, seen
    files_then, message = warned[0]
    assert files_then < 20  # while most of the import was still to come
    assert message.startswith(
        "the disk may fill before this import ends: at its rate so far the rest needs about"
    )
    assert f"more in {tmp_path}, where " in message and "MB are free" in message


def test_an_import_that_fits_says_nothing(tmp_path: Path, small_chunks: None) -> None:
    path, evidence = _case_and_evidence(tmp_path)
    seen: list[tuple[int, str]] = []
    with CaseFile.open(path) as case:
        case.cursor().execute(CHECKPOINT_EVERY_COMMIT)
        report = import_paths(case, [evidence], ctx=_watch(seen))
    assert report.total("kept") == 40_000
    assert len(seen) >= 20 and not [m for _, m in seen if m]  # a report per chunk at least


def test_the_forecast_needs_growth_and_bytes_still_to_read(tmp_path: Path) -> None:
    path, _ = _case_and_evidence(tmp_path)
    forecast = SpaceForecast(path)
    with files_limited_to(path.stat().st_size + 4096):
        assert forecast.warning(100, 1_000) == ""  # nothing written yet: no rate to go by
        with path.open("ab") as f:
            f.write(b"\0" * 2048)
        assert forecast.warning(100, 1_000) != ""  # 2 KB per 100 bytes read: 22 KB to come, 2 KB left
        assert forecast.warning(1_000, 1_000) == ""  # nothing left to read


#: What `small_chunks` and `CHECKPOINT_EVERY_COMMIT` set, in the CLI's process.
_CLI_SMALL_CHUNKS = textwrap.dedent(
    """
    from viewer.core import case_file, chunk_import, ingest
    ingest.CHUNK_FILES, chunk_import.COMMIT_BYTES = 1, 1
    connect = case_file._connect
    case_file._connect = lambda *a, **k: connect(*a, **k).execute("SET checkpoint_threshold = '64KB'")
    """
)


def test_the_cli_warns_once_then_the_import_stops_on_the_full_disk(tmp_path: Path) -> None:
    path, evidence = _case_and_evidence(tmp_path)
    run = limited_cli(path.stat().st_size + ROOM, "import", str(path), str(evidence), setup=_CLI_SMALL_CHUNKS)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    warnings = [i for i, line in enumerate(lines) if line.startswith("warning: the disk may fill")]
    errors = [
        i for i, line in enumerate(lines) if line.startswith("error: not enough disk space for the import")
    ]
    assert len(warnings) == 1 and len(errors) == 1 and warnings[0] < errors[0], run.stderr
