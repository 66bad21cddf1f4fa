"""``python -m aioredisjobqueue`` and the ``aioredisjobqueue`` command: see ``cli.py``."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the command line; say how to install it when its extra is missing."""
    try:
        from .cli import cli
    except ModuleNotFoundError as exc:
        if exc.name not in ("click", "rich"):
            raise
        sys.exit(
            f"aioredisjobqueue: the command line needs {exc.name}: "
            "pip install 'aioredisjobqueue[cli]'"
        )
    cli()


if __name__ == "__main__":
    main()
