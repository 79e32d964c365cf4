"""Placeholder: this format module is being written (issue #3)."""

from __future__ import annotations

from viewer.formats.base import FormatSpec

SPECS: tuple[FormatSpec, ...] = ()
