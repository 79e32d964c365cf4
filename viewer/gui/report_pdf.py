"""The case report as PDF, printed by Qt from the same HTML as `core.casework.report`.

QTextDocument renders a subset of HTML: no inline SVG and no data: URLs of its own accord, so the
timeline is drawn here with QPainter and handed to the document as a registered image resource.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtWidgets import QApplication

from viewer.core.case_file import CaseFile
from viewer.core.casework.report import build_html
from viewer.core.casework.report_chart import events_per_day

_DATA_IMG = re.compile(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"')


def ensure_gui_app() -> QGuiApplication:
    """Fonts and painting need a QGuiApplication; headless (the CLI) uses the offscreen platform.

    A full QApplication, not a bare QGuiApplication: the process may open windows later (the app,
    or a test session), and Qt aborts when a widget is made under a QGuiApplication."""
    app = QGuiApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    assert isinstance(app, QGuiApplication)
    return app


def timeline_png(days: list[tuple[dt.date, int]], width: int = 1520, height: int = 440) -> bytes:
    """Events per day as a PNG bar chart (the PDF's timeline when the GUI gives none)."""
    ensure_gui_app()
    img = QImage(width, height, QImage.Format.Format_ARGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont("Helvetica")
        font.setPixelSize(18)
        p.setFont(font)
        left, bottom, top = 90, 60, 20
        plot_w, plot_h = width - left - 16, height - bottom - top
        p.setPen(QColor("#555"))
        p.drawLine(left, top + plot_h, left + plot_w, top + plot_h)
        peak = max((n for _, n in days), default=0) or 1
        p.drawText(QRectF(0, top - 10, left - 10, 24), Qt.AlignmentFlag.AlignRight, f"{peak:,}")
        p.drawText(QRectF(0, top + plot_h - 12, left - 10, 24), Qt.AlignmentFlag.AlignRight, "0")
        bar_w = plot_w / max(len(days), 1)
        every = max(1, len(days) // 12)
        for i, (day, n) in enumerate(days):
            h = plot_h * n / peak
            x = left + i * bar_w
            p.fillRect(QRectF(x + 2, top + plot_h - h, max(bar_w - 4, 1), h), QColor("#3b6ea5"))
            if i % every == 0:
                p.drawText(
                    QRectF(x, top + plot_h + 6, bar_w, 24),
                    Qt.AlignmentFlag.AlignHCenter,
                    day.strftime("%m-%d"),
                )
        p.drawText(
            QRectF(left, height - 28, plot_w, 24), Qt.AlignmentFlag.AlignHCenter, "events per day (UTC)"
        )
    finally:
        p.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide6 wants str
    buf.close()
    return bytes(data.data())


def write_pdf(
    case: CaseFile,
    out_pdf: str | os.PathLike[str],
    *,
    png: bytes | None = None,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Print the report to A4 PDF; `png` is the GUI's timeline rendering, else one is drawn here."""
    out = Path(out_pdf)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists")
    ensure_gui_app()
    chart = png or timeline_png(events_per_day(case))
    html = build_html(case, timeline_png=chart, title=title)
    doc = QTextDocument()
    name = QUrl("caseline:timeline.png")
    image = QImage.fromData(chart, "PNG")  # type: ignore[arg-type]  # the stubs say bytes; PySide6 wants str
    doc.addResource(QTextDocument.ResourceType.ImageResource, name, image)
    doc.setHtml(_DATA_IMG.sub(f'src="{name.toString()}"', html))
    writer = QPdfWriter(str(out))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter)
    writer.setResolution(150)
    writer.setTitle(title or f"Case report: {case.path.name}")
    writer.setCreator("Caseline")
    # Paginate to the page's printable area ourselves: left to print_(), Qt adds a 2 cm margin
    # inside the page margins and the wide ledger tables wrap twice as often.
    # The layout works in screen pixels (fonts in pt are converted at the screen's logical DPI).
    area = writer.pageLayout().paintRect(QPageLayout.Unit.Inch)
    screen = QGuiApplication.primaryScreen()
    dpi = screen.logicalDotsPerInch() if screen is not None else 96.0
    doc.setDocumentMargin(0)
    doc.setPageSize(QSizeF(area.width() * dpi, area.height() * dpi))
    doc.print_(writer)
    return out
