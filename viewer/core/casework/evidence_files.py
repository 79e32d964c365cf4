"""Finding the evidence files the ledger names, on disk now, for re-hashing and validation.

The ledger keeps the path the user gave at import (`path`), the path below the imported folder or
archive (`rel_path`) and the archive a member came out of (`container_id`). Evidence is often
moved or copied before an audit, so a folder the user points at is searched by `rel_path`: first
exactly, then as a unique path suffix (the user named a parent or a child of the imported folder).
Members of archives are read straight out of the archive (never extracted to disk), after the
archive itself is found; nested archives are not opened.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from viewer.core.case_file import CaseFile
from viewer.core.sources import archive_kind

_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class LedgerEntry:
    evidence_id: int
    path: str
    rel_path: str | None
    container_id: int | None
    role: str
    format: str | None
    sha256: str
    size_bytes: int
    records_seen: int
    records_kept: int
    records_rejected: int
    records_duplicate: int

    @property
    def file_name(self) -> str:
        return self.path.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]


def ledger_entries(case: CaseFile) -> list[LedgerEntry]:
    rows = (
        case.cursor()
        .execute(
            "SELECT evidence_id, path, rel_path, container_id, role, format, sha256, size_bytes, records_seen, "
            "records_kept, records_rejected, records_duplicate FROM evidence ORDER BY evidence_id"
        )
        .fetchall()
    )
    return [LedgerEntry(*r) for r in rows]


@dataclass(frozen=True)
class Location:
    """Where an entry's bytes are now: a file, or a member inside an archive file."""

    file: Path
    member: str | None = None  # name inside the archive at `file`
    how: str = ""  # how it was found, for the report

    def describe(self) -> str:
        return f"{self.file}!{self.member}" if self.member else str(self.file)


class EvidenceLocator:
    def __init__(
        self, entries: list[LedgerEntry], evidence_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.by_id = {e.evidence_id: e for e in entries}
        self.evidence_dir = Path(evidence_dir) if evidence_dir is not None else None
        self._index: dict[str, list[str]] | None = None

    def locate(self, entry: LedgerEntry) -> tuple[Location | None, str]:
        """(location, explanation); location is None when the bytes cannot be found."""
        if entry.container_id is not None:
            return self._locate_member(entry)
        if self.evidence_dir is None:
            p = Path(entry.path)
            if p.is_file():
                return Location(p, how="at its ledger path"), ""
            return None, f"not found at its ledger path {entry.path}"
        found = self._find_in_dir(entry.rel_path or entry.file_name)
        if found is None:
            return None, f"not found in {self.evidence_dir} (looked for {entry.rel_path or entry.file_name})"
        return Location(found, how=f"in {self.evidence_dir}"), ""

    def _locate_member(self, entry: LedgerEntry) -> tuple[Location | None, str]:
        archive = self.by_id.get(entry.container_id or -1)
        if archive is None:
            return None, f"its archive (evidence #{entry.container_id}) is not in the ledger"
        if archive.container_id is not None:
            return None, f"inside a nested archive ({archive.path}); nested archives are not opened"
        where, why = self.locate(archive)
        if where is None:
            return None, f"its archive is missing: {why}"
        member = entry.rel_path or entry.path.rsplit("!", 1)[-1]
        return Location(where.file, member, how=f"inside archive {where.file}"), ""

    def _find_in_dir(self, rel: str) -> Path | None:
        assert self.evidence_dir is not None
        rel = rel.replace("\\", "/").lstrip("/")
        direct = self.evidence_dir / rel
        if direct.is_file():
            return direct
        if self._index is None:
            self._index = defaultdict(list)
            if self.evidence_dir.is_dir():
                for f in self.evidence_dir.rglob("*"):
                    if f.is_file():
                        self._index[f.name].append(f.relative_to(self.evidence_dir).as_posix())
        name = rel.rsplit("/", 1)[-1]
        # The user may name a parent of the imported folder (index path ends with rel) or a child
        # of it (rel ends with the index path); either must be unambiguous.
        hits = [
            c for c in self._index.get(name, []) if c.endswith("/" + rel) or rel.endswith("/" + c) or c == rel
        ]
        return self.evidence_dir / hits[0] if len(hits) == 1 else None


def open_chunks(loc: Location) -> Iterator[bytes]:
    """The bytes at a location, in blocks; members are streamed out of their zip or tar."""
    if loc.member is None:
        with loc.file.open("rb") as fh:
            while block := fh.read(_BLOCK):
                yield block
        return
    kind = archive_kind(loc.file)
    if kind == "zip":
        with zipfile.ZipFile(loc.file) as zf, zf.open(loc.member) as fh:
            while block := fh.read(_BLOCK):
                yield block
    elif kind == "tar":
        with tarfile.open(loc.file, "r:*") as tf:
            extracted = tf.extractfile(loc.member)
            if extracted is None:
                raise KeyError(f"{loc.member} is not a regular file in {loc.file}")
            with extracted as fh:
                while block := fh.read(_BLOCK):
                    yield block
    else:
        raise KeyError(f"{loc.file} is no longer a zip or tar archive")


def read_bytes(loc: Location) -> bytes:
    return b"".join(open_chunks(loc))


def sha256_and_size(loc: Location) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    for block in open_chunks(loc):
        h.update(block)
        size += len(block)
    return h.hexdigest(), size
