"""Commands that write whole reports: run (an analysis file) and demo (the built-in study)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Optional

import typer

from psychoface.cli.common import console, handle_errors


class _Steps:
    """Progress of a report on the terminal: one line per step, and a bar (done/total, time left) for the
    counted steps (images extracted, layers fitted)."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console, transient=True)
        self.bar.start()
        self.task = None
        return self

    def __exit__(self, *exc):
        self.bar.stop()

    def step(self, message: str) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        self.bar.console.print(f"[bold cyan]>[/] {message}", highlight=False)

    def advance(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("", total=total)
        self.bar.update(self.task, completed=done, total=total)


@handle_errors
def run(
    analysis_file: Path = typer.Argument(..., help="A declarative analysis file, e.g. analyses/omi.toml."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder \\[default: reports/NAME]."),
):
    """Run an analysis file end to end and write a report.

    Writes reports/NAME/: report.html, report.docx, report.tex with references.bib, tables (Markdown,
    LaTeX, HTML, Word, CSV), figures (PNG 300 dpi, PDF) and provenance.json. The \\[\\[analysis]] kinds are
    the analysis commands (psychoface KIND --help lists a kind's options).
    """
    from psychoface.reports.report import run_analysis_file

    with _Steps() as steps:
        folder = run_analysis_file(analysis_file, out=out, progress=steps.step, advance=steps.advance)
    console.print(f"report written to {folder / 'report.html'} and {folder / 'report.docx'}", highlight=False)


@handle_errors
def demo(
    folder: Path = typer.Argument(Path("demo-study"), help="Study folder to create."),
    weights: Optional[str] = typer.Option(None, help="none (default: random, seeded) or DEFAULT (needs cached weights)."),
):
    """Run the whole pipeline on the built-in synthetic face study (no network, no data needed).

    Draws parametric cartoon faces whose ratings come from a known model with simulated raters, writes
    them as a study folder (images, ratings.csv, psychoface.toml), extracts VGG16 features, runs every
    analysis and writes a report into FOLDER/report/. Afterwards `cd FOLDER` and try any command,
    e.g. `psychoface rsa --layer conv5`.
    """
    from psychoface.reports.report import run_analysis_file

    spec = resources.files("psychoface").joinpath("demo.toml")
    with resources.as_file(spec) as path:
        if weights is not None:
            text = path.read_text(encoding="utf-8").replace('weights = "none"', f'weights = "{weights}"')
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "demo.toml"
            path.write_text(text, encoding="utf-8")
        with _Steps() as steps:
            report = run_analysis_file(path, out=folder / "report", study_dir=folder, progress=steps.step,
                                       advance=steps.advance)
    console.print(f"\nreport: {report / 'report.html'} (and report.docx); study folder: {folder}", highlight=False)
