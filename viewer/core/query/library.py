"""The bundled investigation query library (resources/queries/*.toml).

Each query is one question asked in up to three languages (DuckDB SQL, KQL, Logs Insights), with
a title, a description, the ATT&CK techniques it relates to and the sources it needs. Files are
TOML because analysts edit them by hand: multi-line strings keep queries readable, and Python
reads TOML without a dependency.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from viewer.core.query.languages import LANGUAGES

LIBRARY_DIR = Path(__file__).resolve().parents[3] / "resources" / "queries"
_NAME = re.compile(r"^[a-z0-9_]+$")
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


class LibraryError(ValueError):
    pass


@dataclass(frozen=True)
class LibraryQuery:
    name: str
    title: str
    description: str
    attack: tuple[str, ...]
    sources: tuple[str, ...]  # events.source_type values it needs; empty: any source
    texts: dict[str, str] = field(hash=False)  # language -> query text
    path: Path = field(hash=False, default=Path())

    def text(self, language: str) -> str:
        try:
            return self.texts[language]
        except KeyError:
            have = ", ".join(self.texts)
            raise LibraryError(
                f"library query {self.name!r} has no {language} version (it has: {have})"
            ) from None


def _parse(path: Path) -> list[LibraryQuery]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LibraryError(f"{path.name}: {exc}") from exc
    out = []
    for i, q in enumerate(doc.get("query", []), start=1):
        where = f"{path.name}, query {i}"
        missing = [k for k in ("name", "title", "description", "sql") if not q.get(k)]
        if missing:
            raise LibraryError(f"{where}: missing {', '.join(missing)}")
        if not _NAME.match(q["name"]):
            raise LibraryError(f"{where}: name {q['name']!r} must be lower_snake_case")
        bad = [t for t in q.get("attack", []) if not _TECHNIQUE.match(t)]
        if bad:
            raise LibraryError(f"{where}: not ATT&CK technique ids: {bad}")
        texts = {lang: q[lang].strip() for lang in LANGUAGES if q.get(lang)}
        out.append(
            LibraryQuery(
                q["name"],
                q["title"],
                q["description"],
                tuple(q.get("attack", [])),
                tuple(q.get("sources", [])),
                texts,
                path,
            )
        )
    return out


def load(folder: Path = LIBRARY_DIR) -> list[LibraryQuery]:
    """Every query in the folder's TOML files, in file then document order."""
    queries: list[LibraryQuery] = []
    for path in sorted(folder.glob("*.toml")):
        queries.extend(_parse(path))
    seen: set[str] = set()
    for q in queries:
        if q.name in seen:
            raise LibraryError(f"library query name {q.name!r} is used twice")
        seen.add(q.name)
    return queries


@cache
def bundled() -> tuple[LibraryQuery, ...]:
    return tuple(load())


def get(name: str) -> LibraryQuery:
    for q in bundled():
        if q.name == name:
            return q
    raise LibraryError(f"no library query {name!r}; `caseline query --library list` shows them")
