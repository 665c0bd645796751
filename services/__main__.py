"""``python -m services``: the ``bondgenoten`` console script without the installed entry point."""

import sys

from services.entrypoints.cli import main

sys.exit(main())
