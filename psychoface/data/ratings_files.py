"""Ratings of one study spread over several files, each naming its attribute.

A study file gives its ratings as one file, as a pattern whose ``{attribute}`` part names the attribute
of each matching file (``ratings = "ratings/*_{attribute}.csv"`` matches ``women_attractive.csv`` and
``men_attractive.csv`` as attribute ``attractive``; ``*`` and ``?`` match anything else), or as a list of
files with an attribute each (``ratings_files``). Each file is read by
:func:`~psychoface.data.ratings.load_ratings` in its own layout, and the files are combined:

* The same attribute from two files is refused unless ``pool_files`` says to pool them (e.g. the faces of
  women and of men rated by different raters); pooled ratings of a stimulus are averaged together.
* Rater ids that occur in more than one file are kept apart (prefixed with the file name) unless
  ``same_raters`` says they are the same people; the ratings then say so in :attr:`Ratings.notes`.
* Files of mean ratings (wide) and files of single ratings (long, per rater) cannot be mixed.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface.data.ratings import Ratings, load_ratings, means_of_trials, rater_table
from psychoface.errors import PsychofaceError

ATTRIBUTE_FIELD = "{attribute}"


@dataclass(frozen=True)
class RatingsFile:
    """One ratings file and the attribute the study file names for it (None: the file names its own)."""

    path: Path
    attribute: str | None = None


@dataclass(frozen=True)
class RatingsSource:
    """Where a study's ratings are and how to read them (the ratings keys of psychoface.toml).

    ``label``: the ratings as the study file writes them (a path or pattern), for messages.
    """

    files: tuple[RatingsFile, ...]
    label: str
    layout: str | None = None
    pool_files: bool = False
    same_raters: bool = False
    id_column: str | None = None
    path_column: str | None = None
    rater_column: str | None = None
    rater_columns: tuple[str, ...] = ()
    qualtrics_ids: str = "question"
    images_root: Path | None = field(default=None, compare=False)

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files]


def files_of_pattern(pattern: str, root: Path) -> list[RatingsFile]:
    """The files matching ``pattern`` (relative to ``root``) with the attribute each one's ``{attribute}``
    part names; a pattern without ``{attribute}`` or ``*``/``?`` is one file (which need not exist yet)."""
    base = Path(pattern).expanduser()
    full = base if base.is_absolute() else root / base
    text = str(full)
    if ATTRIBUTE_FIELD not in text and not any(ch in text for ch in "*?["):
        return [RatingsFile(full)]
    if text.count(ATTRIBUTE_FIELD) > 1:
        raise PsychofaceError(f"ratings = {pattern!r}: name {{attribute}} once in the pattern")
    regex = ""
    for part in re.split(r"(\{attribute\}|\*|\?)", text):
        regex += {"{attribute}": r"(?P<attribute>[^/\\]+?)", "*": r"[^/\\]*", "?": r"[^/\\]"}.get(part, re.escape(part))
    matcher = re.compile(regex + r"\Z")
    found = []
    wildcard = glob.escape(text).replace("[*]", "*").replace("[?]", "?").replace(ATTRIBUTE_FIELD, "*")
    for name in sorted(glob.glob(wildcard)):
        m = matcher.match(name)
        if m and Path(name).is_file():
            found.append(RatingsFile(Path(name), m.groupdict().get("attribute")))
    if not found:
        raise PsychofaceError(
            f"ratings = {pattern!r}: no file matches in {root}; check the pattern ({{attribute}} stands for the "
            f"attribute's part of each file name, * for any other part)"
        )
    return found


def load_ratings_source(source: RatingsSource) -> Ratings:
    """Read every file of ``source`` and combine them (module docstring) into one :class:`Ratings`."""
    parts = []
    for f in source.files:
        parts.append(load_ratings(
            f.path, id_column=source.id_column, path_column=source.path_column, images_root=source.images_root,
            format=source.layout, attribute=f.attribute, rater_column=source.rater_column,
            rater_columns=source.rater_columns, qualtrics_ids=source.qualtrics_ids,
        ))
    if len(parts) == 1:
        return parts[0]
    return combine(parts, source)


def combine(parts: list[Ratings], source: RatingsSource) -> Ratings:
    """One :class:`Ratings` from the ratings of several files."""
    label = Path(source.label)
    owners: dict[str, Path] = {}
    for part in parts:
        for attribute in part.attributes:
            if attribute in owners and not source.pool_files:
                raise PsychofaceError(
                    f"attribute {attribute!r} is given by two files, {owners[attribute].name} and {part.source.name}; "
                    f"set pool_files = true in psychoface.toml to pool their ratings (e.g. different sets of "
                    f"stimuli rated by different raters), or name a different attribute for one of them"
                )
            owners.setdefault(attribute, part.source)
    has_trials = {p.has_trials for p in parts}
    if len(has_trials) > 1:
        means_file = next(p.source for p in parts if not p.has_trials)
        trials_file = next(p.source for p in parts if p.has_trials)
        raise PsychofaceError(
            f"{means_file.name} holds mean ratings (one row per stimulus) and {trials_file.name} single ratings; "
            f"give every ratings file of the study single ratings (per rating or per rater), or every one as means"
        )
    notes = []
    paths = None
    if any(p.image_paths for p in parts):
        paths = {}
        for p in parts:
            paths.update(p.image_paths or {})
    layouts = [found for p in parts for found in p.layouts]
    kinds = {found.layout for found in layouts}
    layout = kinds.pop() if len(kinds) == 1 else "mixed"
    if not has_trials.pop():
        means = _pooled_means(parts)
        return Ratings(means, None, label, layout, paths, layouts=layouts, notes=notes)
    trials = [p.trials.copy() for p in parts]
    raters = [p.raters for p in parts]
    if all("rater" in t.columns for t in trials):
        shared = _shared_raters(parts)
        if shared and not source.same_raters:
            example, files = next(iter(shared.items()))
            notes.append(
                f"rater ids that occur in more than one file ({len(shared)}, e.g. {example!r} in "
                f"{' and '.join(f.name for f in files[:2])}) were kept apart as different raters, each prefixed "
                f"with its file name (same_raters = true in psychoface.toml when they are the same people)"
            )
            for i, p in enumerate(parts):
                prefix = f"{p.source.stem}:"
                trials[i]["rater"] = prefix + trials[i]["rater"].astype(str)
                if raters[i] is not None:
                    raters[i] = raters[i].rename(index=lambda r, pre=prefix: pre + str(r))
    elif any("rater" in t.columns for t in trials):
        without = next(p.source.name for p, t in zip(parts, trials) if "rater" not in t.columns)
        notes.append(f"{without} has no rater ids; its ratings are analysed without them")
        trials = [t.drop(columns="rater", errors="ignore") for t in trials]
        raters = [None]
    pooled = [a for a in owners if sum(a in p.attributes for p in parts) > 1]
    if pooled:
        notes.append(
            f"ratings of {', '.join(map(repr, pooled))} were pooled from "
            f"{max(sum(a in p.attributes for p in parts) for a in pooled)} files (pool_files = true)"
        )
    all_trials = pd.concat(trials, ignore_index=True)
    rater_frame = None
    if "rater" in all_trials.columns:
        given = [r for r in raters if r is not None]
        rater_frame = pd.concat(given) if given else rater_table(all_trials)
        rater_frame = rater_frame[~rater_frame.index.duplicated(keep="first")]
    return Ratings(means_of_trials(all_trials), all_trials, label, layout, paths, rater_frame, layouts, notes)


def _shared_raters(parts: list[Ratings]) -> dict[str, list[Path]]:
    """Rater id -> the files it occurs in, for ids in more than one file."""
    where: dict[str, list[Path]] = {}
    for p in parts:
        for rater in pd.unique(p.trials["rater"].astype(str)):
            where.setdefault(rater, []).append(p.source)
    return {r: files for r, files in where.items() if len(files) > 1}


def _pooled_means(parts: list[Ratings]) -> pd.DataFrame:
    """Means of several wide files: an attribute of several files takes each stimulus's mean from the file
    that rates it; a stimulus with a mean in two files is an error."""
    columns: dict[str, pd.Series] = {}
    for p in parts:
        for attribute in p.attributes:
            values = p.means[attribute].dropna()
            if attribute in columns:
                both = columns[attribute].index.intersection(values.index)
                if len(both):
                    raise PsychofaceError(
                        f"{p.source.name}: stimulus {both[0]!r} has a mean {attribute!r} rating in another file too; "
                        f"pooled files of means must rate different stimuli (give single ratings to pool them)"
                    )
                columns[attribute] = pd.concat([columns[attribute], values])
            else:
                columns[attribute] = values
    order = pd.Index(pd.unique(np.concatenate([p.means.index.to_numpy(dtype=object) for p in parts])), name="stimulus")
    return pd.DataFrame({a: s.reindex(order) for a, s in columns.items()}, index=order)
