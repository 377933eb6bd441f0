"""``python -m homfact.cli``: the ``homfact`` console script."""

import sys

from . import main

sys.exit(main())
