"""Shared pieces of the command-line interface: consoles, error handling, common options."""

from __future__ import annotations

import functools
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from psychoface.errors import PsychofaceError

console = Console()
err_console = Console(stderr=True)

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def handle_errors(func):
    """Turn user errors into one red line on stderr and exit status 2: never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PsychofaceError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted:[/] finished work is kept; run the same command again to resume",
                highlight=False,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def split_list(value: Optional[str]) -> Optional[list[str]]:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; None stays None."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


ConfigOption = typer.Option(
    None, "--config", "-c", help="Study file (default: ./psychoface.toml).", show_default=False
)
SeedOption = typer.Option(None, "--seed", help="Seed of every stochastic step (psychoface.toml: seed).")
StoreOption = typer.Option(None, "--store", help="Feature store folder (psychoface.toml: store).")
