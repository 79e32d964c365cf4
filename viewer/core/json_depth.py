"""JSON nested deeper than Python's parser goes.

DuckDB's JSON reader takes records nested thousands of levels deep (a damaged or hostile record:
no cloud log nests past a few dozen), but Python's `json` module recurses once per level and
raises RecursionError near 1,000 (orjson stops at 1,024 with a decode error), as does anything
that walks the parsed value recursively. So the salvage reader skips such an element whole
(`element_end`) and the detail pane shows a record cut at a depth a person can read
(`deeper_than`, `cut_below`), with the record's own text kept for copying.
"""

from __future__ import annotations

import re
from typing import Any

#: Levels shown in full; deeper containers become one placeholder string.
SHOWN_LEVELS = 64

# A JSON string (escapes included) or a bracket: what depth counting must see, and nothing else.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def element_end(text: str, pos: int) -> int | None:
    """The index just past the container that opens at `pos` ('[' or '{'), or None when the text
    ends first. Strings are skipped whole, so brackets inside them do not count."""
    depth = 0
    for m in _TOKEN.finditer(text, pos):
        token = m.group()
        if token in ("[", "{"):
            depth += 1
        elif token in ("]", "}"):
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def deeper_than(value: Any, levels: int) -> bool:
    """Whether parsed JSON nests containers more than `levels` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > levels:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def cut_below(text: str, levels: int = SHOWN_LEVELS) -> str:
    """`text` (valid JSON) with every container nested deeper than `levels` replaced by a string
    that says how deep it went and how long it was, so `json.loads` can read the rest."""
    out: list[str] = []
    kept_from = 0
    depth = 0
    cut_at = -1  # where the container being cut opened, while one is
    deepest = 0
    for m in _TOKEN.finditer(text):
        token = m.group()
        if token in ("[", "{"):
            depth += 1
            if depth > levels and cut_at < 0:
                cut_at, deepest = m.start(), depth
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
            if cut_at >= 0 and depth == levels:
                out.append(text[kept_from:cut_at])
                more = deepest - levels
                out.append(
                    f'"\u22ef {more:,} more level{"s" if more > 1 else ""} nested here ({m.end() - cut_at:,} characters)"'
                )
                kept_from, cut_at = m.end(), -1
    out.append(text[kept_from:])
    return "".join(out)
