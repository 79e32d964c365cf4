"""Logs Insights `@message` filters read only the blocks of events the free-text index says can
match (`viewer.core.search_regex`, `insights.message_filter`): the same rows as reading every
record. The token analysis is checked against Python's `re` on random patterns and texts."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.synthetic_case import _insert_sql, build_synthetic_case

from viewer.core import derived, search_build
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths
from viewer.core.query.insights import message_filter
from viewer.core.query.runner import translate, translate_on
from viewer.core.raw_fields import stored_doc_keys
from viewer.core.search_regex import tokens_of_regex, tokens_of_substring

CWL_SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "formats"
    / "aws_cloudwatch_logs_filter"
    / "filter-log-events.json"
)
EVENTS = 3000
INDEXED = 2500  # events the index covers; the rest arrive after it was built
TOKEN = re.compile(r"[A-Za-z0-9_.@-]{2,}")


def _tokens(text: str) -> set[str]:
    """The tokens the index holds for a text (search_text's definition)."""
    return {t.lower() for t in TOKEN.findall(text)}


def _holds(need: tuple[frozenset[str], ...], text: str) -> bool:
    have = _tokens(text)
    return all(clause & have for clause in need)


# -- the token analysis ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "need"),
    [
        (
            r'"(cidrIp|cidrIpv6|CidrIpv4|CidrIpv6)": *"(0[.]0[.]0[.]0/0|::/0)"',
            [{"cidrip", "cidripv4", "cidripv6"}],
        ),
        (r'"cidrIp": *"0[.]0[.]0[.]0/0"', [{"0.0.0.0"}, {"cidrip"}]),
        (r"user=(\w+) action=DeleteTrail,", [{"action"}, {"deletetrail"}]),
        (r'"ERROR"|"FATAL"', [{"error", "fatal"}]),
        (r"AccessDenied", []),  # nothing proves the token whole: the text may read xAccessDenied2
        (r'"ERROR"|fatal', []),  # one branch proves nothing, so the alternation proves nothing
        (r'"x(.y)z"', []),
        (r'(?i)"eventName":"StopLogging"', [{"eventname"}]),  # (?i): S may match U+017F, i U+0131
        (r'[^a]"secret"', [{"secret"}]),
        (r'(ab)?"cd"', [{"cd"}]),
        (r"\pL+", []),  # RE2 syntax Python's parser refuses: no requirement, every record read
        (r'[[:alpha:]]admin"', []),  # a POSIX class: one letter to RE2, a set and `]` to Python
    ],
)
def test_the_tokens_a_pattern_needs(pattern: str, need: list[set[str]]) -> None:
    assert sorted(map(sorted, tokens_of_regex(pattern))) == sorted(map(sorted, need))


def test_a_substring_proves_only_the_tokens_inside_it() -> None:
    assert tokens_of_substring('"0.0.0.0/0"') == (frozenset({"0.0.0.0"}),)
    assert tokens_of_substring("0.0.0.0/0") == ()  # the text may read 10.0.0.0/0
    assert {t for c in tokens_of_substring("arn:aws:iam::123:role/Admin") for t in c} == {
        "aws",
        "iam",
        "123",
        "role",
    }


_ALPHABET = 'abKkSsIi01._-@"/: =\u212a\u017f\u0130\u0131\u00e9'


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(4, 30)))


def _random_pattern(rng: random.Random, text: str) -> str:
    """A pattern that often matches `text`: a piece of it, with some parts made classes, dots,
    alternations, repeats, anchors or case-insensitive."""
    a = rng.randrange(len(text))
    piece = text[a : a + rng.randrange(1, 12)]
    out = []
    for ch in piece:
        roll = rng.random()
        if roll < 0.08:
            out.append(".")
        elif roll < 0.14:
            out.append(f"[{re.escape(ch)}{re.escape(rng.choice(_ALPHABET))}]")
        elif roll < 0.2:
            out.append(f"(?:{re.escape(ch)}|{re.escape(rng.choice(_ALPHABET))})")
        elif roll < 0.25:
            out.append(f"{re.escape(ch)}+")
        elif roll < 0.28:
            out.append(f"{re.escape(ch)}?")
        else:
            out.append(re.escape(ch))
    pattern = "".join(out)
    if rng.random() < 0.15:
        pattern = f"({pattern}|{re.escape(rng.choice(text))})"
    if rng.random() < 0.1:
        pattern = "^" + pattern
    if rng.random() < 0.2:
        pattern = f"(?i){pattern.upper() if rng.random() < 0.5 else pattern}"
    return pattern


def test_every_match_holds_the_tokens_the_analysis_names() -> None:
    """Soundness: whenever Python's re finds a match, the text holds the required tokens."""
    rng = random.Random(7)
    matched = narrowing = 0
    for _ in range(20000):
        text = _random_text(rng)
        pattern = _random_pattern(rng, text)
        need = tokens_of_regex(pattern)
        narrowing += bool(need)
        for candidate in (text, _random_text(rng)):
            if re.search(pattern, candidate):
                matched += 1
                assert _holds(need, candidate), (pattern, candidate, need)
        if rng.random() < 0.3:
            piece = text[rng.randrange(len(text)) :][:10]
            if piece in text:
                assert _holds(tokens_of_substring(piece), text), (piece, text)
    assert matched > 5000 and narrowing > 500  # the test exercised both sides


# -- on a case ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseFile]:
    """A synthetic case in blocks of 64 events, indexed up to INDEXED; the rest imported after."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_build, "BLOCK_EVENTS", 64)
        mp.setattr(search_build, "SLICE_BLOCKS", 8)
        path = build_synthetic_case(tmp_path_factory.mktemp("message") / "m.caseline", EVENTS, seed=3)
        case = CaseFile.open(path)
        cur = case.cursor()
        late = cur.execute("SELECT count(*) FROM events WHERE record_index >= ?", [INDEXED]).fetchall()[0][0]
        assert late == EVENTS - INDEXED
        cur.execute("DELETE FROM events WHERE record_index >= ?", [INDEXED])
        derived.update_deferred(case)
        cur.execute(_insert_sql(), {"seed": 3, "lo": INDEXED, "hi": EVENTS, "n": EVENTS, "base": _base_ts()})
        yield case
        case.close()


def _base_ts() -> object:
    from support.synthetic_case import BASE_TS

    return BASE_TS


def _rows(case: CaseFile, query: str, narrowed: bool) -> tuple[list[tuple], bool]:
    """The query's rows, and whether the free-text index narrowed it (its note says so)."""
    cur = case.cursor()
    t = (
        translate_on(cur, "insights", query)
        if narrowed
        else translate("insights", query, stored_doc_keys(cur))
    )
    return sorted(cur.execute(t.sql).fetchall()), message_filter.NARROWED in t.notes


def _index_mark(case: CaseFile) -> int:
    """The free-text index's high-water mark: events above it are not indexed yet."""
    return int(case.cursor().execute("SELECT max(event_id_max) FROM search_index_batches").fetchall()[0][0])


def _windows(rng: random.Random, text: str) -> Iterator[str]:
    """Pieces of a record with a whole token inside (a separator on each side within the piece),
    mostly around ids (tokens with digits: rare, so the index narrows) and some around words."""
    for m in TOKEN.finditer(text):
        odds = 0.3 if any(c.isdigit() for c in m.group()) else 0.03
        if m.start() > 0 and m.end() < len(text) and rng.random() < odds:
            yield text[max(0, m.start() - 1 - rng.randrange(3)) : m.end() + 1 + rng.randrange(3)]


def test_narrowed_filters_give_the_rows_every_record_gives(case: CaseFile) -> None:
    cur = case.cursor()
    records = [r[0] for r in cur.execute("SELECT raw::VARCHAR FROM events ORDER BY event_id").fetchall()]
    rng = random.Random(11)
    narrowed = compared = 0
    for _ in range(60):
        record = rng.choice(records)
        window = next(_windows(rng, record), None)
        if window is None or "/" in window or "\\" in window:
            continue
        other = next(_windows(rng, rng.choice(records)), window)
        regex = re.escape(window).replace("/", r"\/")
        filters = [
            f"@message like {json.dumps(window)}",
            f"@message like /{regex}/",
            f"@message =~ /({regex}|{re.escape(other).replace('/', chr(92) + '/')})/",
            f"@message like /{regex}/ and eventName != 'nothing'",
        ]
        for condition in filters:
            # requestParameters.bucketName is read from raw_fields, joined on the event id
            query = f"filter {condition} | fields @timestamp, @message, requestParameters.bucketName | limit 10000"
            want, _ = _rows(case, query, narrowed=False)
            got, by_index = _rows(case, query, narrowed=True)
            assert got == want, query
            assert any(window in m for _, m, _ in got) or not want
            narrowed += by_index
            compared += 1
    assert compared > 100 and narrowed > compared // 3  # many pieces hold a rare token


def test_events_the_index_does_not_cover_yet_are_read(case: CaseFile) -> None:
    cur = case.cursor()
    late = cur.execute(
        "SELECT raw->>'$.requestID' FROM events WHERE source_type = 'cloudtrail' AND record_index >= ? LIMIT 1",
        [INDEXED],
    ).fetchall()[0][0]
    query = f'filter @message like /"requestID":"{late}"/ | fields @timestamp, requestID'
    got, by_index = _rows(case, query, narrowed=True)
    assert [r[1] for r in got] == [late]
    assert by_index


def test_a_token_in_no_block_reads_only_the_unindexed_events(case: CaseFile) -> None:
    query = 'filter @message like /"zzqx-not-there"/ | stats count(*) as n'
    got, by_index = _rows(case, query, narrowed=True)
    assert got == [(0,)] and by_index
    sql = translate_on(case.cursor(), "insights", query).sql
    assert "BETWEEN" not in sql and f"events.event_id > {_index_mark(case)}" in sql  # the unindexed alone


def test_negations_and_other_fields_are_not_narrowed(case: CaseFile) -> None:
    for query in (
        'filter @message not like /"AssumeRole"/ | stats count(*) as n',
        'filter eventName like /"AssumeRole"/ | stats count(*) as n',
        'filter @message like /"AssumeRole"/ or eventName = "GetObject" | stats count(*) as n',
        'fields eventName as @message | filter @message like /"AssumeRole"/ | stats count(*) as n',
    ):
        got, by_index = _rows(case, query, narrowed=True)
        assert not by_index, query
        assert got == _rows(case, query, narrowed=False)[0]


def test_cloudwatch_messages_are_read_whatever_the_index_holds(tmp_path: Path) -> None:
    """A message is a JSON string decoded from its record: a line break in it is the two
    characters `\\n` in the record text the index holds, so the record's tokens differ from the
    message's (`nadmin`, not `admin`). The CloudWatch Logs branch is never narrowed."""
    shape = json.loads(CWL_SAMPLE.read_text())
    first = shape["events"][0]
    lines = [f"line {i} nothing" for i in range(300)] + ["first line\nadmin logged in"]
    shape["events"] = [
        {
            **first,
            "timestamp": first["timestamp"] + i,
            "message": m,
            "eventId": f"{first['eventId'][:-4]}{i:04d}",
        }
        for i, m in enumerate(lines)
    ]
    evidence = tmp_path / "filter-log-events.json"
    evidence.write_text(json.dumps(shape))
    case = CaseFile.create(tmp_path / "cwl.caseline")
    assert import_paths(case, [evidence]).total("kept") == len(lines)
    derived.update_deferred(case)
    assert "admin" not in _tokens(
        case.cursor().execute("SELECT string_agg(raw::VARCHAR, ' ') FROM events").fetchall()[0][0]
    )
    got, _ = _rows(case, "filter @message like /\\nadmin logged/ | fields @message", narrowed=True)
    assert got == [("first line\nadmin logged in",)]
    case.close()


def test_the_workbench_is_told_whether_the_index_narrowed_the_filter(case: CaseFile) -> None:
    cur = case.cursor()
    late = cur.execute("SELECT raw->>'$.requestID' FROM events WHERE source_type = 'cloudtrail' LIMIT 1")
    request = late.fetchall()[0][0]

    def notes(query: str) -> list[str]:
        return [n for n in translate_on(cur, "insights", query).notes if n.startswith("@message")]

    assert notes(f'filter @message like /"requestID":"{request}"/') == [message_filter.NARROWED]
    assert notes("filter @message like /AccessDenied/") == [message_filter.NO_WORD]
    assert notes('filter @message like /"eventVersion"/') == [message_filter.NOT_NARROWED]  # every block
    assert notes("filter eventName = 'GetObject'") == []
    # without a case there is no index to ask, and nothing to say
    assert not [
        n for n in translate("insights", "filter @message like /AccessDenied/").notes if "@message" in n
    ]
