"""docs/filtering.md names every alias, entity term and annotation flag of the filter language,
so a term added to `viewer.core.event_query` without its documentation fails here."""

from __future__ import annotations

from pathlib import Path

from viewer.core.event_query import ACTOR_TERM, ALIASES, ANNOTATION_FLAGS, RESOURCE_TERM, parse_filter

DOC = (Path(__file__).resolve().parents[2] / "docs" / "filtering.md").read_text()


def test_every_alias_and_entity_term_is_documented() -> None:
    missing = [name for name in [*ALIASES, ACTOR_TERM, RESOURCE_TERM] if f"`{name}" not in DOC]
    assert missing == []


def test_every_annotation_flag_is_documented() -> None:
    missing = [f"{prefix}:{flag}" for prefix, flag in ANNOTATION_FLAGS if f"`{prefix}:{flag}`" not in DOC]
    assert missing == []


def test_the_documented_examples_parse() -> None:
    for example in (
        "action:ConsoleLogin",
        'action:"Get Object"',
        "action:Describe*",
        "-outcome:success",
        "resource:acme-data",
        "anyip:203.0.113.7",
        "tag:sus*",
        "-is:starred",
        '"quoted phrase" -word',
    ):
        assert parse_filter(example).terms, example
