"""Entry point for ``python -m gdsheet``."""

import sys

from .cli import main

sys.exit(main())
