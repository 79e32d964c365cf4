"""Guard against PySide6 6.12.0 on CPython 3.11 (performance.md finding 1): every void C++ call
leaked a reference to None until the interpreter aborted with `none_dealloc`."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QWidget


def test_void_calls_do_not_leak_none(qtbot) -> None:  # type: ignore[no-untyped-def]
    w = QWidget()
    qtbot.addWidget(w)
    before = sys.getrefcount(None)
    for i in range(10_000):
        w.resize(100 + i % 50, 80)
    after = sys.getrefcount(None)
    # Python >= 3.12 makes None immortal (huge constant count); either way it must not drop.
    assert after >= before - 50, f"None refcount fell by {before - after} over 10k resize() calls"
