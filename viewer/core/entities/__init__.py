"""Entities and correlation: pivot panels, actor resolution, network attribution, entity cards.

Everything here is derived from `events` (`builder.update` rebuilds it) and never the only copy
of anything. Qt-free; the CLI and the GUI call `api`, `pivots`, `actors`, `network` and `cards`.
"""
