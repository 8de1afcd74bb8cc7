"""The ``yt8m`` command: parses options, calls the library, prints results.

Commands are grouped in modules (``files``, ``models``, ...) that register on the group
of :mod:`yt8m.cli.app`. Every :class:`~yt8m.errors.Yt8mError` becomes one line on
stderr and the error's exit code (2 for bad input); an ``OSError`` (a folder that cannot
be written, a full disk) one line naming the path and exit code 2. No traceback is
shown for them.
"""

from __future__ import annotations

import sys

import click

from yt8m.cli import extract, files, inference, models, render, train, web  # noqa: F401 - importing registers the commands
from yt8m.cli.app import cli
from yt8m.errors import Yt8mError

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of raising for expected errors."""
    try:
        cli.main(args=argv, prog_name="yt8m", standalone_mode=False)
    except Yt8mError as exc:
        click.echo(f"yt8m: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("yt8m: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("yt8m: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except OSError as exc:  # a file system refused (permissions, full disk, not a folder...): one line
        click.echo(f"yt8m: error: {_os_error_line(exc)}", err=True)
        return 2
    return 0


def _os_error_line(exc: OSError) -> str:
    """``path: problem`` for an OS error (both paths for a rename or link)."""
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    problem = exc.strerror or str(exc)
    return f"{where}: {problem}" if where else problem


if __name__ == "__main__":
    sys.exit(main())
