"""Queries saved in the case with a name and a description (table saved_queries)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from viewer.core.case_file import CaseFile, os_user
from viewer.core.query.languages import LANGUAGES


@dataclass(frozen=True)
class SavedQuery:
    name: str
    language: str
    text: str
    description: str
    updated_at: dt.datetime


def list_saved(case: CaseFile) -> list[SavedQuery]:
    rows = (
        case.cursor()
        .execute(
            "SELECT name, language, text, coalesce(description, ''), updated_at FROM saved_queries ORDER BY name"
        )
        .fetchall()
    )
    return [SavedQuery(*r) for r in rows]


def save(case: CaseFile, name: str, language: str, text: str, description: str = "") -> None:
    """Create or replace the saved query `name`; the activity log records it."""
    name = name.strip()
    if not name:
        raise ValueError("a saved query needs a name")
    if language not in LANGUAGES:
        raise ValueError(f"unknown query language {language!r}")
    case.require_writable("save a query")
    cur = case.cursor()
    with case.transaction(cur):
        existed = cur.execute("SELECT count(*) FROM saved_queries WHERE name = ?", [name]).fetchall()[0][0]
        cur.execute(
            "INSERT INTO saved_queries (name, language, text, description, created_at, updated_at, os_user) "
            "VALUES (?, ?, ?, ?, now(), now(), ?) "
            "ON CONFLICT (name) DO UPDATE SET language = excluded.language, text = excluded.text, "
            "description = excluded.description, updated_at = now(), os_user = excluded.os_user",
            [name, language, text, description, os_user()],
        )
        case.log_activity("query_saved", {"name": name, "language": language, "replaced": bool(existed)}, cur)


def delete(case: CaseFile, name: str) -> bool:
    case.require_writable("delete a saved query")
    cur = case.cursor()
    with case.transaction(cur):
        n = cur.execute("SELECT count(*) FROM saved_queries WHERE name = ?", [name]).fetchall()[0][0]
        cur.execute("DELETE FROM saved_queries WHERE name = ?", [name])
        if n:
            case.log_activity("query_deleted", {"name": name}, cur)
    return bool(n)
