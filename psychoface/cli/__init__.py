"""The ``psychoface`` command: a thin layer over the Python API (see ``psychoface --help``)."""

from __future__ import annotations

import typer

from psychoface.cli import analyses, reports, study

app = typer.Typer(
    name="psychoface",
    help=(
        "How deep networks see faces, analysed the way psychologists report it.\n\n"
        "Typical session in a study folder: `psychoface init` (write psychoface.toml), `psychoface check`, "
        "`psychoface extract` (run the network once), then analyses such as `psychoface reliability`, "
        "`psychoface predict --layer fc7` or `psychoface rsa --layer conv5`. "
        "`psychoface demo` runs everything on a built-in synthetic study."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command()(study.init)
app.command()(study.check)
app.command()(study.layers)
app.command()(study.extract)
app.command()(study.landmarks)
app.command()(analyses.reliability)
app.command()(analyses.predict)
app.command()(analyses.correlate)
app.command()(analyses.compare)
app.command()(analyses.rsa)
app.command()(reports.run)
app.command()(reports.demo)
app.add_typer(study.features_app, name="features")
app.add_typer(study.datasets_app, name="datasets")


def main() -> None:
    """Entry point of the ``psychoface`` console script."""
    app()
