"""Test-wide settings: offscreen Qt, UTC, and the shared corpus location."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["TZ"] = os.environ.get("CASELINE_TEST_TZ", "UTC")
if hasattr(__import__("time"), "tzset"):
    __import__("time").tzset()

# The user's own custom formats (and settings) must never take part in a test run. The folder
# goes when the run ends (the CLI subprocesses that share it have ended by then).
os.environ["CASELINE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="caseline-test-config-")
atexit.register(shutil.rmtree, os.environ["CASELINE_CONFIG_DIR"], ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]
# Real logs written by other projects; never copied into the repo (see DEVELOPERS brief).
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(Path(__file__).resolve().parent))
