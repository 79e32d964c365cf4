"""Format detection for the files of an import plan, on both cores when there are many.

Sniffing is Python (each format's `sniff` reads the file's 64 KB head: key lookups and regular
expressions, ~0.6 ms a file), so threads share one core. A CloudTrail bucket holds a file per
account, region and five minutes, tens of thousands of them; 20,000 files took 15-17 s to plan on
one core. Above PARALLEL_FROM files, two worker processes each read and sniff half of them.
Workers are spawned, not forked: the GUI plans from a thread of a Qt process, which must not fork.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from viewer.core.sources import SourceFile, read_head
from viewer.formats import registry
from viewer.formats.base import FormatSpec

#: Files from which planning uses worker processes (each takes ~0.3-0.5 s to start).
PARALLEL_FROM = 2000
WORKERS = 2
_BATCH = 256  # paths per task: amortizes the round trip to a worker


@dataclass
class Sniffed:
    found: list[FormatSpec]  # every format that claims the file, best first
    notes: list[str]  # about reading the head (encoding, unreadable start)
    blank: bool  # the head holds only white space


def sniff_files(files: list[SourceFile], specs: list[FormatSpec]) -> Iterator[Sniffed | None]:
    """What each file is, in order (None for archives, which are not sniffed)."""
    if sum(not f.is_archive for f in files) >= PARALLEL_FROM:
        try:
            yield from _in_workers(files, specs)
            return
        except (OSError, RuntimeError):  # no processes here (a sandbox, a broken pool)
            pass
    # Heads are read two at a time (file reads and inflating release the GIL).
    with ThreadPoolExecutor(max_workers=2) as pool:
        heads = pool.map(lambda s: None if s.is_archive else read_head(s.real_path), files)
        for read in heads:
            if read is None:
                yield None
                continue
            head, notes = read
            yield Sniffed(registry.candidates(head, specs), notes, not head.text.strip())


def _in_workers(files: list[SourceFile], specs: list[FormatSpec]) -> Iterator[Sniffed | None]:
    by_name = {s.name: s for s in specs}
    paths = [str(f.real_path) for f in files if not f.is_archive]
    batches = [paths[i : i + _BATCH] for i in range(0, len(paths), _BATCH)]
    # Gathered before anything is yielded: a caller that stops early must not leave workers.
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = [r for batch in pool.map(_sniff_batch, batches) for r in batch]
    got = iter(results)
    for f in files:
        if f.is_archive:
            yield None
            continue
        names, notes, blank = next(got)
        # A custom format saved since the workers started is known to them only.
        yield Sniffed([by_name.get(n) or registry.get(n) for n in names], notes, blank)


_worker_specs: list[FormatSpec] | None = None


def _sniff_batch(paths: list[str]) -> list[tuple[list[str], list[str], bool]]:
    """In a worker: (claimants' names best first, notes, blank) of each file."""
    global _worker_specs
    if _worker_specs is None:  # the custom-format folder is read once per worker
        _worker_specs = registry.all_specs()
    out = []
    for path in paths:
        head, notes = read_head(Path(path))
        found = registry.candidates(head, _worker_specs)
        out.append(([s.name for s in found], notes, not head.text.strip()))
    return out
