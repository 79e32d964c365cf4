"""Format detection for the files of an import plan, on both cores when there are many.

Sniffing is Python (each format's `sniff` reads the file's 64 KB head: key lookups and regular
expressions, ~0.6 ms a file), so threads share one core. A CloudTrail bucket holds a file per
account, region and five minutes, tens of thousands of them; 20,000 files took 15-17 s to plan on
one core. From PARALLEL_FROM files, two worker processes each read and sniff half of them.

Workers are `python -m viewer.core.plan_sniff` subprocesses fed paths as JSON, not
multiprocessing's: the GUI plans from a thread of a Qt process, which must not fork, and a spawned
multiprocessing worker runs the parent's main script again, so a user's unguarded script that
imports a folder would have run itself twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from viewer.core.sources import SourceFile, read_head
from viewer.formats import registry
from viewer.formats.base import FormatSpec, Head

#: Files from which planning uses worker processes (each takes ~0.3 s to start).
PARALLEL_FROM = 2000
WORKERS = 2
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding `viewer`
_PYTHON = sys.executable


@dataclass
class Sniffed:
    found: list[FormatSpec]  # every format that claims the file, best first
    notes: list[str]  # about reading the head (encoding, unreadable start)
    blank: bool  # the head holds only white space


def sniff_files(files: list[SourceFile], specs: list[FormatSpec]) -> Iterator[Sniffed | None]:
    """What each file is, in order (None for archives, which are not sniffed)."""
    if sum(not f.is_archive for f in files) >= PARALLEL_FROM:
        try:
            sniffed = _in_workers(files, specs)  # whole, so a failure cannot follow a yield
        except (OSError, ValueError, KeyError, RuntimeError):  # no processes here, or a worker failed
            pass
        else:
            yield from sniffed
            return
    # Heads are read two at a time (file reads and inflating release the GIL).
    with ThreadPoolExecutor(max_workers=2) as pool:
        heads = pool.map(lambda s: None if s.is_archive else read_head(s.real_path), files)
        for read in heads:
            if read is None:
                yield None
                continue
            yield _sniff(*read, specs)


def _in_workers(files: list[SourceFile], specs: list[FormatSpec]) -> list[Sniffed | None]:
    paths = [str(f.real_path) for f in files if not f.is_archive]
    share = -(-len(paths) // WORKERS)
    parts = [paths[i : i + share] for i in range(0, len(paths), share)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    }

    def run(part: list[str]) -> list[list]:
        done = subprocess.run(
            [_PYTHON, "-m", "viewer.core.plan_sniff"],
            input=json.dumps(part).encode(),
            capture_output=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode(errors="replace")[-2000:])
        got = json.loads(done.stdout)
        if len(got) != len(part):
            raise ValueError("a sniffing worker answered for another number of files")
        return got

    with ThreadPoolExecutor(len(parts)) as pool:
        answers = iter([a for got in pool.map(run, parts) for a in got])
    by_name = {s.name: s for s in specs}
    out: list[Sniffed | None] = []
    for f in files:
        if f.is_archive:
            out.append(None)
            continue
        names, notes, blank = next(answers)
        # A custom format saved since planning began is known to the workers only.
        out.append(Sniffed([by_name.get(n) or registry.get(n) for n in names], notes, blank))
    return out


def _sniff(head: Head, notes: list[str], specs: list[FormatSpec]) -> Sniffed:
    return Sniffed(registry.candidates(head, specs), notes, not head.text.strip())


def _sniff_paths(paths: list[str]) -> list[tuple[list[str], list[str], bool]]:
    """In a worker: (claimants' names best first, notes, blank) of each file."""
    specs = registry.all_specs()
    out = []
    for path in paths:
        got = _sniff(*read_head(Path(path)), specs)
        out.append(([s.name for s in got.found], got.notes, got.blank))
    return out


if __name__ == "__main__":
    json.dump(_sniff_paths(json.load(sys.stdin)), sys.stdout)
