"""Pivots into the filter bar: a pivot is a visible term of the filter text.

Each source of pivots (one panel, the value menu, the actor chain) owns at most one term: a new
selection replaces that source's previous term and leaves the rest of the text alone, so clicking
through a panel's rows walks from entity to entity while the analyst's own terms stay.
"""

from __future__ import annotations

from viewer.gui.filter_bar import FilterBar


class PivotFilter:
    def __init__(self, bar: FilterBar) -> None:
        self.bar = bar
        self._terms: dict[str, str] = {}

    def term_of(self, source: str) -> str | None:
        return self._terms.get(source)

    def set_term(self, source: str, term: str | None) -> None:
        """Replace `source`'s term by `term` (None removes it) and apply the text."""
        text = self.bar.event_filter.text
        old = self._terms.pop(source, None)
        if old is not None:
            text = _remove(text, old)
        if term is not None:
            text = f"{text} {term}".strip()
            self._terms[source] = term
        self._apply(text)

    def add_term(self, term: str) -> None:
        """Add a term nobody replaces later (filter to / exclude a value)."""
        self._apply(f"{self.bar.event_filter.text} {term}".strip())

    def _apply(self, text: str) -> None:
        self.bar.edit.setText(text)
        self.bar.apply_text()


def _remove(text: str, term: str) -> str:
    """`text` without the whole term (if the analyst edited it away, nothing changes)."""
    words = f" {text} "
    at = words.find(f" {term} ")
    if at < 0:
        return text
    return (words[:at] + " " + words[at + len(term) + 2 :]).strip()
