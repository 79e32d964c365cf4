"""`read_ahead`: the next item is produced in a worker thread while the caller uses this one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from viewer.core.read_ahead import read_ahead


def test_items_come_in_order_and_the_next_is_made_while_this_one_is_used() -> None:
    made = [threading.Event() for _ in range(4)]
    threads: list[int] = []

    def slow() -> Iterator[int]:
        for i in range(4):
            threads.append(threading.get_ident())
            made[i].set()
            yield i

    got = []
    for item in read_ahead(slow()):
        got.append(item)
        if item < 3:
            # Without reading ahead nothing makes item + 1 while this body runs: the wait times out.
            assert made[item + 1].wait(timeout=10)
    assert got == [0, 1, 2, 3]
    assert threading.get_ident() not in threads


def test_an_error_of_the_iterator_is_raised_after_the_items_before_it() -> None:
    def failing() -> Iterator[str]:
        yield "a"
        yield "b"
        raise ValueError("damaged")

    got = []
    with pytest.raises(ValueError, match="damaged"):
        for item in read_ahead(failing()):
            got.append(item)
    assert got == ["a", "b"]


def test_a_consumer_that_stops_early_leaves_the_rest_unread() -> None:
    produced: list[int] = []

    def counting() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    reader = read_ahead(counting())
    assert next(reader) == 0
    reader.close()  # the caller gives up (a cancelled import): at most one item was read ahead
    assert produced in ([0], [0, 1])
    assert list(read_ahead(iter([]))) == []
