"""``python -m gen``: see :mod:`gen.cli`."""

import sys

from .cli import main

sys.exit(main())
