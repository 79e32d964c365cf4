"""Annotations, findings, custody, reports and bundles in the window (issue #6).

`CaseworkFeature(window)` adds the Annotate menu and its shortcuts, the Findings dock, value-menu
actions, timeline markers, the table's annotation decorations, File menu entries (open read-only,
open bundle, report, export, verify, activity log) and the auditor-mode banner; it follows
`MainWindow.caseChanged`. The pieces live in the modules of this package.
"""

from viewer.gui.casework.feature import CaseworkFeature

__all__ = ["CaseworkFeature"]
