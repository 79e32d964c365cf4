"""Upgraded copies of cases written by an older Caseline, for read-only review.

Reading a case with an older schema needs its migrations run, and a read-only open must not
change the file. An auditor handed an older case (or an evidence bundle holding one) therefore
reviews a copy: the original is hashed while it is copied, so the copy is tied to the exact file
the auditor was given; the copy is migrated and its activity log says where it came from. The
original is only ever read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from viewer.core.case_file import CaseError, CaseFile, CaseVersionError, schema_version_of
from viewer.core.jobs import JobContext
from viewer.core.migrations import SCHEMA_VERSION

_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class UpgradedCopy:
    source: Path
    source_sha256: str  # of the case file as it was read (its write-ahead log, if any, is copied too)
    copy: Path
    from_version: int
    to_version: int

    def describe(self) -> str:
        return (
            f"Upgraded copy of {self.source} (case schema {self.from_version} -> {self.to_version}); "
            f"the original, SHA-256 {self.source_sha256}, was only read"
        )


def upgraded_copy(
    source: str | os.PathLike[str], dest: str | os.PathLike[str], ctx: JobContext | None = None
) -> UpgradedCopy:
    """Copy the case at `source` to the new file `dest` and bring the copy to this schema.

    Progress is in bytes; cancel or any failure removes the partial copy. A case already at this
    schema is copied unchanged; a case from a newer Caseline is refused before anything is written.
    """
    src, out = Path(source), Path(dest)
    version = schema_version_of(src)
    if version > SCHEMA_VERSION:
        raise CaseVersionError(
            f"{src} was written by a newer Caseline (case schema {version}); it cannot be downgraded"
        )
    if out.exists():
        raise CaseError(f"{out} already exists; an upgraded copy never replaces a file")
    out.parent.mkdir(parents=True, exist_ok=True)
    wal = Path(str(src) + ".wal")
    parts = [(src, out)] + ([(wal, Path(str(out) + ".wal"))] if wal.is_file() else [])
    try:
        digest = _copy_hashed(parts, ctx)
        with CaseFile.open(out) as case:  # migrates the copy
            case.log_activity(
                "upgraded_copy",
                {
                    "source": str(src),
                    "source_sha256": digest,
                    "from_schema": version,
                    "to_schema": SCHEMA_VERSION,
                },
            )
    except BaseException:
        for _, target in parts:
            target.unlink(missing_ok=True)
        raise
    return UpgradedCopy(src, digest, out, version, SCHEMA_VERSION)


def _copy_hashed(parts: list[tuple[Path, Path]], ctx: JobContext | None) -> str:
    """Copy each (source, target) in blocks; the SHA-256 of the first source (the case file)."""
    if ctx is not None:
        ctx.progress.phase = "copying"
        ctx.progress.bytes_total = sum(s.stat().st_size for s, _ in parts)
    digest = ""
    for i, (source, target) in enumerate(parts):
        h = hashlib.sha256()
        with source.open("rb") as fin, target.open("xb") as fout:  # 'x': never replace a file
            while block := fin.read(_BLOCK):
                if ctx is not None:
                    ctx.check()
                    ctx.progress.bytes_done += len(block)
                    ctx.report()
                h.update(block)
                fout.write(block)
        if i == 0:
            digest = h.hexdigest()
    return digest
