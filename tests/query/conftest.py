"""Fixtures shared by the query tests."""

from __future__ import annotations

import pytest
from support.sample_case import build_sample_case

from viewer.core import derived
from viewer.core.case_file import CaseFile


@pytest.fixture(scope="session")
def sample_built(tmp_path_factory: pytest.TempPathFactory) -> CaseFile:
    """The bundled AWS incident imported by the real import code, with every derived structure
    built (the stored raw_fields rows included), as after `caseline import`. Tests only read it."""
    case, _ = build_sample_case(tmp_path_factory.mktemp("query_sample"))
    derived.update_deferred(case)
    return case
