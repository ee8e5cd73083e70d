"""``python -m llmotel``: the ``llmotel`` command."""

import sys

from llmotel.cli import main

sys.exit(main())
