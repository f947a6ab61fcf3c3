"""The per-rater ratings layouts: one row per rater, one column per stimulus, for one attribute.

This is how Qualtrics-style and most lab exports look: each row is a rater (a participant), each
stimulus column holds that rater's rating of the stimulus (empty when the rater did not see it), and
other columns describe the rater (sex, age, condition, ...). Those rater-level columns are kept as
:attr:`~psychoface.data.ratings.Ratings.raters` (one row per rater) and copied onto every rating of
:attr:`~psychoface.data.ratings.Ratings.trials`, so that analyses can be split by them.

Which columns are the rater's: the rater id column (``rater_column``, else the first column named like a
rater, e.g. ``participant``, or Qualtrics' ``ResponseId``; without one, each row is its own rater, named
by file and row), the columns listed in ``rater_columns``, columns with a rater-level name
(:data:`~psychoface.data.ratings.RATER_INFO_COLUMNS`, Qualtrics' own :data:`QUALTRICS_COLUMNS`), and
columns whose cells are mostly text. Every other column is a stimulus, named by its header.

A **Qualtrics** CSV export has three header rows: variable names (row 1), question texts (row 2) and
import ids (row 3, ``{"ImportId":"QID1_1"}``); it is recognised by row 3. The stimulus of a column is
named by its question text: the image file name in it (``<img src=".../face_001.jpg">`` -> ``face_001``),
else the part after the last " - " (Qualtrics writes "question - sub-question", e.g. "How attractive is
this face? - face_001"); with ``qualtrics_ids = "name"`` the variable names of row 1 are the stimulus ids.
Columns whose question text names no stimulus are rater-level (demographic questions).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from psychoface.errors import PsychofaceError

QUALTRICS_COLUMNS = (
    "startdate", "enddate", "status", "ipaddress", "progress", "duration_(in_seconds)", "finished",
    "recordeddate", "responseid", "recipientlastname", "recipientfirstname", "recipientemail",
    "externalreference", "externaldatareference", "locationlatitude", "locationlongitude",
    "distributionchannel", "userlanguage", "q_recaptchascore", "q_relevantidduplicate",
    "q_relevantidduplicatescore", "q_relevantidfraudscore", "q_relevantidlaststartdate",
)
"""Normalised names of the columns Qualtrics adds to every export (never stimuli)."""

_IMPORT_ID = re.compile(r'^\s*\{\s*"?ImportId"?\s*:', re.IGNORECASE)
_IMAGE_NAME = re.compile(r"([^\s/\\\"'<>=?&]+)\.(?:jpe?g|png|bmp|tiff?|webp|gif)\b", re.IGNORECASE)
_QUALTRICS_FIX = (
    "ratings must be numbers: export the responses with numeric values (Qualtrics: Data & Analysis > "
    "Export > Use numeric values)"
)


def is_qualtrics(frame: pd.DataFrame) -> bool:
    """True when the table's third row (frame index 1) holds Qualtrics import ids."""
    if 1 not in frame.index:
        return False
    return any(isinstance(v, str) and _IMPORT_ID.match(v) for v in frame.loc[1])


def question_stimulus(text) -> str | None:
    """The stimulus a Qualtrics question text names (module docstring), or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    names = _IMAGE_NAME.findall(text)
    if names:
        return names[-1]
    if " - " in text:
        tail = text.rsplit(" - ", 1)[1].strip()
        return tail or None
    return None


def per_rater(reader, attribute: str | None, rater_column: str | None, rater_columns=(), *,
              qualtrics: bool = False, qualtrics_ids: str = "question"):
    """Read one per-rater (or Qualtrics) table through ``reader`` (a ``ratings._Reader``) into Ratings.

    Errors name the file, the spreadsheet row or column and the value: no attribute named for the file,
    an unknown rater column, a repeated or empty rater id, a non-numeric cell, an entirely empty stimulus
    column, two columns naming one stimulus, question texts that name no stimulus.
    """
    from psychoface.data.ratings import (
        RATER_COLUMNS, RATER_INFO_COLUMNS, LayoutFound, Ratings, _first, _names, _normalise, means_of_trials,
    )

    path = reader.path
    layout = "qualtrics" if qualtrics else "per_rater"
    if attribute is None:
        raise PsychofaceError(
            f"{path}: one row per rater and one column per stimulus, but no attribute is named for this file; "
            f"name it in psychoface.toml: a ratings pattern such as ratings = \"ratings/{{attribute}}.csv\", or "
            f"ratings_files = [{{ file = \"{path.name}\", attribute = \"...\" }}]"
        )
    if qualtrics_ids not in ("question", "name"):
        raise PsychofaceError(f"qualtrics_ids = {qualtrics_ids!r}: use \"question\" or \"name\"")
    frame = reader.frame
    questions = None
    if qualtrics:
        if not is_qualtrics(frame):
            raise PsychofaceError(
                f"{path}: ratings_layout is qualtrics, but row 3 holds no Qualtrics import ids "
                f"({{\"ImportId\": ...}}); export with the three header rows, or set ratings_layout = \"per_rater\""
            )
        questions = frame.loc[0]
        frame = frame.drop(index=[0, 1])
        reader.frame = frame
        reader._fix = _QUALTRICS_FIX
        if frame.empty:
            raise PsychofaceError(f"{path}: a Qualtrics export without responses (nothing below row 3)")
    names = _names(list(frame.columns))
    rater_col = rater_column or _first(names, RATER_COLUMNS) or names.get("responseid")
    unknown = [c for c in rater_columns if c not in frame.columns]
    if unknown:
        raise PsychofaceError(
            f"{path}: rater_columns {', '.join(map(repr, unknown))} not in the file; columns are "
            f"{', '.join(map(repr, frame.columns[:12]))}{', ...' if len(frame.columns) > 12 else ''}"
        )
    info = {rater_col} if rater_col else set()
    info |= set(rater_columns)
    stimulus_of: dict[str, str] = {}
    for col in frame.columns:
        if col in info:
            continue
        norm = _normalise(col)
        if norm in RATER_INFO_COLUMNS or norm in QUALTRICS_COLUMNS or _mostly_text(frame[col]):
            info.add(col)
            continue
        if qualtrics and qualtrics_ids == "question":
            stim = question_stimulus(questions[col])
            if stim is None:  # a question about the rater, not a rating of a stimulus
                info.add(col)
                continue
        else:
            stim = str(col).strip()
        stimulus_of[col] = stim
    if not stimulus_of:
        if qualtrics:
            example = next((c for c in frame.columns if c != rater_col and _normalise(c) not in QUALTRICS_COLUMNS
                            and c not in rater_columns), frame.columns[-1])
            raise PsychofaceError(
                f"{path}: Qualtrics export whose question texts (row 2) name no stimulus, e.g. column {example!r}: "
                f"{str(questions[example])[:60]!r}; end each rating question's text with ' - <stimulus id>' or "
                f"the image file name, or set qualtrics_ids = \"name\" in psychoface.toml when the column names "
                f"in row 1 are the stimulus ids"
            )
        raise PsychofaceError(
            f"{path}: per-rater layout without stimulus columns (every column is rater-level: "
            f"{', '.join(map(repr, list(frame.columns)[:6]))}); give one column of ratings per stimulus"
        )
    seen: dict[str, str] = {}
    for col, stim in stimulus_of.items():
        if stim in seen:
            raise PsychofaceError(
                f"{path}: columns {seen[stim]!r} and {col!r} both name stimulus {stim!r}; give each stimulus "
                f"one column"
            )
        seen[stim] = col
    if rater_col:
        raters = reader.text(rater_col, "rater id")
        dup = raters[raters.duplicated(keep=False)]
        if not dup.empty:
            rows = [int(i) + 2 for i in dup.index[(dup == dup.iloc[0]).to_numpy()]]
            raise PsychofaceError(
                f"{path} rows {', '.join(map(str, rows[:5]))}: rater id {dup.iloc[0]!r} appears {len(rows)} times "
                f"in column {rater_col!r}; give each rater one row (several rows per rater are the long layout)"
            )
        rater_ids = raters.to_numpy(dtype=object)
    else:
        rater_ids = np.array([f"{path.stem} row {int(i) + 2}" for i in frame.index], dtype=object)
    columns = list(stimulus_of)
    values = np.column_stack([reader.numbers(c, allow_missing=True) for c in columns])
    empty = np.isnan(values).all(axis=0)
    if empty.any():
        col = columns[int(empty.argmax())]
        raise PsychofaceError(
            f"{path}, column {col!r}: no rating in any row (an entirely empty stimulus column); delete the "
            f"column, fill in its ratings, or list it in rater_columns when it describes the raters"
        )
    meta_cols = [c for c in frame.columns if c in info and c != rater_col]
    rater_frame = pd.DataFrame({c: _typed(frame[c]) for c in meta_cols}, index=frame.index)
    rater_frame.index = pd.Index(rater_ids, name="rater")
    row, col = np.nonzero(~np.isnan(values))
    trials = pd.DataFrame({
        "stimulus": np.array([stimulus_of[c] for c in columns], dtype=object)[col],
        "attribute": np.full(row.size, attribute, dtype=object),
        "rating": values[row, col],
        "rater": rater_ids[row],
    })
    for c in meta_cols:
        if c not in trials.columns:
            trials[c] = rater_frame[c].to_numpy()[row]
    means = means_of_trials(trials)
    found = LayoutFound(path, layout, (attribute,), len(means), len(rater_ids), tuple(means.index))
    return Ratings(means, trials, path, layout, None, rater_frame, [found])


def _typed(column: pd.Series) -> pd.Series:
    """A rater-level column as numbers when every non-empty cell is one (Qualtrics exports keep all as text)."""
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return column
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers if numbers.notna().sum() == column.notna().sum() and column.notna().any() else column


def _mostly_text(column: pd.Series) -> bool:
    """True when most non-empty cells of ``column`` are not numbers (a rater-level text column)."""
    values = column.dropna()
    if values.empty or pd.api.types.is_numeric_dtype(values.dtype):
        return False
    numeric = pd.to_numeric(values.astype(str).str.replace(",", ".", regex=False), errors="coerce").notna()
    return bool(numeric.mean() < 0.5)
