"""Test-wide settings: offscreen Qt, UTC, and the shared corpus location."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["TZ"] = os.environ.get("CASELINE_TEST_TZ", "UTC")
if hasattr(__import__("time"), "tzset"):
    __import__("time").tzset()

REPO = Path(__file__).resolve().parents[1]
# Real logs written by other projects; never copied into the repo (see DEVELOPERS brief).
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(Path(__file__).resolve().parent))
