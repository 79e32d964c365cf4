"""The core and the formats never load Qt: checked in a fresh interpreter, not by reading imports."""

from __future__ import annotations

import subprocess
import sys


def test_core_formats_and_cli_import_without_qt() -> None:
    code = (
        "import sys, viewer.schema, viewer.cli, viewer.core.ingest, viewer.core.case_file, "
        "viewer.formats.registry\n"
        "import pkgutil, importlib, viewer.core, viewer.formats\n"
        "for pkg in (viewer.core, viewer.formats):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
