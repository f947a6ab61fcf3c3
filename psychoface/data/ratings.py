"""Human ratings of the stimuli: one table read from CSV, TSV or XLSX, in one of four layouts.

* **wide**: one row per stimulus, an id column and one numeric column of (mean) ratings per attribute;
  empty cells mean "not rated".
* **long** (trial level): one row per rating, with a stimulus, an attribute and a rating column, and
  optionally a rater column; other columns (e.g. One Million Impressions' ``rating_type``) are kept in
  :attr:`Ratings.trials` but not used. Means are the mean of all ratings per stimulus and attribute.
* **per rater** and **Qualtrics**: one row per rater and one column per stimulus, for one attribute
  (:mod:`psychoface.data.ratings_layouts`); several such files make one study
  (:mod:`psychoface.data.ratings_files`).

The layout is detected from the column names (case-insensitive; spaces and hyphens count as
underscores): a table is long when it has a stimulus-like, an attribute-like and a rating-like column
(:data:`STIMULUS_COLUMNS`, :data:`ATTRIBUTE_COLUMNS`, :data:`RATING_COLUMNS`). Every problem is a one-line
:class:`~psychoface.errors.PsychofaceError` naming the file, the row as a spreadsheet shows it (the header is
row 1) and the value.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface.errors import PsychofaceError

STIMULUS_COLUMNS = ("stimulus", "stimulus_id", "image", "image_id", "face", "id")
ATTRIBUTE_COLUMNS = ("attribute", "trait", "dimension")
RATING_COLUMNS = ("rating", "response", "value", "score")
RATER_COLUMNS = ("rater", "rater_id", "participant", "subject", "worker")
"""Column-name synonyms, in order of preference when a table has several."""

NA_VALUES = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NULL", "null", "None", "#N/A", "<NA>")
"""Cells read as missing in rating columns (R writes ``NA``, Excel ``#N/A``)."""

_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_DELIMITERS = (",", "\t", ";", "|")
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class Ratings:
    """Ratings of stimuli.

    ``means``: index ``stimulus`` (str ids), one float column per attribute, NaN = not rated.
    ``trials``: long table with columns ``stimulus`` (str), ``attribute`` (str), ``rating`` (float), ``rater``
    (str, when the file has rater ids) and any extra columns of the file; None for a wide table.
    ``image_paths``: stimulus id -> image file, when the ids came from a column of image paths.
    ``raters``: one row per rater (index ``rater``, str), its rater-level columns (sex, age, condition, ...);
    None without rater ids. ``layouts``: one :class:`LayoutFound` per file read. ``notes``: plain statements
    of how the files were combined (rater ids kept apart, files pooled).
    """

    means: pd.DataFrame
    trials: pd.DataFrame | None = None
    source: Path | None = None
    format: str = ""
    image_paths: dict[str, Path] | None = field(default=None, repr=False)
    raters: pd.DataFrame | None = field(default=None, repr=False)
    layouts: list = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self):
        if not self.format:
            self.format = "long" if self.trials is not None else "wide"
        means = self.means.copy()
        means.index = pd.Index(means.index.astype(str), name="stimulus")
        self.means = means
        if self.raters is None and self.trials is not None and "rater" in self.trials.columns:
            self.raters = rater_table(self.trials)

    @property
    def attributes(self) -> list[str]:
        return [str(c) for c in self.means.columns]

    @property
    def has_trials(self) -> bool:
        return self.trials is not None

    @property
    def has_raters(self) -> bool:
        return self.trials is not None and "rater" in self.trials.columns

    @property
    def ids(self) -> list[str]:
        return list(self.means.index)

    def n_ratings(self) -> pd.DataFrame:
        """Number of ratings per stimulus (rows) and attribute (columns), from the trial-level table."""
        if self.trials is None:
            raise PsychofaceError(
                f"{self.source or 'these ratings'}: has one row of means per stimulus, so the number of ratings "
                f"is unknown; give trial-level ratings (one row per rating: stimulus, attribute, rating)"
            )
        counts = self.trials.groupby(["stimulus", "attribute"], sort=False).size().unstack(fill_value=0)
        return counts.reindex(index=self.means.index, columns=self.means.columns, fill_value=0).astype(np.int64)

    def restrict(self, ids) -> Ratings:
        """The ratings of ``ids`` only, in that order (every id must be rated)."""
        ids = [str(i) for i in ids]
        trials = None
        if self.trials is not None:
            trials = self.trials[self.trials["stimulus"].isin(ids)].reset_index(drop=True)
        paths = None if self.image_paths is None else {i: self.image_paths[i] for i in ids}
        raters = self.raters
        if raters is not None and trials is not None:
            raters = raters[raters.index.isin(set(trials["rater"]))]
        return Ratings(self.means.loc[ids], trials, self.source, self.format, paths, raters, self.layouts, self.notes)


@dataclass(frozen=True)
class LayoutFound:
    """What one ratings file turned out to be: its ``layout`` (``wide``, ``long``, ``per_rater``,
    ``qualtrics``), the attributes it gave, and its numbers of rows, stimuli and raters."""

    path: Path
    layout: str
    attributes: tuple[str, ...]
    n_stimuli: int
    n_raters: int | None = None
    stimuli: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def describe(self) -> str:
        """``set1_happy.csv: per rater, happy; 12 stimuli, 8 raters``."""
        names = {"wide": "wide (means)", "long": "long (one row per rating)", "per_rater": "per rater",
                 "qualtrics": "Qualtrics export (per rater)"}
        raters = f", {self.n_raters} raters" if self.n_raters is not None else ""
        return (f"{self.path.name}: {names.get(self.layout, self.layout)}, {', '.join(self.attributes)}; "
                f"{self.n_stimuli} stimuli{raters}")


RATER_INFO_COLUMNS = ("age", "sex", "gender", "rater_sex", "rater_gender", "rater_age", "condition", "group",
                      "sexual_orientation", "orientation", "preference", "sexual_preference", "ethnicity",
                      "race", "country", "language", "education", "handedness")
"""Rater-level column names (normalised) that are never stimuli in a per-rater file."""


def rater_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per rater (index ``rater``): the columns of ``trials`` that hold one value per rater
    (e.g. a ``rater_sex`` column repeated on every rating row of the long layout)."""
    skip = {"stimulus", "attribute", "rating", "rater"}
    grouped = trials.groupby("rater", sort=False)
    keep = [c for c in trials.columns if c not in skip and (grouped[c].nunique(dropna=False) <= 1).all()]
    return grouped[keep].first() if keep else pd.DataFrame(index=pd.Index(pd.unique(trials["rater"]), name="rater"))


def split_by_raters(ratings: Ratings, column: str) -> dict[str, Ratings]:
    """The ratings of each value of a rater-level ``column`` (e.g. ``rater_sex``), values in sorted order;
    raters without a value are left out (``notes`` of each part say how many)."""
    where = ratings.source or "the ratings"
    if ratings.raters is None:
        raise PsychofaceError(
            f"--by {column}: {where} has no rater ids, so it cannot be split by a rater-level column; give one row "
            f"per rater (or a rater column) with the rater-level columns")
    if column not in ratings.raters.columns:
        known = ", ".join(map(str, ratings.raters.columns)) or "none"
        raise PsychofaceError(f"--by {column}: not a rater-level column of {where}; rater-level columns: {known}")
    values = ratings.raters[column]
    missing = int(values.isna().sum())
    parts = {}
    for value in sorted(values.dropna().unique(), key=str):
        raters = set(values.index[values == value])
        trials = ratings.trials[ratings.trials["rater"].isin(raters)].reset_index(drop=True)
        notes = list(ratings.notes) + ([f"{missing} raters without a {column} value were left out"] if missing else [])
        means = means_of_trials(trials).reindex(columns=ratings.means.columns)
        parts[str(value)] = Ratings(means, trials, ratings.source, ratings.format, ratings.image_paths,
                                    ratings.raters[ratings.raters.index.isin(raters)], ratings.layouts, notes)
    if len(parts) < 2:
        raise PsychofaceError(f"--by {column}: every rater has the same value ({', '.join(parts) or 'none'}); "
                              f"choose a rater-level column with two or more values")
    return parts


def constant_attributes(ratings: Ratings) -> list[str]:
    """Attributes whose mean ratings do not vary across stimuli: two or more rated, all with the same mean."""
    m = ratings.means
    return [str(a) for a in m.columns if m[a].count() >= 2 and m[a].nunique(dropna=True) == 1]


LAYOUTS = ("wide", "long", "per_rater", "qualtrics")
"""Ratings layouts that ``format`` (``ratings_layout`` in psychoface.toml) can name; None or ``"auto"`` detects."""


def load_ratings(
    path: str | os.PathLike,
    *,
    id_column: str | None = None,
    path_column: str | None = None,
    images_root: str | os.PathLike | None = None,
    format: str | None = None,
    attribute: str | None = None,
    rater_column: str | None = None,
    rater_columns=(),
    qualtrics_ids: str = "question",
) -> Ratings:
    """Read a ratings table (CSV, TSV, any delimiter, gzip-compressed or not, or XLSX) into :class:`Ratings`.

    ``id_column``: the column of stimulus ids (default: the first column named like a stimulus, else the
    first column). ``path_column``: instead, a column of image paths relative to ``images_root`` (default:
    the ratings file's folder); the id is the file name without extension, the file must exist and lie
    inside ``images_root``. ``format``: one of :data:`LAYOUTS` to override the detected layout.
    ``attribute``: the attribute this file rates (from the study file), for the per-rater layouts and for a
    long file without an attribute column. ``rater_column``, ``rater_columns`` and ``qualtrics_ids``: see
    :func:`psychoface.data.ratings_layouts.per_rater`.

    Detection: a Qualtrics export has import ids (``{"ImportId": ...}``) in its third row; a table with
    stimulus, attribute (or a given ``attribute``) and rating columns is long; a table without a
    stimulus-like column that has a rater-like column, or whose attribute is given, is per rater; else wide.
    """
    from psychoface.data import ratings_layouts

    path = Path(path).expanduser()
    if format == "auto":
        format = None
    if format not in (None, *LAYOUTS):
        raise PsychofaceError(
            f"ratings_layout {format!r}: unknown ratings layout; use auto, {', '.join(LAYOUTS)}"
        )
    if id_column is not None and path_column is not None:
        raise PsychofaceError(
            f"{path}: give either id_column ({id_column!r}) or path_column ({path_column!r}), not both; "
            f"with a path column the id is the image file name"
        )
    table = _read_table(path, lambda columns: _text_columns(columns, id_column or path_column) | (
        {rater_column} & set(columns)))
    for name, value in (("id_column", id_column), ("path_column", path_column), ("rater_column", rater_column)):
        if value is not None and value not in table.columns:
            raise PsychofaceError(
                f"{path}: {name} {value!r} is not a column; columns are {', '.join(map(repr, table.columns))}"
            )
    reader = _Reader(path, table)
    names = _names(table.columns)
    stim = id_column or path_column or _first(names, STIMULUS_COLUMNS)
    attr, rating, rater = (_first(names, syn) for syn in (ATTRIBUTE_COLUMNS, RATING_COLUMNS, RATER_COLUMNS))
    rater = rater_column or rater
    qualtrics = ratings_layouts.is_qualtrics(table.frame)
    if format == "qualtrics" or (format is None and qualtrics):
        return ratings_layouts.per_rater(reader, attribute, rater_column, rater_columns, qualtrics=True,
                                         qualtrics_ids=qualtrics_ids)
    root = _images_root(path, images_root) if path_column else None
    long_attr = attr or (attribute if stim and rating and format != "wide" else None)
    if format == "long" or (format is None and stim and long_attr and rating):
        missing = [what for what, col in (("stimulus", stim), ("attribute", long_attr), ("rating", rating)) if not col]
        if missing:
            raise PsychofaceError(
                f"{path}: the long layout needs a {' and a '.join(missing)} column; "
                f"columns are {', '.join(map(repr, table.columns))}"
            )
        return _long(reader, stim, attr, rating, rater, root, attribute)
    if format == "per_rater" or (format is None and not stim and (attribute is not None or rater)):
        return ratings_layouts.per_rater(reader, attribute, rater_column, rater_columns)
    id_col = stim or table.columns[0]
    skip = {id_col}
    if path_column:
        skip |= {c for c in table.columns if _normalise(c) in STIMULUS_COLUMNS}
    attributes = [c for c in table.columns if c not in skip]
    if not attributes:
        raise PsychofaceError(
            f"{path}: no attribute columns besides the id column {id_col!r}; a wide table needs one column of "
            f"ratings per attribute (or use the long layout: stimulus, attribute, rating)"
        )
    if attribute is not None and len(attributes) > 1:
        raise PsychofaceError(
            f"{path}: the study file names its attribute {attribute!r}, but it is a wide table of "
            f"{len(attributes)} attribute columns ({', '.join(map(repr, attributes[:4]))}); list it without an "
            f"attribute, or give one file per attribute"
        )
    return _wide(reader, id_col, attributes, root, attribute)


def _text_columns(columns: list[str], id_col: str | None) -> set[str]:
    """Columns read as text, never as numbers: the ids ("001" stays "001"), attribute names, rater ids."""
    names = _names(columns)
    out = {id_col or _first(names, STIMULUS_COLUMNS) or columns[0]}
    out |= {_first(names, ATTRIBUTE_COLUMNS), _first(names, RATER_COLUMNS)}
    return out - {None}


def _names(columns: list[str]) -> dict[str, str]:
    """Normalised column name -> column; the first of equal names wins."""
    return {_normalise(c): c for c in reversed(columns)}


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().casefold())


def _first(names: dict[str, str], synonyms: tuple[str, ...]) -> str | None:
    return next((names[s] for s in synonyms if s in names), None)


def _images_root(path: Path, images_root) -> Path:
    root = Path(images_root).expanduser() if images_root is not None else path.parent
    if not root.is_dir():
        raise PsychofaceError(f"{root}: images folder for the path column not found; check the images path")
    return Path(os.path.normpath(root.absolute()))


# --------------------------------------------------------------------------------------------- reading


@dataclass
class _Table:
    """A raw table: text columns as str (NaN when empty), others as read; index = spreadsheet row - 2."""

    frame: pd.DataFrame
    columns: list[str]
    decimal_comma: bool


def _read_table(path: Path, text_columns) -> _Table:
    """Read the file; ``text_columns(columns)`` names the columns to keep as text (ids, labels)."""
    if not path.exists():
        raise PsychofaceError(f"{path}: ratings file not found; check the path (ratings = ... in psychoface.toml)")
    if not path.is_file():
        raise PsychofaceError(f"{path}: is a folder, not a ratings file; give a CSV, TSV or XLSX file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise PsychofaceError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    if not magic:
        raise PsychofaceError(f"{path}: is empty; it needs a header row and one row per stimulus or rating")
    suffix = path.suffix.lower()
    if suffix in _EXCEL_SUFFIXES or magic == _ZIP_MAGIC:
        if suffix not in _EXCEL_SUFFIXES or magic != _ZIP_MAGIC:
            raise PsychofaceError(f"{path}: not a valid Excel .xlsx workbook; re-save it as .xlsx or as CSV")
        return _read_excel(path)
    return _read_text(path, text_columns, gz=magic[:2] == _GZIP_MAGIC)


def _read_excel(path: Path) -> _Table:
    try:
        raw = pd.read_excel(path, sheet_name=0, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise PsychofaceError(f"{path}: cannot be read as an Excel workbook ({exc}); re-save it as .xlsx or CSV") from exc
    if raw.empty:
        raise PsychofaceError(f"{path}: the first sheet is empty; put the ratings on the first sheet")
    columns = _column_names(path, ["" if pd.isna(v) else _cell_text(v) for v in raw.iloc[0]])
    frame = raw.iloc[1:, : len(columns)].copy()
    frame.index = pd.RangeIndex(len(frame))
    frame.columns = columns
    frame = frame.replace(r"^\s*$", np.nan, regex=True)
    return _finish(path, frame, decimal_comma=False)


def _cell_text(value) -> str:
    """A cell as text: surrounding spaces dropped, and 1 and 1.0 (spreadsheet numbers) both read "1"."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _read_text(path: Path, text_columns, gz: bool) -> _Table:
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            first = f.readline()
            binary = b"\x00" in first + f.read(1 << 16)
    except (OSError, EOFError) as exc:
        raise PsychofaceError(f"{path}: cannot be read ({exc}); check the file (a damaged .gz?)") from exc
    if binary:
        raise PsychofaceError(
            f"{path}: unknown format (binary data, not a text table); save the ratings as CSV, TSV or XLSX"
        )
    if not first.strip():
        raise PsychofaceError(f"{path}: is empty or starts with a blank line; the first row must be the header")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return _read_csv(path, first.decode(encoding), encoding, text_columns, gz)
        except UnicodeDecodeError:
            continue
    raise PsychofaceError(f"{path}: unknown text encoding; save it as UTF-8 CSV")


def _read_csv(path: Path, header_line: str, encoding: str, text_columns, gz: bool) -> _Table:
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else _sniff_delimiter(header_line)
    columns = _column_names(path, next(csv.reader([header_line.rstrip("\r\n")], delimiter=delimiter)))
    text = set(text_columns(columns))
    try:
        with warnings.catch_warnings():
            # index_col=False drops a surplus last field with a ParserWarning: refuse instead of losing data
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=delimiter,
                header=0,
                names=columns,
                index_col=False,
                encoding=encoding,
                compression="gzip" if gz else None,
                dtype={c: str for c in text},
                keep_default_na=False,
                na_values={c: ([""] if c in text else list(NA_VALUES)) for c in columns},
                skip_blank_lines=False,
                decimal="," if delimiter == ";" else ".",
                low_memory=False,
            )
    except pd.errors.ParserWarning as exc:
        raise PsychofaceError(
            f"{path}: some rows have more values than the header has column names; remove trailing "
            f"delimiters or name every column"
        ) from exc
    except pd.errors.ParserError as exc:
        raise PsychofaceError(
            f"{path}: malformed table ({' '.join(str(exc).split())}); check the delimiter and quoting of that line"
        ) from exc
    except (OSError, EOFError) as exc:
        raise PsychofaceError(f"{path}: cannot be read ({exc}); check the file (a damaged .gz?)") from exc
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.StringDtype) or frame[col].dtype == object:
            stripped = frame[col].str.strip()
            frame[col] = stripped.mask(stripped == "")
    return _finish(path, frame, decimal_comma=delimiter == ";")


def _sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties: the earlier (comma first)
    return best if counts[best] else ","


def _column_names(path: Path, header: list[str]) -> list[str]:
    names = [h.strip() if isinstance(h, str) else str(h) for h in header]
    names = [n or f"unnamed_{i + 1}" for i, n in enumerate(names)]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise PsychofaceError(
                f"{path}: column {n!r} appears twice (columns {seen[n] + 1} and {i + 1}); give every column its own name"
            )
        seen[n] = i
    return names


def _finish(path: Path, frame: pd.DataFrame, decimal_comma: bool) -> _Table:
    frame = frame.loc[:, [c for c in frame.columns if not (str(c).startswith("unnamed_") and frame[c].isna().all())]]
    frame = frame[frame.notna().any(axis=1)]  # blank lines; the index keeps the row numbers
    if frame.empty:
        raise PsychofaceError(f"{path}: has a header but no rows of ratings")
    return _Table(frame, [str(c) for c in frame.columns], decimal_comma)


# --------------------------------------------------------------------------------------------- parsing


class _Reader:
    """Column conversions with errors that name the file, the spreadsheet row and the value."""

    def __init__(self, path: Path, table: _Table):
        self.path, self.frame, self.decimal_comma = path, table.frame, table.decimal_comma

    def where(self, index, column: str) -> str:
        return f"{self.path} row {int(index) + 2}, column {column!r}"

    def text(self, column: str, what: str) -> pd.Series:
        s = self.frame[column]
        if not isinstance(s.dtype, pd.StringDtype):  # spreadsheet cells, or numbers read from text
            s = s.map(lambda v: np.nan if pd.isna(v) else _cell_text(v))
        if s.isna().any():
            raise PsychofaceError(f"{self.where(s.index[s.isna().argmax()], column)}: empty {what}; fill it in or delete the row")
        return s.astype(str)

    def numbers(self, column: str, allow_missing: bool) -> np.ndarray:
        s = self.frame[column]
        if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
            s = self._coerce(s, column)
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if not allow_missing and np.isnan(values).any():
            i = int(np.isnan(values).argmax())
            raise PsychofaceError(
                f"{self.where(s.index[i], column)}: empty rating (blank, NA or NaN); delete the row or fill in the rating"
            )
        if np.isinf(values).any():
            i = int(np.isinf(values).argmax())
            raise PsychofaceError(f"{self.where(s.index[i], column)}: {values[i]} is not a finite number; fix the value")
        return values

    def _coerce(self, s: pd.Series, column: str) -> pd.Series:
        text = s.mask(s.isin(NA_VALUES)) if s.dtype == object or isinstance(s.dtype, pd.StringDtype) else s
        bools = (
            np.ones(len(s), bool) if pd.api.types.is_bool_dtype(s.dtype)
            else np.array([isinstance(v, (bool, np.bool_)) for v in text]) if s.dtype == object
            else np.zeros(len(s), bool)
        )
        if bools.any():
            i = int(bools.argmax())
            raise PsychofaceError(f"{self.where(s.index[i], column)}: {str(text.iloc[i])!r} is not a number; {self._fix}")
        numbers = pd.to_numeric(text, errors="coerce")
        if self.decimal_comma:
            commas = numbers.isna() & text.notna()
            numbers[commas] = pd.to_numeric(text[commas].astype(str).str.replace(",", ".", regex=False), errors="coerce")
        bad = (numbers.isna() & text.notna()).to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise PsychofaceError(f"{self.where(s.index[i], column)}: {str(text.iloc[i])!r} is not a number; {self._fix}")
        return numbers.astype(np.float64)

    _fix = "ratings must be numbers (leave the cell empty when not rated; remove columns that are not ratings)"


def _ids_from_paths(reader: _Reader, column: str, root: Path) -> tuple[pd.Series, dict[str, Path]]:
    """Stimulus ids (file names without extension) from a column of image paths inside ``root``."""
    values = reader.text(column, "image path")
    real_root = root.resolve()
    id_of: dict[str, str] = {}
    paths: dict[str, Path] = {}
    first_value: dict[str, str] = {}
    missing: list[str] = []
    for value in pd.unique(values):
        text = value.replace("\\", "/")

        def fail(problem: str) -> PsychofaceError:
            row = values.index[(values == value).to_numpy().argmax()]
            return PsychofaceError(f"{reader.where(row, column)}: {value!r} {problem}")

        if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
            raise fail(f"is an absolute path; give paths relative to the images folder {root}")
        lexical = Path(os.path.normpath(root / text))
        if not (lexical == root or root in lexical.parents) or not lexical.resolve().is_relative_to(real_root):
            raise fail(f"points outside the images folder {root}; give paths inside it")
        if not lexical.is_file():
            missing.append(value)
            continue
        stem = lexical.stem
        if stem in paths and paths[stem] != lexical:
            raise fail(
                f"and {first_value[stem]!r} give the same stimulus id {stem!r}; rename one of the images"
            )
        id_of[value], paths[stem], first_value[stem] = stem, lexical, value
    if missing:
        more = f" ({len(missing)} paths in all are missing)" if len(missing) > 1 else ""
        row = values.index[(values == missing[0]).to_numpy().argmax()]
        raise PsychofaceError(
            f"{reader.where(row, column)}: {missing[0]!r} not found in {root}{more}; fix the paths or the images folder"
        )
    return values.map(id_of), paths


def _wide(reader: _Reader, id_col: str, attributes: list[str], root: Path | None, attribute=None) -> Ratings:
    if root is not None:
        ids, paths = _ids_from_paths(reader, id_col, root)
    else:
        ids, paths = reader.text(id_col, "stimulus id"), None
    dup = ids[ids.duplicated(keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        rows = [int(i) + 2 for i in dup.index[(dup == first).to_numpy()]]
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        raise PsychofaceError(
            f"{reader.path} rows {shown}: stimulus id {first!r} appears {len(rows)} times; give each stimulus one "
            f"row (one row per rating is the long layout: stimulus, attribute, rating)"
        )
    values = np.column_stack([reader.numbers(a, allow_missing=True) for a in attributes])
    names = [attribute] if attribute is not None else attributes
    means = pd.DataFrame(values, index=pd.Index(ids.to_numpy(), name="stimulus"), columns=names)
    found = LayoutFound(reader.path, "wide", tuple(names), len(means), stimuli=tuple(means.index))
    return Ratings(means, None, reader.path, "wide", paths, layouts=[found])


def _long(reader: _Reader, stim: str, attr: str | None, rating: str, rater: str | None, root: Path | None,
          attribute: str | None = None) -> Ratings:
    if root is not None:
        ids, paths = _ids_from_paths(reader, stim, root)
    else:
        ids, paths = reader.text(stim, "stimulus id"), None
    trials = pd.DataFrame({
        "stimulus": ids.to_numpy(),
        "attribute": reader.text(attr, "attribute").to_numpy() if attr else np.full(len(ids), attribute, dtype=object),
        "rating": reader.numbers(rating, allow_missing=False),
    })
    if rater is not None:
        trials["rater"] = reader.text(rater, "rater id").to_numpy()
    used = {stim, attr, rating, rater}
    for col in reader.frame.columns:
        if col not in used and col not in trials.columns:
            trials[col] = reader.frame[col].to_numpy()
    means = means_of_trials(trials)
    found = LayoutFound(reader.path, "long", tuple(means.columns), len(means),
                        int(trials["rater"].nunique()) if rater is not None else None, tuple(means.index))
    return Ratings(means, trials, reader.path, "long", paths, layouts=[found])


def means_of_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Mean rating per stimulus (rows, in order of first appearance) and attribute (columns, likewise)."""
    s_codes, stimuli = pd.factorize(trials["stimulus"], sort=False)
    a_codes, attributes = pd.factorize(trials["attribute"], sort=False)
    shape = (len(stimuli), len(attributes))
    flat = s_codes * shape[1] + a_codes
    counts = np.bincount(flat, minlength=shape[0] * shape[1])
    sums = np.bincount(flat, weights=trials["rating"].to_numpy(np.float64), minlength=shape[0] * shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums / counts).reshape(shape)
    return pd.DataFrame(means, index=pd.Index(np.asarray(stimuli), name="stimulus"), columns=list(attributes))
