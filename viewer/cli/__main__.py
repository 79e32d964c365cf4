"""`python -m viewer.cli`: the same as the `caseline` command."""

import sys

from viewer.cli import main

sys.exit(main())
