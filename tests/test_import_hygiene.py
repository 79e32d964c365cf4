"""What a module loads, checked in a fresh interpreter, not by reading imports: the core and the
formats never load Qt, and the CLI starts without the modules only some commands need."""

from __future__ import annotations

import ast
import subprocess
import sys


def _modules_loaded_by(imports: str, unwanted: str) -> list[str]:
    """Run `imports` in a fresh interpreter; the loaded modules `m` for which `unwanted` is true."""
    code = f"import sys\n{imports}\nprint([m for m in list(sys.modules) if {unwanted}])\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return list(ast.literal_eval(result.stdout))  # the list of names the child printed


def test_core_formats_and_cli_import_without_qt() -> None:
    imports = (
        "import viewer.schema, viewer.cli, viewer.core.ingest, viewer.core.case_file, viewer.formats.registry\n"
        "import pkgutil, importlib, viewer.core, viewer.formats\n"
        "for pkg in (viewer.core, viewer.formats):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + m.name)"
    )
    assert _modules_loaded_by(imports, "m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')") == []


def test_cli_starts_without_the_cloud_sdk_or_casework() -> None:
    """`caseline import` and `caseline --help` must not wait for boto3 (~0.1 s) or the report,
    bundle and integrity modules: the commands that need them import them in their handlers."""
    unwanted = (
        "m.split('.')[0] in ('boto3', 'botocore', 's3transfer') or m.startswith('viewer.core.fetch.') "
        "or m.rsplit('.', 1)[-1] in ('bundle', 'report', 'cloudtrail_integrity', 'custody', 'export')"
    )
    assert _modules_loaded_by("import viewer.cli\nviewer.cli.build_parser()", unwanted) == []


def test_cli_starts_without_the_import_pipeline_or_the_query_runner() -> None:
    """`caseline info`, `new`, `formats` and `--help` do not load the import pipeline, the derived
    structures, the correlation code or the query runner, nor the Arrow and numpy they load
    (`caseline info` 0.59-0.75 -> 0.26-0.27 s): the commands that need them import them in their
    handlers."""
    unwanted = (
        "m.split('.')[0] in ('pyarrow', 'numpy') or m in ('viewer.core.ingest', 'viewer.core.derived', "
        "'viewer.core.query.runner') or m.startswith('viewer.core.entities')"
    )
    assert _modules_loaded_by("import viewer.cli\nviewer.cli.build_parser()", unwanted) == []
