"""Start the desktop application: `caseline open [CASE | BUNDLE.zip] [--read-only]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from viewer import __version__
from viewer.gui import main_thread_gc

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow

APP_NAME = "Caseline"
ORG_NAME = "Caseline"
ORG_DOMAIN = "caseline.invalid"


def _application() -> QApplication:
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORG_NAME)
    QCoreApplication.setOrganizationDomain(ORG_DOMAIN)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationDisplayName(APP_NAME)
    # Cycles holding Qt objects must never be collected in a worker thread (see the module).
    main_thread_gc.install(app)
    return app


def start(case_path: str | None, read_only: bool = False) -> MainWindow | None:
    """Show the main window and open `case_path` (a case, or a bundle .zip opened read-only);
    None when the case cannot be opened. `run` adds the event loop."""
    _application()
    # Imported after QApplication exists: pyqtgraph reads the application's palette on import.
    from viewer.gui.main_window import MainWindow

    window = MainWindow()
    _fit_to_screen(window)
    window.show()
    if case_path and case_path.lower().endswith(".zip"):
        # An evidence bundle: verified, extracted and opened read-only in the background.
        from viewer.gui.casework import CaseworkFeature

        feature = next(f for f in window.features if isinstance(f, CaseworkFeature))
        feature.evidence.start_open_bundle(Path(case_path))
    elif case_path and not window.open_case(case_path, read_only=read_only):
        return None
    main_thread_gc.freeze_startup()
    return window


def _fit_to_screen(window: MainWindow) -> None:
    """Nine tenths of the screen, at least the 1400x900 the layout is designed for when the
    screen has it: on a 1920 px screen the pivot panels then open beside a readable table."""
    screen = QApplication.primaryScreen()
    if screen is None:
        return
    room = screen.availableGeometry()
    width = max(min(1400, room.width()), int(room.width() * 0.9))
    height = max(min(900, room.height()), int(room.height() * 0.9))
    window.resize(width, height)


def run(case_path: str | None, read_only: bool = False) -> int:
    """Open the main window (and `case_path` if given); returns the exit status."""
    window = start(case_path, read_only)
    if window is None:
        return 2
    return int(_application().exec())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caseline open", description="Open the Caseline window.")
    parser.add_argument("case", nargs="?", help="case file, or an evidence bundle .zip (opened read-only)")
    parser.add_argument("--read-only", action="store_true", help="open the case read-only (auditor mode)")
    args = parser.parse_args(argv)
    return run(args.case, read_only=args.read_only)


if __name__ == "__main__":
    sys.exit(main())
