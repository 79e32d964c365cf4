"""CPU-seconds spent by child processes around a call: the machine is shared, so wall time
alone says little; the CPU a run consumed is steadier across loads."""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def with_child_cpu(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    """`fn(*args)` and the user+system CPU seconds of the child processes it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = fn(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
