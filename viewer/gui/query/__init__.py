"""The query workbench: editor tabs, results grid and chart, wired to viewer.core.query."""
