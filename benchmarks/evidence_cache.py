"""Generated benchmark evidence, kept between runs (a 10M-event trail takes minutes to write)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path


def cached_evidence(root: Path, tag: str, build: Callable[[], object]) -> None:
    """Write the evidence folder `root` with `build()` unless a run already completed it.

    The marker sits beside the folder, not in it: the import reads every file of the folder
    and reported the marker as a file of unknown format. Bump `tag` when the generated records
    change. A marker left inside the folder by an older run is moved out."""
    marker = root.parent / f"{root.name}.{tag}"
    legacy = root / f".{tag}"
    if legacy.exists():
        legacy.replace(marker)
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    build()
    marker.touch()
