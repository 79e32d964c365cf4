"""Test-wide settings: offscreen Qt, UTC, and the shared corpus location."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["TZ"] = os.environ.get("CASELINE_TEST_TZ", "UTC")
if hasattr(__import__("time"), "tzset"):
    __import__("time").tzset()

# The user's own custom formats (and settings) must never take part in a test run.
os.environ["CASELINE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="caseline-test-config-")

REPO = Path(__file__).resolve().parents[1]
# Real logs written by other projects; never copied into the repo (see DEVELOPERS brief).
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(Path(__file__).resolve().parent))
