"""Asking the user when detection is a tie: several formats claim a file with the same rank.

Files are grouped by the set of formats tied on them, so a folder of 500 such files is one
question ("500 files match a, b equally: read them as [ ]"), not 500. The choice is written into
the plan (`PlannedFile.spec`); until every group is answered the import waits.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QWidget

from viewer.core.ingest import ImportPlan
from viewer.formats import registry

_CHOOSE = "choose a format…"


def tied_formats(plan: ImportPlan) -> dict[int, list[str]]:
    """Plan index -> names of the formats that claim that file with equal rank (two or more)."""
    if plan.forced_format:
        return {}
    ties: dict[int, list[str]] = {}
    for i, pf in enumerate(plan.files):
        if pf.spec is None or len(pf.candidates) < 2:
            continue
        try:
            found = [registry.get(name) for name in pf.candidates]
        except (KeyError, ValueError):  # a custom format file changed since planning
            continue
        tied = registry.tied_best(found)
        if len(tied) > 1:
            ties[i] = [s.name for s in tied]
    return ties


class FormatChoicePanel(QWidget):
    """One row per group of tied files: a sentence and a combo of the tied formats."""

    choiceChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._plan: ImportPlan | None = None
        self._groups: list[tuple[list[int], QComboBox]] = []
        self.hide()

    @property
    def unresolved(self) -> int:
        """Files still waiting for the user's choice."""
        return sum(len(idx) for idx, combo in self._groups if combo.currentIndex() <= 0)

    def tied_files(self) -> set[int]:
        return {i for idx, _ in self._groups for i in idx}

    def waiting_files(self) -> list[int]:
        return [i for idx, combo in self._groups if combo.currentIndex() <= 0 for i in idx]

    @property
    def combos(self) -> list[QComboBox]:
        return [combo for _, combo in self._groups]

    def set_ties(self, plan: ImportPlan | None, ties: dict[int, list[str]]) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        self._plan, self._groups = plan, []
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, names in ties.items():
            groups.setdefault(tuple(names), []).append(i)
        for row, (tied, indexes) in enumerate(sorted(groups.items())):
            n = len(indexes)
            what = plan.files[indexes[0]].source.display_path if plan and n == 1 else f"{n} files"
            label = QLabel(
                f"<span style='color:#B26A00'>⚠</span> {what} match{'es' if n == 1 else ''} "
                f"{', '.join(tied)} equally. Read {'it' if n == 1 else 'them'} as:",
                self,
            )
            label.setWordWrap(True)
            combo = QComboBox(self)
            combo.addItem(_CHOOSE, None)
            for name in tied:
                combo.addItem(name, name)
            combo.currentIndexChanged.connect(self._chosen)
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(combo, row, 1)
            self._groups.append((indexes, combo))
        self._grid.setColumnStretch(0, 1)
        self.setVisible(bool(self._groups))

    @Slot()
    def _chosen(self, *_args: object) -> None:
        if self._plan is None:
            return
        for indexes, combo in self._groups:
            name = combo.currentData()
            if name:
                spec = registry.get(name)
                for i in indexes:
                    self._plan.files[i].spec = spec
        self.choiceChanged.emit()
