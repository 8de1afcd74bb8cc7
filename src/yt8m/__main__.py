"""``python -m yt8m`` runs the CLI."""

import sys

from yt8m.cli import main

sys.exit(main())
