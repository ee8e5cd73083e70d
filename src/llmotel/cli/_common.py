"""What the ``llmotel`` subcommands share: the exit codes.

Kept apart from the package ``llmotel.cli`` (the parser and ``main``), which imports the
subcommand modules, so that they need not import it back.
"""

from __future__ import annotations

from typing import Final

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
