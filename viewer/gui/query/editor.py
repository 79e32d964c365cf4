"""The query text editor: completion, Ctrl+Enter to run (the selection or everything), error marks."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QKeyEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QAbstractItemView, QCompleter, QPlainTextEdit, QTextEdit, QWidget

from viewer.gui.query.highlighter import QueryHighlighter

_WORD_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@.-")


class QueryEditor(QPlainTextEdit):
    runRequested = Signal(str)  # the text to run: the selection if there is one, else everything

    def __init__(self, language: str = "sql", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * 4)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.highlighter = QueryHighlighter(self.document(), language)
        self._words = QStringListModel(self)
        self.completer = QCompleter(self._words, self)
        self.completer.setWidget(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.activated.connect(self._insert_completion)
        self.setPlaceholderText(
            "Write a query; Ctrl+Enter runs it (or the selected part); Ctrl+Space completes."
        )

    def set_language(self, language: str) -> None:
        self.highlighter.set_language(language)

    def set_words(self, words: list[str]) -> None:
        self._words.setStringList(words)

    def query_to_run(self) -> str:
        selected = self.textCursor().selectedText().replace("\u2029", "\n")
        return selected if selected.strip() else self.toPlainText()

    def mark_error(self, line: int, column: int) -> None:
        """Underline the error position and put the cursor there."""
        block = self.document().findBlockByNumber(max(line - 1, 0))
        cur = QTextCursor(block)
        cur.movePosition(QTextCursor.MoveOperation.Right, n=max(column - 1, 0))
        sel = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(QColor("#C62828"))
        fmt.setBackground(QColor("#FFEBEE"))
        sel.format = fmt  # type: ignore[attr-defined]
        mark = QTextCursor(cur)
        mark.movePosition(QTextCursor.MoveOperation.EndOfWord, QTextCursor.MoveMode.KeepAnchor)
        if not mark.hasSelection():
            mark.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = mark  # type: ignore[attr-defined]
        self.setExtraSelections([sel])
        self.setTextCursor(cur)

    def clear_error(self) -> None:
        self.setExtraSelections([])

    def _popup(self) -> QAbstractItemView:
        popup = self.completer.popup()
        assert popup is not None  # QCompleter always has one once it is set up
        return popup

    def _prefix(self) -> str:
        cur = self.textCursor()
        text = cur.block().text()[: cur.positionInBlock()]
        i = len(text)
        while i > 0 and text[i - 1] in _WORD_CHARS:
            i -= 1
        return text[i:]

    def _insert_completion(self, word: str) -> None:
        cur = self.textCursor()
        cur.movePosition(QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, len(self._prefix()))
        cur.insertText(word)
        self.setTextCursor(cur)

    def show_completions(self, force: bool = False) -> None:
        prefix = self._prefix()
        if not force and len(prefix) < 2:
            self._popup().hide()
            return
        self.completer.setCompletionPrefix(prefix)
        if self.completer.completionCount() == 0:
            self._popup().hide()
            return
        rect = self.cursorRect()
        rect.setWidth(
            self._popup().sizeHintForColumn(0) + self._popup().verticalScrollBar().sizeHint().width()
        )
        self.completer.complete(rect)

    def keyPressEvent(self, e: QKeyEvent) -> None:  # Qt override
        popup = self._popup()
        if popup.isVisible() and e.key() in (
            Qt.Key.Key_Enter,
            Qt.Key.Key_Return,
            Qt.Key.Key_Tab,
            Qt.Key.Key_Escape,
        ):
            e.ignore()  # the completer handles these
            return
        ctrl = bool(e.modifiers() & Qt.KeyboardModifier.ControlModifier)
        for keys, _what, act in EDITOR_KEYS if ctrl else ():
            if e.key() in keys:
                act(self)
                return
        super().keyPressEvent(e)
        self.clear_error()
        if e.text() and (e.text()[-1] in _WORD_CHARS):
            self.show_completions()
        elif popup.isVisible():
            popup.hide()


#: Ctrl with these keys in the editor: what `keyPressEvent` does and what Help › Keyboard
#: shortcuts lists, from this one table.
EDITOR_KEYS: tuple[tuple[tuple[Qt.Key, ...], str, Callable[[QueryEditor], None]], ...] = (
    (
        (Qt.Key.Key_Return, Qt.Key.Key_Enter),
        "Run the query (the selection, or the whole text)",
        lambda ed: ed.runRequested.emit(ed.query_to_run()),
    ),
    (
        (Qt.Key.Key_Space,),
        "Complete the word (tables, columns, functions)",
        lambda ed: ed.show_completions(force=True),
    ),
)
