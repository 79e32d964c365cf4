"""Format detection for the files of an import plan, on both cores when there are many.

Sniffing is Python (each format's `sniff` reads the file's 64 KB head: key lookups and regular
expressions, ~0.4 ms a file), so threads share one core. A CloudTrail bucket holds a file per
account, region and five minutes, tens of thousands of them; 20,000 files took 15-17 s to plan on
one core. From PARALLEL_FROM files, two worker processes each read and sniff half of them.

Workers are `python -m viewer.core.plan_sniff` subprocesses fed paths as JSON, answering a JSON
line per file as they go (the parent reports progress from them, and kills them on cancel), not
multiprocessing's: the GUI plans from a thread of a Qt process, which must not fork, and a spawned
multiprocessing worker runs the parent's main script again, so a user's unguarded script that
imports a folder would have run itself twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from viewer.core.jobs import JobContext
from viewer.core.sources import SourceFile, read_head
from viewer.formats import registry
from viewer.formats.base import FormatSpec, Head

#: Files from which planning uses worker processes (each takes ~0.3 s to start).
PARALLEL_FROM = 2000
WORKERS = 2
#: Seconds between progress reports (and cancel checks) while the workers sniff.
PROGRESS_EVERY = 0.1
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding `viewer`
_PYTHON = sys.executable


@dataclass
class Sniffed:
    found: list[FormatSpec]  # every format that claims the file, best first
    notes: list[str]  # about reading the head (encoding, unreadable start)
    blank: bool  # the head holds only white space


def sniff_files(
    files: list[SourceFile], specs: list[FormatSpec], ctx: JobContext | None = None
) -> Generator[Sniffed | None, None, None]:
    """What each file is, in order (None for archives, which are not sniffed).

    `ctx`: progress (files looked at, phase "detecting formats") and cancel, checked per file."""
    if ctx is not None:
        ctx.progress.phase, ctx.progress.files_done, ctx.progress.files_total = (
            "detecting formats",
            0,
            len(files),
        )
        ctx.report(force=True)
    if sum(not f.is_archive for f in files) >= PARALLEL_FROM:
        try:
            sniffed = _in_workers(files, specs, ctx)  # whole, so a failure cannot follow a yield
        except (OSError, ValueError, KeyError, RuntimeError):  # no processes here, or a worker failed
            pass
        else:
            yield from sniffed
            return
    # Heads are read two at a time (file reads and inflating release the GIL).
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        heads = pool.map(lambda s: None if s.is_archive else read_head(s.real_path), files)
        for done, read in enumerate(heads, 1):
            if ctx is not None:
                ctx.check()
                ctx.progress.files_done = done
                ctx.report()
            yield None if read is None else _sniff(*read, specs)
        _report_all_done(ctx, len(files))
    finally:  # stopped early (cancel): the heads not yet read are not read
        pool.shutdown(cancel_futures=True)


def _in_workers(
    files: list[SourceFile], specs: list[FormatSpec], ctx: JobContext | None
) -> list[Sniffed | None]:
    paths = [str(f.real_path) for f in files if not f.is_archive]
    share = -(-len(paths) // WORKERS)
    parts = [paths[i : i + share] for i in range(0, len(paths), share)]
    got = iter([answer for part in _run_workers(parts, ctx) for answer in part])
    _report_all_done(ctx, len(files))
    by_name = {s.name: s for s in specs}
    out: list[Sniffed | None] = []
    for f in files:
        if f.is_archive:
            out.append(None)
            continue
        names, notes, blank = next(got)
        # A custom format saved since planning began is known to the workers only.
        out.append(Sniffed([by_name.get(n) or registry.get(n) for n in names], notes, blank))
    return out


def _report_all_done(ctx: JobContext | None, files: int) -> None:
    if ctx is not None:  # the last count, whatever the rate limit let through before
        ctx.progress.files_done = files
        ctx.report(force=True)


def _run_workers(parts: list[list[str]], ctx: JobContext | None) -> list[list[list]]:
    """Each part's answers, from a worker process per part; the processes never outlive this."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    }
    lines: list[list[bytes]] = [[] for _ in parts]
    with contextlib.ExitStack() as stack:
        # stderr to a file: a pipe left unread while the answers are read could fill and block.
        errors = [stack.enter_context(tempfile.TemporaryFile()) for _ in parts]
        procs: list[subprocess.Popen[bytes]] = []
        readers: list[threading.Thread] = []

        def talk(k: int) -> None:
            """Feed worker k its paths; collect its answers, a line per file as they come."""
            proc = procs[k]
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(BrokenPipeError):  # a worker that died: its status says why
                try:
                    proc.stdin.write(json.dumps({"paths": parts[k], "flush_every": PROGRESS_EVERY}).encode())
                finally:
                    proc.stdin.close()
            # Kept as text until the end: parsing here took CPU the workers need.
            lines[k].extend(proc.stdout)
            proc.wait()

        try:
            for k, err in enumerate(errors):
                cmd = [_PYTHON, "-m", "viewer.core.plan_sniff"]
                procs.append(
                    subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env)
                )
                readers.append(threading.Thread(target=talk, args=(k,), daemon=True))
                readers[-1].start()
            for r in readers:
                while r.is_alive():
                    r.join(PROGRESS_EVERY)
                    if ctx is not None:  # under the GIL the lists' lengths are safe to read
                        ctx.check()
                        ctx.progress.files_done = sum(len(part) for part in lines)
                        ctx.report()
        finally:
            for proc in procs:  # cancelled, a second one that failed to start: never left running
                if proc.poll() is None:
                    proc.kill()
            for r in readers:
                r.join()
            for proc in procs:
                assert proc.stdout is not None
                proc.stdout.close()
        for k, proc in enumerate(procs):
            if proc.returncode != 0:
                errors[k].seek(0)
                raise RuntimeError(errors[k].read().decode(errors="replace")[-2000:])
            if len(lines[k]) != len(parts[k]):
                raise ValueError("a sniffing worker answered for another number of files")
    # orjson: 200,000 answers took 0.55 s to parse with json (0.08 s), the workers done.
    return [[orjson.loads(line) for line in part] for part in lines]  # a cut line: ValueError


def _sniff(head: Head, notes: list[str], specs: list[FormatSpec]) -> Sniffed:
    return Sniffed(registry.candidates(head, specs), notes, not head.text.strip())


def _sniff_paths(paths: list[str], out: IO[str], flush_every: float) -> None:
    """In a worker: a JSON line per file, in order: [claimants' names best first, notes, blank],
    flushed every `flush_every` seconds (the parent's progress; a line at a time, the parent's
    reader threads took CPU the workers needed: 20k files 5.0 -> 5.5 s)."""
    specs = registry.all_specs()
    flushed = time.monotonic()
    for path in paths:
        got = _sniff(*read_head(Path(path)), specs)
        out.write(json.dumps([[s.name for s in got.found], got.notes, got.blank]) + "\n")
        if time.monotonic() - flushed >= flush_every:
            out.flush()
            flushed = time.monotonic()
    out.flush()


if __name__ == "__main__":
    _job = json.load(sys.stdin)
    _sniff_paths(_job["paths"], sys.stdout, _job["flush_every"])
