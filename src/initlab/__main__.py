"""``python -m initlab`` runs the CLI."""

import sys

from initlab.cli import main

sys.exit(main())
