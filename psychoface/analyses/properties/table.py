"""The property table: one row per face, one column per property, with each property's type and source.

Sources are a study metadata file (columns declared by the user), image measures, landmark measures and
optional age/gender estimates. A property is *continuous* (numeric with more than ``max_levels`` distinct
values) or *categorical* (text, boolean, or numeric with few values); categorical properties are tested
with group tests. Checks (one-line errors): a metadata file whose ids match no stimulus (closest names),
an unknown column (closest name), a constant property, a categorical level held by a single face, and
fewer than ``min_group`` faces in a level.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface.errors import PsychofaceError

MIN_GROUP = 5
MAX_LEVELS = 6


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(path, dtype=str)
        return pd.read_csv(path, sep="\t" if suffix in (".tsv", ".tab") else ",", dtype=str)
    except FileNotFoundError:
        raise PsychofaceError(f"{path}: metadata file not found; fix `metadata` in psychoface.toml") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise PsychofaceError(f"{path}: cannot be read as a table ({exc}); save it as CSV, TSV or XLSX") from None


def _closest(name, candidates) -> str:
    hits = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.5)
    return f" (closest: {', '.join(hits)})" if hits else ""


def load_metadata(path, ids, columns=None, *, id_column: str | None = None) -> pd.DataFrame:
    """Columns of a stimulus metadata file (CSV/TSV/XLSX) aligned to the stimulus ids.

    ``id_column``: the column of stimulus ids (default: ``stimulus``, ``id``, ``image`` or the first
    column). ``columns``: the columns to keep (default: every other column). Values are parsed as numbers
    where every non-empty value of a column is numeric. Faces missing from the file get NaN; ids in the
    file that match no stimulus are ignored, unless none match (then the error names the closest ids).
    """
    path = Path(path)
    raw = _read_table(path)
    if id_column is None:
        id_column = next((c for c in ("stimulus", "id", "image") if c in raw.columns), raw.columns[0])
    if id_column not in raw.columns:
        raise PsychofaceError(
            f"{path}: no id column {id_column!r}{_closest(id_column, raw.columns)}; "
            "set `metadata_id_column` to the column of stimulus ids"
        )
    file_ids = raw[id_column].astype(str).str.strip()
    file_ids = file_ids.str.replace(r"\.(jpe?g|png|bmp|tiff?|webp)$", "", regex=True, case=False)
    dupes = file_ids[file_ids.duplicated()]
    if len(dupes):
        raise PsychofaceError(
            f"{path}: stimulus {dupes.iloc[0]!r} appears in more than one row; keep one row per stimulus"
        )
    ids = [str(i) for i in ids]
    matched = set(file_ids) & set(ids)
    if not matched:
        example = file_ids.iloc[0] if len(file_ids) else "(empty)"
        raise PsychofaceError(
            f"{path}: no id in column {id_column!r} matches a stimulus (e.g. {example!r}"
            f"{_closest(example, ids)}); the ids must be the image file names without extension"
        )
    keep = [c for c in raw.columns if c != id_column] if columns is None else list(columns)
    for col in keep:
        if col not in raw.columns:
            raise PsychofaceError(
                f"{path}: no column {col!r}{_closest(col, raw.columns)}; fix `metadata_columns`"
            )
    table = raw[keep].set_index(pd.Index(file_ids, name="stimulus")).reindex(ids)
    for col in keep:
        values = table[col].str.strip().replace("", np.nan)
        numeric = pd.to_numeric(values, errors="coerce")
        table[col] = numeric if numeric.notna().sum() == values.notna().sum() else values
    table.attrs["psychoface"] = {"metadata": str(path), "id_column": id_column, "matched": len(matched)}
    return table


def property_types(table: pd.DataFrame, *, max_levels: int = MAX_LEVELS) -> dict[str, str]:
    """``"continuous"`` or ``"categorical"`` per column (numeric with more than ``max_levels`` values:
    continuous)."""
    types = {}
    for col in table.columns:
        values = table[col].dropna()
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        types[col] = "continuous" if numeric and values.nunique() > max_levels else "categorical"
    return types


def check_properties(table: pd.DataFrame, types: dict[str, str], *, min_group: int = MIN_GROUP, where="") -> None:
    """Refuse a constant property, a categorical level of one face, and levels with fewer than
    ``min_group`` faces."""
    where = f"{where}: " if where else ""
    for col, kind in types.items():
        values = table[col].dropna()
        if values.nunique() < 2:
            shown = values.iloc[0] if len(values) else "missing"
            raise PsychofaceError(
                f"{where}property {col!r} is constant ({shown!r} for all {len(values)} faces); "
                "leave it out of the properties"
            )
        if kind == "categorical":
            counts = values.value_counts()
            if counts.min() == 1:
                raise PsychofaceError(
                    f"{where}property {col!r}: level {counts.idxmin()!r} has a single face; merge it with "
                    "another level or leave the face out"
                )
            if counts.min() < min_group:
                raise PsychofaceError(
                    f"{where}property {col!r}: level {counts.idxmin()!r} has {counts.min()} faces, fewer "
                    f"than {min_group}; merge small levels or leave the property out"
                )


def combine(parts: dict[str, pd.DataFrame], ids) -> tuple[pd.DataFrame, dict[str, str]]:
    """Join property tables from several sources (``{"metadata": df, "image": df, ...}``) on the ids.

    Returns the table and each column's source; a name used by two sources is an error.
    """
    ids = pd.Index([str(i) for i in ids], name="stimulus")
    frames, source = [], {}
    for name, frame in parts.items():
        if frame is None:
            continue
        for col in frame.columns:
            if col in source:
                raise PsychofaceError(
                    f"property {col!r} comes from both {source[col]} and {name}; rename the metadata column"
                )
            source[col] = name
        frames.append(frame.reindex(ids))
    table = pd.concat(frames, axis=1) if frames else pd.DataFrame(index=ids)
    return table, source
