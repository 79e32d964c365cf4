"""Render the main window on the sample case to docs/screenshot.png (offscreen; no display needed).

.venv/bin/python scripts/screenshot.py [CASE] [--filter TEXT] [--card FIELD:VALUE] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def pump(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", nargs="?", default=str(REPO / "sample_cases/aws_incident/aws_incident.caseline"))
    ap.add_argument("--filter", default="")
    ap.add_argument("--row", type=int, default=3)
    ap.add_argument("--stack-by", default="cloud_account")
    ap.add_argument("--query", default="", help="open the query workbench and run this SQL")
    ap.add_argument("--lang", default="sql")
    ap.add_argument("--show-sql", action="store_true", help="and show the SQL it runs as")
    ap.add_argument(
        "--card", default="", help="open the entity card of FIELD:VALUE (e.g. target_id:acme-data)"
    )
    ap.add_argument(
        "--panels", default="", help="show the pivot panels, this kind's in front (e.g. resource)"
    )
    ap.add_argument(
        "--lanes", default="", help="swimlanes of KIND:VALUE,VALUE... (e.g. principal_id:alice,bob)"
    )
    ap.add_argument("--size", default="1400x900", help="window size, WIDTHxHEIGHT")
    ap.add_argument("--zone", default="", help="show times in this zone (e.g. Asia/Kolkata, +05:30)")
    ap.add_argument("--out", default=str(REPO / "docs/screenshot.png"))
    args = ap.parse_args()
    from viewer.core.case_file import schema_version_of
    from viewer.core.migrations import SCHEMA_VERSION

    if schema_version_of(args.case) < SCHEMA_VERSION:  # else the window asks, and nobody answers
        raise SystemExit(
            f"{args.case} was written by an older Caseline: rebuild it (make sample) or upgrade it "
            f"(caseline upgrade {args.case}) first"
        )
    app = QApplication([])
    from viewer.gui.main_window import MainWindow

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    w.resize(*(int(v) for v in args.size.split("x")))
    w.show()
    w.open_case(Path(args.case), read_only=True)
    w.timeline.set_stack_by(args.stack_by)
    if args.zone:
        from viewer.gui import display_zone

        display_zone.apply(args.zone, settings)
    pump(1500)
    if args.filter:
        w.filter_bar.edit.setText(args.filter)
        w.filter_bar.apply_text()
        pump(1500)
    w.table.select_row(args.row)
    pump(1000)
    if args.query:
        w.show_queries()
        w.resizeDocks([w.query_dock], [380], Qt.Orientation.Vertical)
        tab = w.query_dock.current_tab
        tab.set_text(args.query, args.lang)
        tab.run()
        pump(2500)
        if args.show_sql:
            tab.sql_button.click()
            pump(300)
    if args.panels:
        pivots = w.features[0]
        pivots.toggle_panels()
        pivots.panel_docks[args.panels].show()
        pivots.panel_docks[args.panels].raise_()
        pump(2500)
    if args.lanes:
        kind, values = args.lanes.split(":", 1)
        w.features[0].add_lanes(kind, values.split(","))
        pump(2500)
    if args.card:
        field, value = args.card.split(":", 1)
        w.features[0].open_card(field, value)
        pump(2500)
    w.grab().save(args.out)
    print(f"saved {args.out}")
    app.quit()


if __name__ == "__main__":
    main()
