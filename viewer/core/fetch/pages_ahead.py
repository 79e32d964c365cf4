"""Fetch ahead while importing: API paging in one thread, imports of what it wrote in the caller's.

Paging an API is sequential (each page needs the previous page's token) and mostly waiting on the
network and the rate limiter, while an import keeps DuckDB busy: run one beside the other and a
fetch takes about the longer of the two, not their sum. The caller's thread does the imports
(the case connection stays on the thread that opened the job); the paging thread only writes
files and the resume state, and reports what it wrote through `written`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from viewer.core.jobs import JobContext


class PagesAhead:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.stop = threading.Event()  # the importing side failed: the paging side stops
        self.written = threading.Event()  # a file was written: the importing side looks

    def run(self, produce: Callable[[], None], import_ready: Callable[[bool], None]) -> None:
        """Run `produce` in a thread; meanwhile call `import_ready(final)` whenever it wrote
        something, `final` once it has ended. Its errors (and cancel) are raised here; an error
        here stops it at its next page."""
        with ThreadPoolExecutor(1, thread_name_prefix="fetch-pages") as pool:
            fut = pool.submit(produce)
            try:
                while True:
                    done = fut.done()  # looked at first: then every file it wrote is seen
                    import_ready(done)
                    if done:
                        fut.result()
                        return
                    self.ctx.report()
                    self.written.wait(0.2)
                    self.written.clear()
            except BaseException:
                self.stop.set()
                raise
