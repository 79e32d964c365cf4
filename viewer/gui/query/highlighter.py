"""Syntax colouring for SQL, KQL and Logs Insights: keywords, strings, numbers, comments, fields."""

from __future__ import annotations

import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from viewer.core.query.completion import KEYWORDS


def _fmt(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    f = QTextCharFormat()
    f.setForeground(QColor(color))
    if bold:
        f.setFontWeight(QFont.Weight.Bold)
    f.setFontItalic(italic)
    return f


_STRING = _fmt("#2E7D32")
_NUMBER = _fmt("#AD1457")
_COMMENT = _fmt("#757575", italic=True)
_KEYWORD = _fmt("#1565C0", bold=True)
_FIELD = _fmt("#6A1B9A")  # @timestamp and friends, raw.<path>
_COMMENTS = {"sql": r"--[^\n]*", "kql": r"//[^\n]*", "insights": r"#[^\n]*"}


class QueryHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument, language: str = "sql") -> None:
        super().__init__(document)
        self.set_language(language)

    def set_language(self, language: str) -> None:
        self.language = language
        words = sorted(KEYWORDS.get(language, []), key=len, reverse=True)
        flags = re.IGNORECASE if language == "sql" else 0
        self._rules: list[tuple[re.Pattern[str], QTextCharFormat]] = [
            (
                re.compile(r"(?<![\w@-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w-])", flags),
                _KEYWORD,
            ),
            (re.compile(r"@\w+|\braw(\.\w+)+"), _FIELD),
            (re.compile(r"\b\d+(\.\d+)?([a-z]{1,2})?\b"), _NUMBER),
            (re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|/(?:[^/\\\n]|\\.)+/(?=\s|$|\|)"), _STRING),
            (re.compile(_COMMENTS.get(language, r"--[^\n]*")), _COMMENT),
        ]
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:  # Qt override
        for pattern, fmt in self._rules:  # later rules win: strings and comments over keywords
            for m in pattern.finditer(text):
                self.setFormat(m.start(), m.end() - m.start(), fmt)
