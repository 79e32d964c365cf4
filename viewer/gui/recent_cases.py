"""Recently opened cases, kept in QSettings (tests pass a temporary INI-backed QSettings)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

_KEY = "recent_cases"
MAX_RECENT = 10


class RecentCaseList:
    """Most recent first; paths that no longer exist are dropped when listed."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def paths(self) -> list[str]:
        value = self._settings.value(_KEY, [])
        # QSettings returns a bare string for a one-item list (INI) and None for an empty one.
        items: list[object] = (
            [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
        )
        return [p for p in items if isinstance(p, str) and Path(p).is_file()]

    def add(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        items = [p] + [x for x in self.paths() if x != p]
        self._settings.setValue(_KEY, items[:MAX_RECENT])
        self._settings.sync()

    def clear(self) -> None:
        self._settings.remove(_KEY)
        self._settings.sync()
