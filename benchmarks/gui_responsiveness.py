"""Main-thread responsiveness of the window on a big case: the longest stall while an analyst works.

    .venv/bin/python benchmarks/gui_responsiveness.py --case CASE [--writable] [--import EVIDENCE]
        [--stacks]

Issue #2 asks that the main thread never block for more than about 100 ms. A heartbeat timer
fires every 5 ms in the main thread; a late beat means the thread was blocked (or busy painting)
for that long. Each scripted step, what an analyst does first on a big case, prints the time until
its result shows and the longest heartbeat gap meanwhile, with the number of gaps over 100 ms. The
baseline is the same heartbeat while the window sits idle, in the same run (the machine's own
scheduling noise). With --stacks, a watchdog thread prints the main thread's Python stack whenever
a beat is 100 ms late, which names the code that blocked.

The case opens read-only unless --writable (then the window also builds stale derived structures,
such as the search index, in the background while the steps run). --import EVIDENCE ends with an
import of that path into a new case in the same window, through the import window. Runs offscreen
(QT_QPA_PLATFORM=offscreen unless set); painting is Qt's raster engine, as on a desktop without GL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

BEAT_MS = 5
STALL_MS = 100


def all_stacks(title: str) -> str:
    """The Python stack of every thread but the caller's, the main thread marked."""
    main = threading.main_thread().ident
    names = {t.ident: t.name for t in threading.enumerate()}
    stacks = [
        f"[{'MAIN' if ident == main else names.get(ident, ident)}]\n"
        + "".join(traceback.format_stack(frame, limit=8))
        for ident, frame in sys._current_frames().items()  # noqa: SLF001 - a diagnostic
        if ident != threading.get_ident()
    ]
    return f"--- {title}\n" + "\n".join(stacks)


class Heartbeat:
    """Beats of a main-thread timer; the gaps between them are how long the thread was away."""

    def __init__(self, stacks: bool, stall_ms: float = STALL_MS) -> None:
        self.stall_s = stall_ms / 1000
        self.beats: list[float] = []
        self.last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(BEAT_MS)
        self._timer.timeout.connect(self._beat)
        self._timer.start()
        if stacks:
            threading.Thread(target=self._watch, daemon=True).start()

    def _beat(self) -> None:
        self.last = time.perf_counter()
        self.beats.append(self.last)

    def _watch(self) -> None:
        reported = 0.0
        while True:
            time.sleep(0.005)
            late = time.perf_counter() - self.last
            if late > self.stall_s and reported != self.last:
                reported = self.last
                # Every thread: a worker holding the GIL in a long C call blocks the main thread too.
                print(all_stacks(f"main thread {late * 1000:.0f} ms late; threads:"), flush=True)

    def mark(self) -> int:
        return len(self.beats)

    def gaps_ms(self, since: int) -> list[float]:
        beats = self.beats[max(since - 1, 0) :] + [time.perf_counter()]
        return [(b - a) * 1000 for a, b in zip(beats, beats[1:], strict=False)]


def wait_until(cond: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    """Run the event loop until `cond()` holds (checked every 5 ms), without spinning a core."""
    loop = QEventLoop()
    deadline = time.perf_counter() + timeout_s
    ok = [cond()]

    def check() -> None:
        if cond():
            ok[0] = True
            loop.quit()
        elif time.perf_counter() > deadline:
            loop.quit()

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(check)
    if not ok[0]:
        timer.start()
        loop.exec()
        timer.stop()
    return ok[0]


def pump(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


class Steps:
    def __init__(self, beat: Heartbeat, only: str = "") -> None:
        self.beat = beat
        self.only = only
        self.state: Callable[[], str] | None = None  # what the window shows, said when a step hangs
        self.rows: list[tuple[str, float, float, int, bool]] = []

    def run(
        self, name: str, action: Callable[[], None], done: Callable[[], bool], timeout_s: float = 60
    ) -> None:
        if (
            self.only
            and not any(o in name for o in self.only.split(","))
            and not name.startswith(("idle", "open"))
        ):
            return
        mark = self.beat.mark()
        t = time.perf_counter()
        action()
        ok = wait_until(done, timeout_s)
        took = (time.perf_counter() - t) * 1000
        pump(50)  # what the result's arrival paints
        gaps = self.beat.gaps_ms(mark)
        worst = max(gaps) - BEAT_MS if gaps else 0.0
        over = sum(1 for g in gaps if g - BEAT_MS > STALL_MS)
        self.rows.append((name, took, worst, over, ok))
        flag = "" if ok else "  (did not finish)"
        if not ok and timeout_s > 5:
            print(all_stacks("did not finish; threads:"), flush=True)
            if self.state is not None:
                print("--- window state: " + self.state(), flush=True)
        print(
            f"{name:<46} {took:>9.0f} ms   longest stall {worst:>6.0f} ms   >{STALL_MS} ms: {over}{flag}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", required=True, type=Path)
    ap.add_argument("--writable", action="store_true", help="open for writing (background builds run)")
    ap.add_argument("--import", dest="evidence", type=Path, help="then import this into a new case")
    ap.add_argument("--stacks", action="store_true", help="print the main thread's stack at each stall")
    ap.add_argument("--stall-ms", type=float, default=STALL_MS, help="stacks printed beyond this")
    ap.add_argument(
        "--only",
        default="",
        help="run only the steps whose name holds one of these (comma-separated; and the open)",
    )
    ap.add_argument("--word", default="GetObject", help="a free-text word to search for")
    args = ap.parse_args()

    app = QApplication([])
    from viewer.gui import main_thread_gc
    from viewer.gui.main_window import MainWindow

    main_thread_gc.install(app)
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(1400, 900)
    win.show()
    beat = Heartbeat(args.stacks, args.stall_ms)
    steps = Steps(beat, args.only)
    draws = [0]
    drawn_at: list[float] = []

    def on_drawn(_buckets: object) -> None:
        draws[0] += 1
        drawn_at.append(time.perf_counter())

    win.timeline.bucketsDrawn.connect(on_drawn)
    counts = [0]
    win.table_model.countChanged.connect(lambda *_a: counts.__setitem__(0, counts[0] + 1))
    model = win.table_model
    steps.state = lambda: (
        f"rows {model.rowCount():,}, row 0 loaded {model.is_row_loaded(0)}, count signals {counts[0]}, "
        f"bars drawn {draws[0]}, table model {vars(model).get('_fetching')!r} fetching, "
        f"{list(vars(model).get('_wanted', {}))[:5]} wanted, pages {list(vars(model).get('_pages', {}))[:5]}"
    )

    def drawn_after(action: Callable[[], None]) -> tuple[Callable[[], None], Callable[[], bool]]:
        before = [0]

        def act() -> None:
            before[0] = draws[0]
            action()

        return act, lambda: draws[0] > before[0]

    steps.run("idle (baseline, 2 s)", lambda: None, lambda: False, timeout_s=2)
    before = (draws[0], counts[0])
    opened = [0.0, 0.0]

    def open_case() -> None:
        opened[0] = time.perf_counter()
        win.open_case(args.case, read_only=not args.writable)
        opened[1] = time.perf_counter()  # the call itself runs on the main thread

    steps.run(
        "open case: bars, count and first rows shown",
        open_case,
        lambda: draws[0] > before[0] and counts[0] > before[1] and model.is_row_loaded(0),
    )
    total = model.rowCount()
    first_bars = (drawn_at[before[0]] - opened[0]) * 1000 if len(drawn_at) > before[0] else float("nan")
    print(
        f"    ({total:,} rows; open_case() returned after {(opened[1] - opened[0]) * 1000:.0f} ms, "
        f"first bars drawn {first_bars:.0f} ms after it began)"
    )
    for label, action in [
        ("timeline zoom in x2", lambda: win.timeline.zoom(0.5)),
        ("timeline zoom in x2 again", lambda: win.timeline.zoom(0.5)),
        ("timeline pan a quarter right", lambda: win.timeline.pan(0.25)),
        ("timeline pan a quarter left", lambda: win.timeline.pan(-0.25)),
        ("timeline zoom out x8", lambda: win.timeline.zoom(8)),
        ("timeline stacked by outcome", lambda: win.timeline.set_stack_by("outcome")),
        ("timeline stacked by account", lambda: win.timeline.set_stack_by("cloud_account")),
    ]:
        act, done = drawn_after(action)
        steps.run(label, act, done)
    for frac in (0.5, 0.99, 0.25, 0.75, 0.0):
        row = min(int(total * frac), total - 1)
        steps.run(
            f"table jump to row {row:,}",
            lambda row=row: win.table.scrollTo(model.index(row, 0)),
            lambda row=row: model.is_row_loaded(row),
        )
    for row in (0, 1, 2):

        def shown(row: int = row) -> bool:
            d = win.detail.detail
            return d is not None and d.event_id == model.event_id_at(row)

        steps.run(f"select row {row}: detail shown", lambda row=row: win.table.select_row(row), shown)

    def hold_key(
        key: Qt.Key, times: int, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    ) -> None:
        """A key held down: the auto-repeat sends about 30 presses a second."""
        win.table.setFocus()
        for _ in range(times):
            QTest.keyClick(win.table, key, modifier)
            pump(33)

    def detail_follows() -> bool:
        d = win.detail.detail
        row = win.table.currentIndex().row()
        return d is not None and d.event_id == model.event_id_at(row)

    steps.run(
        "Down held for 30 rows: the detail follows", lambda: hold_key(Qt.Key.Key_Down, 30), detail_follows
    )
    steps.run(
        "PageDown held for 20 pages: the detail follows",
        lambda: hold_key(Qt.Key.Key_PageDown, 20),
        detail_follows,
    )
    ctrl = Qt.KeyboardModifier.ControlModifier
    steps.run("Ctrl+End: the last row's detail", lambda: hold_key(Qt.Key.Key_End, 1, ctrl), detail_follows)
    steps.run("Ctrl+Home: the first row's detail", lambda: hold_key(Qt.Key.Key_Home, 1, ctrl), detail_follows)

    def apply_filter(text: str) -> tuple[Callable[[], None], Callable[[], bool]]:
        before = [0]

        def act() -> None:
            before[0] = counts[0]
            win.filter_bar.edit.setText(text)
            win.filter_bar.apply_text()

        return act, lambda: counts[0] > before[0] and (model.rowCount() == 0 or model.is_row_loaded(0))

    for text in ("outcome:failure", f"action:{args.word}", args.word, "zzqxnotthere", ""):
        act, done = apply_filter(text)
        steps.run(f"filter {text!r}: first rows shown" if text else "filter cleared", act, done)
    if total:
        first, last = win.timeline.queried_range or (None, None)
        if first and last:
            mid = first + (last - first) / 2
            before_count = [0]

            def select() -> None:
                before_count[0] = counts[0]
                win.timeline.select_range(mid, mid + dt.timedelta(hours=1))

            steps.run(
                "timeline range selected (one hour): rows shown",
                select,
                lambda: counts[0] > before_count[0] and (model.rowCount() == 0 or model.is_row_loaded(0)),
            )
    pivots = win.features[0]
    for kind in ("principal_id", "ip"):
        panel = pivots.panels[kind]
        steps.run(
            f"pivot panel {kind}: first page shown",
            lambda kind=kind: pivots.show_panel(kind),
            lambda panel=panel: panel.page is not None and not panel.busy,
        )
    top = pivots.panels["principal_id"].model.entities()[:3]
    if top:
        before_pivot = [0]

        def pivot() -> None:
            before_pivot[0] = counts[0]
            pivots.filter_entities("principal_id", top[:1])

        steps.run(
            "pivot on the top principal: rows shown",
            pivot,
            lambda: counts[0] > before_pivot[0] and (model.rowCount() == 0 or model.is_row_loaded(0)),
        )
        carded = [False]
        pivots.card.cardShown.connect(lambda *_a: carded.__setitem__(0, True))
        steps.run(
            "entity card of the top principal",
            lambda: pivots.open_card("principal_id", top[0]),
            lambda: carded[0],
        )
        laned = [False]
        pivots.lanes.lanesDrawn.connect(lambda _b: laned.__setitem__(0, True))
        steps.run(
            "swimlanes of the top three principals",
            lambda: pivots.add_lanes("principal_id", top),
            lambda: laned[0],
        )
        act, done = apply_filter("")
        steps.run("filter cleared again", act, done)
    win.show_queries()
    tab = win.query_dock.current_tab
    for sql in (
        "SELECT * EXCLUDE (raw) FROM events LIMIT 10000",
        "SELECT action, count(*) AS n FROM events GROUP BY ALL ORDER BY n DESC",
    ):
        steps.run(
            f"query workbench: {sql[:40]}...",
            lambda sql=sql: (tab.set_text(sql, "sql"), tab.run()),
            lambda: " rows in " in tab.status.text(),
        )
    closed = [False]
    steps.run("close the case", lambda: closed.__setitem__(0, win.close_case()), lambda: closed[0])
    if args.evidence:
        case = Path(tempfile.mkdtemp()) / "import.caseline"
        win.new_case(case)
        pump(200)
        dialog = win.show_import_dialog()
        assert dialog is not None
        planned = [False]
        dialog.planReady.connect(lambda _p: planned.__setitem__(0, True))
        steps.run(
            "import window: plan the evidence",
            lambda: dialog.set_paths([str(args.evidence)]),
            lambda: planned[0],
            timeout_s=3600,  # a bucket of 200,000 small files takes ~45 s to plan
        )
        finished = [False]
        dialog.imported.connect(lambda _r: finished.__setitem__(0, True))
        before = (draws[0], counts[0])
        steps.run(
            "import window: import it, the window shows it",
            dialog.start_import,
            lambda: finished[0] and draws[0] > before[0] and counts[0] > before[1] and model.is_row_loaded(0),
            timeout_s=3600,
        )
        print(f"    ({model.rowCount():,} rows)")
    worst = max(r[2] for r in steps.rows[1:])
    stalls = [r[2] for r in steps.rows[1:]]
    print(
        f"\nlongest stall over the steps {worst:.0f} ms (median of the steps' longest {statistics.median(stalls):.0f} ms); "
        f"idle baseline {steps.rows[0][2]:.0f} ms; steps with a stall over {STALL_MS} ms: "
        f"{sum(1 for r in steps.rows[1:] if r[3])} of {len(steps.rows) - 1}"
    )
    win.close()


if __name__ == "__main__":
    main()
