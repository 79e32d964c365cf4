"""The search index gives exactly what a brute-force scan gives, builds incrementally, cancels cleanly,
and records which sources hold each token (so checks of columns alone are exact)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.synthetic_case import build_synthetic_case

from viewer.core import search_build, search_index
from viewer.core.case_file import CaseFile
from viewer.core.event_query import EventFilter, where_sql
from viewer.core.jobs import Cancelled, CancelToken, JobContext, Progress
from viewer.schema import searchable_fields

SEP = r"[^a-z0-9_.@-]"


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small blocks and slices so a few thousand events make many blocks and several slices."""
    monkeypatch.setattr(search_build, "BLOCK_EVENTS", 64)
    monkeypatch.setattr(search_build, "SLICE_BLOCKS", 8)


def _texts(cur: Any) -> list[tuple[int, Any, str]]:
    """(event_id, ts, searched text) of every event, built in Python (brute force)."""
    cols = [f.name for f in searchable_fields()]
    rows = cur.execute(f"SELECT event_id, ts, {', '.join(cols)}, raw::VARCHAR FROM events").fetchall()
    return [(r[0], r[1], "\n".join(str(v) for v in r[2:] if v is not None).lower()) for r in rows]


_ASCII_SEP = "".join(c for c in map(chr, range(128)) if re.fullmatch(SEP, c.lower()))


def _brute(texts: list[tuple[int, Any, str]], query: str, phrase: bool = False) -> list[int]:
    """Event ids matching every word of `query` (documented semantics), in (ts, event_id) order.

    Independent of the SQL: Python's re on Python-built text. `phrase` takes `query` as one needle.
    """
    pats = []
    for word in [query] if phrase else query.split():
        prefix = word.endswith("*") and len(word) > 1
        core = (word[:-1] if prefix else word).strip(_ASCII_SEP)
        if not core:
            return []
        pats.append(re.compile(f"(?:^|{SEP}){re.escape(core.lower())}" + ("" if prefix else f"(?:{SEP}|$)")))
    hits = [(ts, eid) for eid, ts, text in texts if all(p.search(text) for p in pats)]
    return [eid for _, eid in sorted(hits)]


def _search(cur: Any, query: str, limit: int = 25) -> tuple[list[int], int]:
    msgs = list(search_index.search(cur, query, limit=limit))
    assert msgs[-1].done and msgs[-1].total is not None
    assert all(m.event_ids == msgs[0].event_ids for m in msgs)
    return msgs[0].event_ids, msgs[-1].total


def _queries(texts: list[tuple[int, Any, str]], seed: int, n: int) -> Iterator[str]:
    """Random words, prefixes, pairs and phrases taken from the data, plus a few odd ones."""
    rng = random.Random(seed)
    yield from ["nosuchword", "a", "alice", "ALICE*", "getobject", "awsapicall", '"-x-"', "arn:aws:iam::"]
    for _ in range(n):
        text = rng.choice(texts)[2]
        toks = [t for t in re.split(f"{SEP}+", text) if t]
        tok = rng.choice(toks)
        kind = rng.randrange(5)
        if kind == 0:
            yield tok.upper()
        elif kind == 1:
            yield tok[: rng.randrange(1, len(tok) + 1)] + "*"
        elif kind == 2:
            yield f"{tok} {rng.choice(toks)}"
        elif kind == 3:
            start = rng.randrange(len(text))
            yield '"' + text[start : start + rng.randrange(3, 30)].replace('"', "").strip() + '"'
        else:
            yield tok[:-1] if len(tok) > 2 else tok  # a cut token: substring, not a token


def _check_queries(cur: Any, queries: Iterator[str]) -> None:
    texts = _texts(cur)
    for q in queries:
        if q.startswith('"'):  # a quoted phrase is one needle; the filter bar parses quotes
            sql, params = where_sql(EventFilter(text=q), cur)
            got = {r[0] for r in cur.execute(f"SELECT event_id FROM events WHERE {sql}", params).fetchall()}
            assert got == set(_brute(texts, q.strip('"'), phrase=True)), q
            continue
        expected = _brute(texts, q)
        first, total = _search(cur, q)
        assert total == len(expected), q
        assert first == expected[:25], q


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseFile]:
    path = build_synthetic_case(tmp_path_factory.mktemp("s") / "case.duckdb", 3_000, seed=2)
    c = CaseFile.open(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_build, "BLOCK_EVENTS", 64)
        cur = c.cursor()
        with c.transaction(cur):
            stats = search_index.update_index(cur)
    assert stats.events == 3_000 and stats.blocks == 47
    yield c
    c.close()


def test_random_queries_equal_brute_force_synthetic(synthetic: CaseFile) -> None:
    cur = synthetic.cursor()
    assert search_index.is_ready(cur)
    _check_queries(cur, _queries(_texts(cur), seed=1, n=50))


def _plan(cur: Any, word: str) -> tuple[search_index.BlockTable, search_index.NeedlePlan]:
    blocks = search_index.load_blocks(cur)
    needle = search_index.make_needle(word)
    assert needle is not None
    return blocks, search_index.plan_needle(cur, blocks, needle)


def test_index_narrows_rare_tokens(synthetic: CaseFile) -> None:
    cur = synthetic.cursor()
    uid = cur.execute("SELECT event_uid FROM events LIMIT 1").fetchall()[0][0]
    blocks, plan = _plan(cur, uid)
    assert len(blocks) == 47 and blocks.indexed == 47
    assert plan.cand.sum() <= 2  # its block (+ a rare collision)
    assert _plan(cur, "awsapicall")[1].cand.sum() == 47
    assert not _plan(cur, "nosuchwordanywhere")[1].cand.any()


def test_sources_say_where_a_token_lies(synthetic: CaseFile) -> None:
    """An action is held by the `action` column, and its raw record says it again: no block needs
    a raw check. `awsapicall` lies in raw records only (no searchable column holds it)."""
    cur = synthetic.cursor()
    action = cur.execute("SELECT action FROM events LIMIT 1").fetchall()[0][0]
    _, plan = _plan(cur, action)
    bit = 1 << search_build.searchable_columns().index("action")
    assert plan.cand.any() and not plan.raw.any()
    assert all(int(f) & bit for f in plan.fields[plan.cand])
    _, raw_word = _plan(cur, "awsapicall")
    assert not raw_word.fields[raw_word.cand].any()
    # Held by every event's raw record and by no column: every block matches whole, unread.
    assert raw_word.every.all() and not raw_word.raw.any()
    # A phrase can lie in raw text whatever its tokens' sources say: always checked there.
    _, phrase = _plan(cur, f"{action} x")
    assert phrase.raw[phrase.cand].all()


def test_every_marks_exactly_the_blocks_where_all_events_match(synthetic: CaseFile) -> None:
    """`every` is an answer, not a hint: checked per block against the brute-force semantics, for
    tokens of every kind (keys and constants of the raw JSON, column values, rare ids)."""
    cur = synthetic.cursor()
    texts = _texts(cur)
    blocks = search_index.load_blocks(cur)
    rng = random.Random(9)
    words = {"awsapicall", "eventversion", "useridentity", "getobject", "us-east-1"}
    for _ in range(40):
        toks = [t for t in re.split(f"{SEP}+", rng.choice(texts)[2]) if len(t) >= 2]
        words.add(rng.choice(toks))
    seen_every = seen_partial = 0
    for word in sorted(words):
        _, plan = _plan(cur, word)
        hits = np.asarray(_brute(texts, word), np.int64)
        for b in range(blocks.indexed):
            inside = int(((hits >= blocks.lo[b]) & (hits <= blocks.hi[b])).sum())
            if plan.every[b]:
                assert inside == blocks.events[b], (word, b)
                seen_every += 1
            elif inside:  # the index must know the block holds it, and that some event lacks it
                assert plan.cand[b] and inside < blocks.events[b], (word, b)
                seen_partial += 1
    assert seen_every and seen_partial


def test_where_sql_with_and_without_index_agree(synthetic: CaseFile) -> None:
    cur = synthetic.cursor()
    texts = _texts(cur)
    for q in ["alice", "-alice getobject", "10.1*", '"user is not authorized"', '"arn:aws:s3:::re"*']:
        ids = []
        for use_index in (True, False):
            sql, params = where_sql(EventFilter(text=q), cur, use_index=use_index)
            ids.append(
                {r[0] for r in cur.execute(f"SELECT event_id FROM events WHERE {sql}", params).fetchall()}
            )
        assert ids[0] == ids[1], q
        if not q.startswith("-") and '"' not in q:
            assert ids[0] == set(_brute(texts, q)), q


def test_semantics_examples() -> None:
    texts = [(1, 1, "arn:aws:iam::1:user/alice"), (2, 2, "malice 10.0.0.10"), (3, 3, "10.0.0.1, josé")]
    assert _brute(texts, "alice") == [1]
    assert _brute(texts, "10.0.0.1") == [3]
    assert _brute(texts, "10.0.0.1*") == [2, 3]
    n = search_index.make_needle('"10.0.0.1,"')
    assert n == search_index.Needle("10.0.0.1") and n.index_tokens == ["10.0.0.1"]
    assert search_index.Needle("arn:aws:iam::1:user/Bob", prefix=True).index_tokens == [
        "arn",
        "aws",
        "iam",
        "user",
    ]
    assert search_index.make_needle(":/") is None
    assert search_index.parse_query("Alice alice b* :") == [
        search_index.Needle("Alice"),
        search_index.Needle("alice"),
        search_index.Needle("b", prefix=True),
    ]


def _import_half(case: CaseFile, files: list[Path]) -> None:
    from viewer.core.ingest import import_paths

    import_paths(case, [str(f) for f in files])


def test_cloudtrail_import_incremental(tmp_path: Path) -> None:
    """Real-shaped CloudTrail through the importer; a second import is indexed incrementally."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from ingest_cloudtrail import generate

    files = generate(tmp_path / "ev", 2_500)
    case = CaseFile.create(tmp_path / "ct.caseline")
    try:
        _import_half(case, files[:2])
        cur = case.cursor()
        with case.transaction(cur):
            first = search_index.update_index(cur)
        assert first.events == 2_000 and search_index.is_ready(cur)
        _import_half(case, files[2:])
        assert not search_index.is_ready(cur) and search_index.usable(cur)
        _check_queries(cur, _queries(_texts(cur), seed=3, n=15))  # the unindexed tail is checked
        with case.transaction(cur):
            again = search_index.update_index(cur)
        assert again.events == 500 and search_index.is_ready(cur)
        assert search_index.update_index(cur).events == 0
        dupes = cur.execute(
            "SELECT count(*) FROM (SELECT * FROM search_block_terms GROUP BY ALL HAVING count(*) > 1)"
        ).fetchall()[0][0]
        overlaps = cur.execute(
            "SELECT count(*) FROM search_blocks a JOIN search_blocks b ON a.block_id < b.block_id "
            "AND a.event_id_hi >= b.event_id_lo AND b.event_id_hi >= a.event_id_lo"
        ).fetchall()[0][0]
        assert dupes == 0 and overlaps == 0
        # Each build adds only the masks it has not seen: one code per mask, numbered densely.
        codes, masks, top = cur.execute(
            "SELECT count(DISTINCT code), count(DISTINCT mask), max(code) + 1 FROM search_source_masks"
        ).fetchall()[0]
        assert (
            codes == masks == top == cur.execute("SELECT count(*) FROM search_source_masks").fetchall()[0][0]
        )
        _check_queries(cur, _queries(_texts(cur), seed=4, n=30))
    finally:
        case.close()


def test_cancel_rolls_back_everything(tmp_path: Path) -> None:
    path = build_synthetic_case(tmp_path / "cancel.duckdb", 1_500, seed=1)
    with CaseFile.open(path) as c:
        cur = c.cursor()
        search_index.create_tables(cur)
        token = CancelToken()

        def cancel_after_first_slice(p: Progress) -> None:
            token.cancel()

        with pytest.raises(Cancelled), c.transaction(cur):
            search_index.update_index(cur, JobContext(token, cancel_after_first_slice, min_interval=0))
        for table in ("search_blocks", "search_block_terms", "search_index_batches"):
            assert cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] == 0, table
        assert not search_index.is_ready(cur)
        assert _search(cur, "alice")[1] == len(_brute(_texts(cur), "alice"))  # scans when not indexed


@pytest.mark.parametrize("change", ["hash_check = 0", "fields = 'event_uid'"])
def test_changed_hash_or_columns_make_index_unusable(tmp_path: Path, change: str) -> None:
    path = build_synthetic_case(tmp_path / "h.duckdb", 500, seed=5)
    with CaseFile.open(path) as c:
        cur = c.cursor()
        search_index.update_index(cur)
        cur.execute(f"UPDATE search_index_batches SET {change}")
        assert not search_index.usable(cur) and not search_index.is_ready(cur)
        assert search_index.load_blocks(cur).indexed == 0  # every event is a tail block: scanned
        assert _search(cur, "bob")[1] == len(_brute(_texts(cur), "bob"))


def test_index_of_an_older_layout_is_not_usable(tmp_path: Path) -> None:
    path = build_synthetic_case(tmp_path / "old.duckdb", 300, seed=6)
    with CaseFile.open(path) as c:
        cur = c.cursor()
        cur.execute("CREATE TABLE search_index_batches (block_lo INTEGER, hash_check UBIGINT)")
        cur.execute("INSERT INTO search_index_batches VALUES (0, hash('caseline'))")
        assert not search_index.usable(cur)


def test_search_streams_first_hits_then_the_total(synthetic: CaseFile) -> None:
    cur = synthetic.cursor()
    texts = _texts(cur)
    msgs = list(search_index.search(cur, "awsapicall", limit=10))
    assert [m.done for m in msgs] in ([False, True], [True])
    assert msgs[0].event_ids == _brute(texts, "awsapicall")[:10] and msgs[-1].total == 3_000
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        list(search_index.search(cur, "awsapicall", limit=10, token=token))
