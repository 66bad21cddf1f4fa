"""``python -m aioredisjobqueue`` and the ``aioredisjobqueue`` command: see ``cli.py``."""

from __future__ import annotations


def main() -> None:
    """Run the command line."""
    from .cli import cli

    cli()


if __name__ == "__main__":
    main()
