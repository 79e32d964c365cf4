"""Write docs/formats.md from the format registry (run after adding or changing a format).

.venv/bin/python scripts/gen_formats_doc.py          # rewrite docs/formats.md
.venv/bin/python scripts/gen_formats_doc.py --check  # exit 1 when the file is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from viewer.formats import registry  # noqa: E402
from viewer.formats.catalog import markdown  # noqa: E402

DOC = REPO / "docs" / "formats.md"


def render() -> str:
    # Built-in formats only: custom formats belong to one user's machine, not to the docs.
    return markdown(list(registry.FORMATS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run .venv/bin/python scripts/gen_formats_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {DOC} ({len(registry.FORMATS)} formats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
