"""The ``psychoface`` command: a thin layer over the Python API (see ``psychoface --help``).

:func:`build_app` builds the app from the registry of analysis kinds when it is called, so a kind
registered before the call (a plug-in, a test) gets its command; ``app`` is the app of the kinds
registered at import.
"""

from __future__ import annotations

import typer

from psychoface.cli import analyses, reports, study

HELP = (
    "How deep networks see faces, analysed the way psychologists report it.\n\n"
    "Typical session in a study folder: `psychoface init` (write psychoface.toml), `psychoface check`, "
    "`psychoface extract` (run the network once), then analyses such as `psychoface reliability`, "
    "`psychoface predict --layer fc7` or `psychoface rsa --layer conv5`. "
    "`psychoface demo` runs everything on a built-in synthetic study."
)


def paragraphs(doc: str | None) -> str | None:
    """A docstring as help text: its lines joined into paragraphs (blank lines between them), so that
    the terminal wraps them at its own width instead of at the source's line breaks."""
    if doc is None:
        return None
    import inspect

    blocks = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in block.splitlines() if line.strip()) for block in blocks)


def build_app() -> typer.Typer:
    """The Typer app: the study commands, one command per registered analysis kind (registration
    order), then run and demo, and the features and datasets groups."""
    from psychoface.kinds.registry import kinds

    app = typer.Typer(name="psychoface", help=HELP, no_args_is_help=True, pretty_exceptions_enable=False,
                      add_completion=False, rich_markup_mode="rich")
    for func in (study.init, study.check, study.layers, study.extract, study.landmarks):
        app.command(help=paragraphs(func.__doc__))(func)
    for kind in kinds():
        app.command(name=kind.name, help=paragraphs(kind.help))(analyses.command(kind))
    for func in (reports.run, reports.demo):
        app.command(help=paragraphs(func.__doc__))(func)
    app.add_typer(study.features_app, name="features")
    app.add_typer(study.datasets_app, name="datasets")
    return app


app = build_app()


def main() -> None:
    """Entry point of the ``psychoface`` console script."""
    build_app()()
