"""`summarize ... by keys | where n >= k`, where n counts rows or distinct values: only the groups of
at least k rows can pass, so the summarize reads only their rows.

Why: a summarize with dcount is two groupings (by the keys and the value, then by the keys;
summarize.py), each as large as the number of groups. When most groups are small and the `where`
keeps only large ones (an enumeration burst: at least 5 distinct actions by one principal in 5
minutes), one grouping by the keys alone finds the groups of at least k rows, and the rows of the
others never reach the two groupings (10M events, 4M calls in 3.7M windows: 4.3 against 1.8 CPU-s).
The answer is the same: a group of fewer than k rows has fewer than k distinct values, and its
row count is below k.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lark import Token, Tree

from viewer.core.query.kql.model import Relation
from viewer.core.query.kql.scalars import name_text

if TYPE_CHECKING:
    from viewer.core.query.kql.translator import Translator

#: A floor of 2 drops only the groups of one row: where the rows fall into fewer, larger groups
#: (IPs shared by principals: 65k groups of ~150 rows at 10M events) it drops nothing and costs its
#: grouping (27.0 against 24.9 CPU-s), so a floor starts at 3.
MIN_FLOOR = 3


def row_floor(summarize_op: Tree, where_op: Tree) -> int | None:
    """The least number of rows a group needs to pass `where_op` (the operator right after
    `summarize_op`), from its terms `count >= k` or `count > k` on a count() or dcount() column
    (a top-level `and` of them and anything else); None when no term bounds it."""
    counting = _counting_columns(summarize_op)
    floors = [f for term in _terms(where_op.children[0]) if (f := _floor(term, counting)) is not None]
    best = max(floors, default=None)
    return best if best is not None and best >= MIN_FLOOR else None


def rows_of_large_groups(tr: Translator, rel: Relation, keys: list[str], floor: int) -> Relation:
    """`rel` without the rows of groups (by the key expressions `keys`) of fewer than `floor` rows,
    and perhaps with some of them: groups are found by a 64-bit hash of their keys, one integer
    that groups faster than the keys themselves (10M events, 3.7M windows: 1.5 against 2.5 CPU-s),
    and two groups sharing a hash only count together, so a group can pass that the summarize
    then drops. Every row of a group that has `floor` rows passes: the answer is exact."""
    key = group_hash(keys)
    large = f"SELECT {key} FROM {rel.cte} GROUP BY 1 HAVING count(*) >= {int(floor)}"
    cte = tr.add_cte(f"SELECT * FROM {rel.cte} WHERE {key} IN ({large})")
    return Relation(cte, rel.columns, rel.ordered, rel.aliases, rel.raw_fields)


def _counting_columns(summarize_op: Tree) -> set[str]:
    """Names of the summarize's count() and dcount() columns, given or as KQL names them."""
    names: set[str] = set()
    for child in summarize_op.children:
        if isinstance(child, Token) and str(child) == "by":
            break
        if not isinstance(child, Tree):
            continue
        given, expr = child.children
        if not (
            isinstance(expr, Tree) and expr.data == "call" and str(expr.children[0]) in ("count", "dcount")
        ):
            continue
        function = str(expr.children[0])
        args = [a for a in expr.children[1:] if a is not None]
        if given is not None:
            names.add(str(given))
        elif function == "count":
            names.add("count_")
        elif args and isinstance(args[0], Tree) and args[0].data == "name":
            names.add(f"dcount_{name_text(args[0].children[0])}")
    return names


def _terms(expr: Tree) -> list[Tree]:
    if isinstance(expr, Tree) and expr.data == "and_":
        return [t for child in expr.children for t in _terms(child)]
    return [expr]


def _floor(term: Tree, counting: set[str]) -> int | None:
    if not (isinstance(term, Tree) and term.data == "compare" and len(term.children) == 3):
        return None
    left, op, right = term.children
    if not (isinstance(left, Tree) and left.data == "name" and name_text(left.children[0]) in counting):
        return None
    if not (isinstance(right, Tree) and right.data == "number" and str(right.children[0]).isdigit()):
        return None
    bound = int(str(right.children[0]))
    return {">=": bound, ">": bound + 1}.get(str(op))


def group_hash(keys: list[str]) -> str:
    """SQL of the 64-bit hash a group's rows share (NULL keys hash alike, as GROUP BY groups them)."""
    return f"hash({', '.join(keys)})"
