"""What the window shows when there is nothing to show: a sentence and the one useful action."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyStateWidget(QWidget):
    """A headline, a hint and up to two buttons; the window decides what they say."""

    primaryClicked = Signal()
    secondaryClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headline = QLabel(self)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        self.headline.setFont(font)
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel(self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { color: #555; }")
        self.primary = QPushButton(self)
        self.secondary = QPushButton(self)
        self.primary.clicked.connect(self.primaryClicked)
        self.secondary.clicked.connect(self.secondaryClicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.primary)
        buttons.addWidget(self.secondary)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addStretch(2)
        lay.addWidget(self.headline)
        lay.addWidget(self.hint)
        lay.addSpacing(12)
        lay.addLayout(buttons)
        lay.addStretch(3)

    def show_message(self, headline: str, hint: str = "", primary: str = "", secondary: str = "") -> None:
        self.headline.setText(headline)
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))
        self.primary.setText(primary)
        self.primary.setVisible(bool(primary))
        self.secondary.setText(secondary)
        self.secondary.setVisible(bool(secondary))
