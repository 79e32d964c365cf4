"""A disk that fills up, for tests: the process may not grow any file past a size.

`RLIMIT_FSIZE` fails every write beyond the limit with EFBIG ("File too large"), as a full disk
fails them with ENOSPC; with SIGXFSZ ignored the write returns the error instead of the signal
ending the process. DuckDB then fails as it does on a full disk: a commit whose write-ahead log
cannot grow fails the transaction, a checkpoint that cannot grow the case file invalidates the
database for the rest of the process."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path


@contextmanager
def files_limited_to(size: int) -> Iterator[None]:
    """The limit for the whole process while the block runs. Only the main thread may set a
    signal's handler: elsewhere (an import's worker) SIGXFSZ must be ignored already
    (`sigxfsz_ignored`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    with sigxfsz_ignored() if threading.current_thread() is threading.main_thread() else nullcontext():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@contextmanager
def sigxfsz_ignored() -> Iterator[None]:
    if signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN:
        yield
        return
    ignored = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGXFSZ, ignored)


def no_room_past(case_path: Path) -> int:
    """A limit that lets a case's write-ahead log take a few MB but its file grow by one page:
    a small import commits, and the checkpoint after it finds no room."""
    return case_path.stat().st_size + 4096


REPO = Path(__file__).resolve().parents[2]

_LIMITED_CLI = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    exec(sys.argv[2])
    from viewer.cli import main
    sys.exit(main(sys.argv[3:]))
    """
)


def limited_cli(limit: int, *args: str, setup: str = "") -> subprocess.CompletedProcess[str]:
    """`caseline ARGS` in a process whose files may not grow past `limit`; `setup` is Python run
    before the command (a test's chunk sizes, say)."""
    return subprocess.run(
        [sys.executable, "-c", _LIMITED_CLI, str(limit), setup, *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
