"""``python -m pyrodyn``: the ``pyrodyn`` command."""

import sys

from pyrodyn.app.cli import main

sys.exit(main())
