"""docs/formats.md is generated from the registry: it must match what the generator writes now.

When this fails after adding or changing a format, regenerate the page:
    .venv/bin/python scripts/gen_formats_doc.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from viewer import cli
from viewer.formats import registry
from viewer.formats.catalog import describe, markdown

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "formats.md"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_formats_doc", REPO / "scripts" / "gen_formats_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_formats_doc", module)
    spec.loader.exec_module(module)
    return module


def test_docs_formats_md_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == _generator().render(), (
        "docs/formats.md is out of date: run .venv/bin/python scripts/gen_formats_doc.py"
    )


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    stale = tmp_path / "formats.md"
    stale.write_text("# old\n")
    monkeypatch.setattr(gen, "DOC", stale)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0


def test_cli_markdown_is_the_same_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["formats", "--markdown"]) == 0
    assert capsys.readouterr().out == _generator().render()


@pytest.mark.parametrize("spec", registry.FORMATS, ids=lambda s: s.name)
def test_every_format_is_documented_with_how_to_obtain_and_its_columns(spec) -> None:  # type: ignore[no-untyped-def]
    assert spec.how_to_obtain.strip(), f"{spec.name}: FormatSpec.how_to_obtain is empty"
    page = markdown([spec])
    assert f"### {spec.name}\n" in page
    section = page.split(f"### {spec.name}\n", 1)[1]
    for column in describe(spec).columns:
        assert f"`{column}`" in section
    if spec.mapping is not None:
        assert set(spec.mapping.columns) <= set(describe(spec).columns)
