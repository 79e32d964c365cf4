"""The shared corpus (../shared/corpus), walked once per test session for every format's tests.

Each corpus test module asks for the files of its formats; reading every file's head once here,
instead of once per module, keeps collection from re-reading the whole corpus six times.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from conftest import CORPUS

from viewer.core.sources import archive_kind, read_head
from viewer.formats import registry
from viewer.formats.base import FormatSpec, Head

ABSENT = f"shared corpus not present at {CORPUS}"


@cache
def heads() -> tuple[tuple[Path, Head], ...]:
    """Every plain file of the corpus (archives and dot-files left out) with its sniffing head."""
    if not CORPUS.is_dir():
        return ()
    return tuple(
        (p, read_head(p)[0])
        for p in sorted(CORPUS.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and not archive_kind(p)
    )


def files_detected_as(wanted: Callable[[FormatSpec], bool]) -> list[Path]:
    """Corpus files whose detected format satisfies `wanted`."""
    found = []
    for path, head in heads():
        spec = registry.detect(head)
        if spec is not None and wanted(spec):
            found.append(path)
    return found
