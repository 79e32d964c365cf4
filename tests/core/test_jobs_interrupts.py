"""CancelToken.interrupts: a cancel that comes before a statement (or between two) still stops
it; DuckDB's interrupt() alone reaches only a statement already running."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from viewer.core.jobs import CancelToken

ENDLESS = "SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3"


def test_a_cancel_before_the_statement_still_interrupts_it() -> None:
    con = duckdb.connect()
    token = CancelToken()
    remove = token.interrupts(con)
    token.cancel()  # nothing runs yet: a single interrupt now would be lost
    t0 = time.perf_counter()
    with pytest.raises(duckdb.InterruptException):
        con.execute(ENDLESS).fetchall()
    assert time.perf_counter() - t0 < 5
    remove()
    assert con.execute("SELECT 42").fetchall() == [(42,)]  # removed: the connection is left alone
    con.close()


def test_a_cancel_while_running_interrupts_and_removal_waits_for_the_interrupter() -> None:
    con = duckdb.connect()
    token = CancelToken()
    remove = token.interrupts(con)
    threading.Timer(0.2, token.cancel).start()
    with pytest.raises(duckdb.InterruptException):
        con.execute(ENDLESS).fetchall()
    remove()
    assert not any(t.name == "caseline-interrupt" and t.is_alive() for t in threading.enumerate())
    con.close()


def test_never_cancelled_nothing_is_interrupted() -> None:
    con = duckdb.connect()
    token = CancelToken()
    remove = token.interrupts(con)
    assert con.execute("SELECT count(*) FROM range(3000000)").fetchall() == [(3_000_000,)]
    remove()
    con.close()
