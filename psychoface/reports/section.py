"""Sections: one analysis run on a study, with its APA tables, sentences and figures.

A :class:`Section` is what an analysis kind's ``build()`` returns (:mod:`psychoface.kinds`), so the CLI
(``psychoface predict ...``) and the report runner (``psychoface run analyses/X.toml``) share one code
path: the CLI prints it and saves it, the report collects sections into HTML and Word. This module is
the engine's part of it and names no analysis: :func:`build_section` runs a registered kind,
:func:`result_table`, :func:`figure` and :func:`titled` are the pieces a kind builds its section from,
:func:`save_section` writes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from psychoface.config import StudyConfig
from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_json, atomic_write_text, versions
from psychoface.reports.apa import Text
from psychoface.reports.tables import ApaTable, apa_table_for, title_case
from psychoface.reports.text import describe, resolution_note

if TYPE_CHECKING:  # annotations only: pandas is imported where it is used (fast CLI start-up)
    import pandas as pd


@dataclass
class Figure:
    """A figure as APA 7 sets it: "Figure N" and the ``title`` (title case, italic) above the image,
    the ``note`` (what is plotted, error bars, lines) below it."""

    png: Path
    pdf: Path
    title: str
    note: Text = field(default_factory=Text)


@dataclass
class Section:
    """One analysis: its result tables (first = main), the results to put in words (a table's data and
    the position of the table it refers to), figures and raw data to save."""

    kind: str
    title: str
    tables: list[ApaTable]
    described: list[tuple[pd.DataFrame, int]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, pd.DataFrame] = field(default_factory=dict)
    _words: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def results(self) -> pd.DataFrame:
        return self.tables[0].data

    @property
    def sentences(self) -> list[Text]:
        """The results in words (:func:`~psychoface.reports.text.describe`): a sentence per row of a
        short table, a summary of a long one that refers to the table by its current number. Written
        once per numbering of the tables (a report numbers them after the section is built)."""
        numbers = tuple(self.tables[i].number for _, i in self.described)
        if numbers not in self._words:
            self._words.clear()
            self._words[numbers] = [s for frame, i in self.described for s in describe(frame, self.tables[i].number)]
        return list(self._words[numbers])

    @property
    def analyses(self) -> list[dict]:
        """The parameters (``attrs["psychoface"]``) of every table, in order: what the methods paragraph
        describes and provenance records (an RSA's partial and layer-comparison tables included)."""
        return [dict(t.data.attrs.get("psychoface", {}) or {}) for t in self.tables]


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def result_table(df: pd.DataFrame, title: str | None = None, identifiers=()) -> ApaTable:
    """The APA table of an analysis result, its note extended by
    :func:`~psychoface.reports.text.resolution_note` when the permutations limit the p values;
    ``identifiers`` (layer names, ...) keep their case in the title."""
    table = apa_table_for(df, title=title, identifiers=identifiers)
    extra = resolution_note(df)
    if extra is not None:
        table.note = Text(table.note, " ", extra) if table.note else extra
    return table


def figure(fig, folder: Path | None, stem: str, title: str, note: Text) -> list[Figure]:
    """Save ``fig`` as ``<folder>/<stem>.png`` (300 dpi) and ``.pdf`` and close it; ``[]`` without a
    folder."""
    import matplotlib.pyplot as plt

    from psychoface.reports.figures import save_figure

    try:
        if folder is None:
            return []
        png, pdf = save_figure(fig, Path(folder) / slug(stem))
        return [Figure(png, pdf, title, note)]
    finally:
        plt.close(fig)


def titled(template: str, *names) -> str:
    """A figure title in APA title case, with the layer names (identifiers) left as written."""
    return title_case(template).format(*names)


# -- running a kind --------------------------------------------------------------------------------
def _checked(kind, option, value):
    """An analysis-file value of ``option``, checked against its type (a list option takes one value
    as a list of one)."""
    if value is None:
        return None
    expected = option.type
    where = f"analysis {kind.name!r}: {option.name} = {value!r}"
    if expected is list:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return [value]
        if isinstance(value, (list, tuple)):
            return list(value)
        raise PsychofaceError(f"{where} is not a list; write e.g. {option.name} = [\"a\", \"b\"]")
    if expected is bool and not isinstance(value, bool):
        raise PsychofaceError(f"{where} is not true or false; write {option.name} = true")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise PsychofaceError(f"{where} is not a whole number; write e.g. {option.name} = 10")
    if expected is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise PsychofaceError(f"{where} is not a number; write e.g. {option.name} = 0.5")
    if expected is str and not isinstance(value, str):
        raise PsychofaceError(f"{where} is not text; write it in quotes")
    return float(value) if expected is float else value


def kind_arguments(kind, config: StudyConfig, options: dict) -> tuple[StudyConfig, dict]:
    """(study configuration with the kind's study options applied, keyword arguments of its build()):
    unknown options are an error naming the valid ones; options not given take their defaults."""
    names = {o.name for o in kind.options}
    unknown = sorted(set(options) - names)
    if unknown:
        raise PsychofaceError(
            f"analysis {kind.name!r}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
        )
    overrides, arguments = {}, {}
    for option in kind.options:
        if option.name in options:
            value = _checked(kind, option, options[option.name])
        elif option.required:
            raise PsychofaceError(f"analysis {kind.name!r}: option {option.name} is required; add "
                                  f"{option.name} = ... to its [[analysis]] table")
        else:
            value = option.default
        if option.study_key:
            overrides[option.study_key] = value
        else:
            arguments[option.name] = list(value) if isinstance(value, tuple) else value
    return config.with_overrides(**overrides), arguments


def build_section(kind: str, config: StudyConfig, *, figures_dir=None, figure_prefix: str = "", progress=None,
                  **options) -> Section:
    """Run the registered analysis ``kind`` with ``options`` (its option names) and return its section.
    Figures go to ``figures_dir`` (none without it), their file names prefixed with ``figure_prefix``;
    ``progress(done, total)`` is passed to the kind's build()."""
    from psychoface.kinds.registry import get

    analysis = get(kind)
    config, arguments = kind_arguments(analysis, config, options)
    return analysis.build(config, figures_dir=figures_dir, figure_prefix=figure_prefix, progress=progress,
                          **arguments)


# -- output ----------------------------------------------------------------------------------------
def save_section(section: Section, folder: Path, *, config: StudyConfig | None = None) -> list[Path]:
    """Write every table as CSV (full precision) + Markdown + LaTeX + HTML + Word, each result's raw
    data as CSV, and a JSON provenance file (parameters, seed, versions) beside them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, table in enumerate(section.tables):
        stem = folder / (section.kind if i == 0 else f"{section.kind}_{i + 1}")
        for suffix, text in ((".md", table.to_markdown()), (".tex", table.to_latex()), (".html", table.to_html())):
            path = stem.with_suffix(suffix)
            atomic_write_text(path, text)
            written.append(path)
        written.append(table.to_docx(stem.with_suffix(".docx")))
    for name, frame in section.data.items():
        path = folder / f"{slug(name)}.csv"
        atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))
        written.append(path)
    provenance = {
        "analysis": section.kind,
        "parameters": {name: frame.attrs.get("psychoface", {}) for name, frame in section.data.items()},
        "study": config.to_dict() if config else None,
        "versions": versions(),
    }
    path = folder / f"{section.kind}.json"
    atomic_write_json(path, json.loads(json.dumps(provenance, default=_jsonable)))
    written.append(path)
    written += [f.png for f in section.figures] + [f.pdf for f in section.figures]
    return written


def _jsonable(value):
    import numpy as np
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
