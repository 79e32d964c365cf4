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


def test_cli_starts_without_the_cloud_sdk_or_casework() -> None:
    """`caseline import` and `caseline --help` must not wait for boto3 (~0.1 s) or the report,
    bundle and integrity modules: the commands that need them import them in their handlers."""
    code = (
        "import sys, viewer.cli\n"
        "parser = viewer.cli.build_parser()\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 's3transfer') "
        "or m.startswith('viewer.core.fetch.') "
        "or m.rsplit('.', 1)[-1] in ('bundle', 'report', 'cloudtrail_integrity', 'custody', 'export')]\n"
        "print(loaded); sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
