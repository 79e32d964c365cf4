"""Which whole tokens of the search index a regular expression or a substring needs to match.

Why: a query language filter on the whole raw record (`@message like /re/` in Logs Insights) makes
DuckDB decompress every raw record it might test, because matching rows are spread over every
vector of the table: 4 s at 10M events for a regex over the 157k security-group calls among them.
The free-text index (`viewer.core.search_build`) knows, per block of events, which tokens their
raw records hold. If every match of a pattern must contain some token, only the blocks holding it
can match, and the others need not be read at all. This is the classic prefilter of regex search
engines (RE2's FilteredRE2, Code Search's trigram queries), on whole tokens.

What counts: a token is a maximal run of 2+ ASCII letters, digits and `_ . @ -`, lower-cased
(`search_text`). A literal text the pattern must contain proves a token only where the token is
*bounded inside the literal* by separator characters: `"cidrIp":` proves `cidrip`, but a bare
`0.0.0.0/0` does not prove `0.0.0.0` (the text may read `10.0.0.0/0`, whose token is longer).

The result is a conjunction of clauses, each a set of tokens of which at least one must occur
(`Requirement`). Everything the analysis cannot follow (a character class, `.`, an optional part,
an anchor) only drops knowledge, never adds it, so a block left out can never hold a match:
results stay exact, the pattern is still tested on every remaining row. A pattern Python's parser
does not read (RE2-only syntax) gives no requirement: the query reads every record, as before.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # Python 3.11+: the parser behind `re`, the same syntax for what RE2 and Python share
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons name it sre_parse
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

#: A conjunction of clauses; a clause is satisfied when one of its tokens occurs.
Requirement = tuple[frozenset[str], ...]
#: Looks a requirement up in a case's index (`search_index.token_ranges_sql`): the `event_id`
#: ranges where it can hold, or None when they narrow nothing.
RangesLookup = Callable[[Requirement], "str | None"]

_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.@-]+")
#: Alternatives of a literal kept as exact strings before the analysis falls back to clauses.
MAX_EXACT = 16
MAX_EXACT_LENGTH = 256
# Under IGNORECASE these letters match characters outside ASCII too (K: the Kelvin sign U+212A,
# S: the long s U+017F; I: the dotted and dotless I, U+0130 and U+0131, in Python's `re`), which
# the tokenizer treats as separators: such a literal proves nothing about tokens.
_FOLDS_OUTSIDE_ASCII = frozenset("kKsSiI")


@dataclass(frozen=True)
class _Info:
    """What a piece of pattern matches: `exact`, every string it can match (None: too many or
    unknown), and `need`, clauses every match implies."""

    exact: frozenset[str] | None
    need: Requirement = ()


_UNKNOWN = _Info(None)


def tokens_of_substring(text: str) -> Requirement:
    """The tokens any text containing `text` (compared case-sensitively) holds."""
    return _clauses(frozenset([text]))


def tokens_of_regex(pattern: str) -> Requirement:
    """The tokens any text matched by `pattern` (RE2 / Python syntax) holds; () when unknown.

    Python's parser reads the syntax RE2 and Python share; what it refuses gives (). One
    construct it reads differently: a POSIX class (`[[:alpha:]]` is one letter to RE2, a set and
    a `]` to Python), so a pattern holding one is not analysed."""
    if "[:" in pattern:
        return ()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set" and the like: refused or read as RE2 does
            parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return ()
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    info = _sequence(list(parsed), ignore_case)
    return _simplify(_with_exact(info))


def _sequence(items: list, ignore_case: bool) -> _Info:
    """A concatenation: exact strings are multiplied out while small; anything else closes them
    into clauses (the tokens at the cut are not known to be whole, `_clauses` leaves them out)."""
    need: list[frozenset[str]] = []
    exact: frozenset[str] | None = frozenset([""])
    cut = False  # some part was not followed exactly: the whole is no longer an exact set
    for op, av in items:
        part = _item(op, av, ignore_case)
        need.extend(part.need)
        if exact is not None and part.exact is not None:
            joined = frozenset(a + b for a in exact for b in part.exact)
            if len(joined) <= MAX_EXACT and max(map(len, joined), default=0) <= MAX_EXACT_LENGTH:
                exact = joined
                continue
        cut = True
        if exact is not None:
            need.extend(_clauses(exact))
        exact = part.exact
    if cut:
        return _Info(None, (*need, *(_clauses(exact) if exact is not None else ())))
    return _Info(exact, tuple(need))


def _item(op: object, av: Any, ignore_case: bool) -> _Info:
    # `av` is whatever the parser attached to `op` (a code point, a list of items, a tuple).
    if op is C.LITERAL:
        return _literal(chr(av), ignore_case)
    if op is C.IN:
        chars = _class_literals(av)
        if chars is None or any(ignore_case and c in _FOLDS_OUTSIDE_ASCII for c in chars):
            return _UNKNOWN
        return _Info(frozenset(chars))
    if op is C.SUBPATTERN:
        flags_on = av[1]
        inner_case = ignore_case or bool(flags_on & re.IGNORECASE)
        return _sequence(list(av[3]), inner_case)
    if op is C.BRANCH:
        return _branch([_sequence(list(p), ignore_case) for p in av[1]])
    if op in (C.MAX_REPEAT, C.MIN_REPEAT) or op is getattr(C, "POSSESSIVE_REPEAT", None):
        low, _, body = av
        if low == 0:
            return _UNKNOWN
        inner = _sequence(list(body), ignore_case)
        # At least one copy occurs, but its neighbours are unknown (another copy, or not).
        return _Info(None, _with_exact(inner))
    if op is getattr(C, "ATOMIC_GROUP", None):
        return _sequence(list(av), ignore_case)
    return _UNKNOWN  # ANY, AT (anchors, \b), categories, negated literals, groups referred to ...


def _literal(char: str, ignore_case: bool) -> _Info:
    if ignore_case and char in _FOLDS_OUTSIDE_ASCII:
        return _UNKNOWN
    return _Info(frozenset([char]))


def _class_literals(items: list) -> list[str] | None:
    """The characters of a class made only of a few single characters (`[.]`, `[Aa]`)."""
    chars = []
    for op, av in items:
        if op is not C.LITERAL:
            return None
        chars.append(chr(av))
    return chars if 0 < len(chars) <= 4 else None


def _branch(parts: list[_Info]) -> _Info:
    """An alternation: exact when every branch is and they are few; else one clause naming a token
    from each branch (any branch may be the one that matched)."""
    if all(p.exact is not None for p in parts):
        union = frozenset().union(*(p.exact for p in parts if p.exact is not None))
        if len(union) <= MAX_EXACT:
            return _Info(union)
    picked: set[str] = set()
    for p in parts:
        need = _with_exact(p)
        if not need:
            return _UNKNOWN  # a branch that needs nothing: the alternation needs nothing
        picked |= min(need, key=len)  # the narrowest clause of the branch stands for it
    return _Info(None, (frozenset(picked),))


def _with_exact(info: _Info) -> Requirement:
    return (*info.need, *_clauses(info.exact)) if info.exact is not None else info.need


def _clauses(strings: frozenset[str]) -> Requirement:
    """Clauses implied by matching one of `strings`: for one string, each whole token inside it;
    for several, one clause with a token of each (none when one of them proves no token)."""
    per_string = [_whole_tokens(s) for s in strings]
    if not per_string or any(not tokens for tokens in per_string):
        return ()
    if len(per_string) == 1:
        return tuple(frozenset([t]) for t in per_string[0])
    return (frozenset(max(tokens, key=len) for tokens in per_string),)


def _whole_tokens(text: str) -> list[str]:
    """Token runs of 2+ characters with a separator on both sides inside `text`, lower-cased."""
    found = []
    for m in _TOKEN_RUN.finditer(text):
        inside = m.start() > 0 and m.end() < len(text)
        if inside and m.end() - m.start() >= 2:
            found.append(m.group().lower())
    return found


def _simplify(need: Requirement) -> Requirement:
    """Drop repeated clauses and clauses implied by a smaller one (a superset needs less)."""
    unique = sorted(set(need), key=lambda c: (len(c), sorted(c)))
    kept: list[frozenset[str]] = []
    for clause in unique:
        if not any(k <= clause for k in kept):
            kept.append(clause)
    return tuple(kept)
