"""Reading the next item of a slow iterator while the caller works on the current one.

The Python record readers (orjson parsing, exploding nested documents) hold the GIL, and the
DuckDB statement that takes their batch releases it: run one after the other, each left a core
idle (OTLP logs, 200k records: 0.4-0.5 s of Python between INSERTs of 0.3 s on both cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of `items`, in order, each produced in a worker thread while the previous one is
    used. One item ahead at most (memory: one more batch). An exception of `items` is raised
    here, at the item it stopped; a consumer that stops early waits for the item in progress."""
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, items, _END)
            yield item  # type: ignore[misc]
