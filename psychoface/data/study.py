"""A study: the face images matched to their ratings, and `psychoface check`, which validates both.

Images and ratings are matched by stimulus id (the image file name without extension), or, with a
``path_column``, by the image path each ratings row names. :func:`load_study` raises a one-line
:class:`~psychoface.errors.PsychofaceError` when nothing can be used; :func:`check_study` never raises for
bad input and instead lists every problem it finds, blocking or not.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface.data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    Stimulus,
    find_images,
    natural_key,
    open_image,
    probe_image,
)
from psychoface.data.ratings import Ratings, constant_attributes, load_ratings
from psychoface.data.ratings_files import RatingsSource, load_ratings_source
from psychoface.errors import PsychofaceError

MAX_MISSING = 0.5
"""An attribute missing for more than this share of the matched stimuli is reported by :func:`check_study`."""

_EXAMPLES = 3
_LAYOUT_NAMES = {"long": "long (one row per rating)", "wide": "wide (one row per stimulus)"}
_LISTED_FAILURES = 10


@dataclass
class Study:
    """Images with their ratings.

    ``stimuli``: the images that have ratings, in :func:`~psychoface.data.images.find_images` order (every
    image when there are no ratings). ``ratings``: restricted to those stimuli, in the same order.
    ``unrated_images``: ids of images without ratings; ``missing_images``: rated ids without an image.
    """

    stimuli: list[Stimulus]
    ratings: Ratings | None
    images_folder: Path
    ratings_path: Path | None
    unrated_images: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.stimuli]


def load_study(
    images: str | os.PathLike,
    ratings: str | os.PathLike | Ratings | RatingsSource | None,
    *,
    id_column: str | None = None,
    path_column: str | None = None,
    require_ratings: bool = True,
) -> Study:
    """Find the images, read the ratings (a file, the files of a :class:`RatingsSource`, or :class:`Ratings`
    already loaded) and match them.

    ``ratings=None`` gives an images-only study (what feature extraction needs); it is an error unless
    ``require_ratings=False``. When ratings are given, the study holds the images that have ratings, and
    no match at all is an error that shows example ids from both sides.
    """
    folder = Path(images).expanduser()
    stimuli = find_images(folder)
    if ratings is None:
        if require_ratings:
            raise PsychofaceError(
                "no ratings file given; this needs ratings (ratings = ... in psychoface.toml, or --ratings FILE)"
            )
        return Study(stimuli, None, folder, None)
    ratings = _read(ratings, folder, id_column, path_column)
    matched, unrated, missing = _match(stimuli, ratings)
    if not matched:
        raise PsychofaceError(_no_match_message(folder, stimuli, ratings))
    unmatched = _unmatched_files(folder, stimuli, ratings)
    if unmatched:
        raise PsychofaceError(unmatched[0])
    return Study(matched, ratings.restrict([s.id for s in matched]), folder, ratings.source, unrated, missing)


def _read(ratings, folder: Path, id_column, path_column) -> Ratings:
    if isinstance(ratings, Ratings):
        return ratings
    if isinstance(ratings, RatingsSource):
        if ratings.path_column and ratings.images_root is None:
            ratings = dataclasses.replace(ratings, images_root=folder)
        return load_ratings_source(ratings)
    return load_ratings(ratings, id_column=id_column, path_column=path_column, images_root=folder)


def _unmatched_files(folder: Path, stimuli: list[Stimulus], ratings: Ratings) -> list[str]:
    """One line per per-rater file none of whose stimulus columns names an image, with the closest names."""
    import difflib

    if len(ratings.layouts) < 2 and ratings.format not in ("per_rater", "qualtrics"):
        return []
    image_ids = [s.id for s in stimuli]
    known = set(image_ids)
    out = []
    for found in ratings.layouts:
        if not found.stimuli or known & set(found.stimuli):
            continue
        columns = list(found.stimuli[:3])
        close = []
        for column in columns:
            close += [c for c in difflib.get_close_matches(column, image_ids, n=2, cutoff=0.5) if c not in close]
        hint = f"closest image names: {_examples(close)}" if close else f"images are named e.g. {_examples(image_ids)}"
        what = "stimulus columns" if found.layout in ("per_rater", "qualtrics") else "stimulus ids"
        out.append(
            f"{found.path}: none of its {found.n_stimuli} {what} ({_examples(columns)}) names an image in "
            f"{folder}; {hint}; rename them to the image file names without extension"
            + (", or list rater-level columns in rater_columns" if found.layout == "per_rater" else "")
        )
    return out


def _match(stimuli: list[Stimulus], ratings: Ratings) -> tuple[list[Stimulus], list[str], list[str]]:
    """(images with ratings, ids of images without ratings, rated ids without an image)."""
    if ratings.image_paths is not None:
        by_file = {s.path.resolve(): s for s in stimuli}
        found = {i: by_file.get(p.resolve()) for i, p in ratings.image_paths.items()}
        rated = {s.id for s in found.values() if s is not None}
        missing = [i for i, s in found.items() if s is None]
    else:
        image_ids = {s.id for s in stimuli}
        rated = set(ratings.ids) & image_ids
        missing = [i for i in ratings.ids if i not in image_ids]
    matched = [s for s in stimuli if s.id in rated]
    unrated = [s.id for s in stimuli if s.id not in rated]
    return matched, unrated, sorted(missing, key=natural_key)


def _no_match_message(folder: Path, stimuli: list[Stimulus], ratings: Ratings) -> str:
    image_ids = [s.id for s in stimuli]
    rating_ids = sorted(ratings.ids, key=natural_key)
    return (
        f"no stimulus ids match between the images in {folder} ({len(image_ids)} images, e.g. "
        f"{_examples(image_ids)}) and the ratings in {ratings.source} ({len(rating_ids)} ids, e.g. "
        f"{_examples(rating_ids)}); {_hint(image_ids, rating_ids)}"
    )


def _examples(ids: list[str], n: int = _EXAMPLES) -> str:
    return ", ".join(repr(i) for i in ids[:n]) + (", ..." if len(ids) > n else "")


def _hint(image_ids: list[str], rating_ids: list[str]) -> str:
    """What probably went wrong when no id matches, from the shape of the ids."""
    images = set(image_ids)

    def overlap(f) -> bool:
        return bool({f(i) for i in images} & {f(i) for i in rating_ids})

    if sum(Path(i).suffix.lower() in IMAGE_EXTENSIONS for i in rating_ids) > len(rating_ids) / 2:
        return "the ratings ids are file names: give that column as path_column to match them as image paths"
    if overlap(lambda i: i.lstrip("0") or "0"):
        return "the ids differ only in leading zeros (e.g. '1' vs '001'); rename the images or the ids to agree"
    if overlap(lambda i: i[:-2] if i.endswith(".0") else i):
        return "the ratings ids are written as decimals (e.g. '1.0'); save the id column as whole numbers"
    if overlap(str.casefold):
        return "the ids differ in upper/lower case; rename the images or the ids to agree"
    return (
        "a stimulus id must equal the image file name without extension: rename the files or the ids, "
        "set id_column to the right column, or give a path_column of image paths"
    )


@dataclass
class CheckReport:
    """What `psychoface check` found. ``errors`` block the analyses; ``warnings`` do not.

    ``ratings_per_stimulus``: (min, median, max) number of ratings of a stimulus on an attribute, over the
    matched stimuli and all attributes (trial-level ratings only).
    """

    images_folder: Path
    ratings_path: Path | None
    n_images: int = 0
    image_modes: dict[str, int] = field(default_factory=dict)
    n_rated: int | None = None
    n_matched: int | None = None
    attributes: list[str] = field(default_factory=list)
    format: str | None = None
    ratings_per_stimulus: tuple[int, float, int] | None = None
    n_raters: int | None = None
    layouts: list[str] = field(default_factory=list)
    rater_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    landmarks: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every problem as one line, blocking ones first."""
        return self.errors + self.warnings

    @property
    def ok(self) -> bool:
        """True when nothing blocks the analyses (warnings allowed)."""
        return not self.errors

    def summary(self) -> pd.DataFrame:
        """Two columns, ``item`` and ``value`` (text), one row per fact, for printing."""
        rows = [("images folder", self.images_folder), ("images", self.n_images)]
        if self.image_modes:
            rows.append(("image colour modes", ", ".join(f"{m} {n}" for m, n in self.image_modes.items())))
        several = len(self.layouts) > 1
        rows.append(("ratings files" if several else "ratings file",
                     self.ratings_path if self.ratings_path is not None else "none (images only)"))
        if self.format is not None:
            layouts = self.layouts or [_LAYOUT_NAMES.get(self.format, self.format)]
            rows += [("layout" if not several else f"file {i + 1}", text) for i, text in enumerate(layouts)]
            rows += [
                ("rated stimuli", self.n_rated),
                ("matched stimuli (image and ratings)", self.n_matched),
                ("attributes", f"{len(self.attributes)}: {', '.join(self.attributes)}"),
            ]
        if self.ratings_per_stimulus is not None:
            lo, med, hi = self.ratings_per_stimulus
            rows.append(("ratings per stimulus and attribute", f"min {lo}, median {med:g}, max {hi}"))
        if self.format not in (None, "wide"):
            rows.append(("raters", self.n_raters if self.n_raters is not None else "no rater ids"))
        if self.rater_columns:
            rows.append(("rater-level columns", ", ".join(self.rater_columns)))
        rows += [("files combined", note) for note in self.notes]
        if self.landmarks is not None:
            rows.append(("landmarks", self.landmarks))
        rows.append(("problems", f"{len(self.errors)} blocking, {len(self.warnings)} other"))
        return pd.DataFrame({"item": [r[0] for r in rows], "value": [str(r[1]) for r in rows]})


def check_study(
    images: str | os.PathLike,
    ratings: str | os.PathLike | RatingsSource | None = None,
    *,
    id_column: str | None = None,
    path_column: str | None = None,
    decode: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    landmarks: str | os.PathLike | None = None,
) -> CheckReport:
    """Validate a study without stopping at the first problem.

    Every image's header is read (format, colour mode, size, pixel limit); ``decode=True`` decodes every
    image fully, as extraction will, which also finds truncated files. Ratings are read and matched to the
    images. Blocking problems: no usable images folder, images that fail to open, a ratings file that
    cannot be read, no matching ids. Other problems: unmatched ids on either side, attributes with the same
    mean for every stimulus, attributes missing for more than half of the stimuli, stimulus-attribute
    pairs with a single rating.

    Landmarks (``landmarks``: a CSV or folder; else ``.tem``/``.pts`` files beside the images, when there are
    any): unreadable or mismatched files (different numbers of points, bad values) and landmarks without an
    image block; images without landmarks and points outside the image are reported.
    """
    folder = Path(images).expanduser()
    label = ratings.label if isinstance(ratings, RatingsSource) else ratings
    report = CheckReport(folder, Path(label).expanduser() if label is not None else None)
    try:
        stimuli = find_images(folder)
    except PsychofaceError as exc:
        report.errors.append(str(exc))
        stimuli = []
    report.n_images = len(stimuli)
    _check_images(report, stimuli, decode, max_pixels)
    _check_landmarks(report, stimuli, landmarks)
    if ratings is None:
        return report
    try:
        if isinstance(ratings, RatingsSource):
            loaded = _read(ratings, folder if folder.is_dir() else None, None, None)
        else:
            loaded = load_ratings(
                ratings, id_column=id_column, path_column=path_column, images_root=folder if folder.is_dir() else None
            )
    except PsychofaceError as exc:
        report.errors.append(str(exc))
        return report
    report.format, report.n_rated, report.attributes = loaded.format, len(loaded.ids), loaded.attributes
    report.layouts = [found.describe() for found in loaded.layouts]
    if loaded.raters is not None:
        report.rater_columns = [str(c) for c in loaded.raters.columns]
    report.notes = list(loaded.notes)
    if not stimuli:
        return report
    matched, unrated, missing = _match(stimuli, loaded)
    report.n_matched = len(matched)
    if not matched:
        report.errors.append(_no_match_message(folder, stimuli, loaded))
        return report
    report.errors += _unmatched_files(folder, stimuli, loaded)
    if missing:
        per_rater = loaded.format in ("per_rater", "qualtrics", "mixed")
        report.warnings.append(
            f"{len(missing)} rated stimuli have no image in {folder} (e.g. {_examples(missing)}); they are left out"
            + ("; columns that describe the raters go in rater_columns" if per_rater else "")
        )
    if unrated:
        report.warnings.append(
            f"{len(unrated)} images have no ratings (e.g. {_examples(unrated)}); they are left out of the analyses"
        )
    _check_ratings(report, loaded.restrict([s.id for s in matched]))
    return report


def _check_landmarks(report: CheckReport, stimuli: list[Stimulus], source) -> None:
    from psychoface.data.landmarks import LANDMARK_EXTENSIONS, load_landmarks, outside_image

    if source is None and not any(s.path.with_suffix(e).is_file() for s in stimuli for e in LANDMARK_EXTENSIONS):
        return
    try:
        found = load_landmarks(source) if source is not None else load_landmarks(images=stimuli)
    except PsychofaceError as exc:
        report.landmarks = "unreadable"
        report.errors.append(str(exc))
        return
    ids = {s.id for s in stimuli}
    orphans = [i for i in found.ids if i not in ids]
    missing = [s.id for s in stimuli if s.id not in set(found.ids)]
    report.landmarks = f"{found.n} faces x {found.k} points ({found.template}), {found.source}"
    if orphans:
        report.errors.append(f"{len(orphans)} stimuli have landmarks but no image (e.g. {_examples(orphans)}); "
                             "remove them or add the images")
    if missing:
        report.warnings.append(f"{len(missing)} images have no landmarks (e.g. {_examples(missing)}); the shape "
                               "analyses need every face's landmarks (`psychoface landmarks` detects them)")
    outside = outside_image(found, [s for s in stimuli if s.id in set(found.ids)])
    if outside:
        report.warnings.append(f"{len(outside)} faces have landmarks outside the image (e.g. {_examples(outside)}); "
                               "check those files")


def _check_images(report: CheckReport, stimuli: list[Stimulus], decode: bool, max_pixels: int) -> None:
    modes: Counter[str] = Counter()
    failures: list[str] = []
    for stimulus in stimuli:
        try:
            if decode:
                with open_image(stimulus.path, max_pixels):
                    pass
            modes[probe_image(stimulus.path, max_pixels).mode] += 1
        except PsychofaceError as exc:
            failures.append(str(exc))
    report.image_modes = dict(modes.most_common())
    report.errors += failures[:_LISTED_FAILURES]
    if len(failures) > _LISTED_FAILURES:
        report.errors.append(
            f"and {len(failures) - _LISTED_FAILURES} more images fail to open; fix or remove them"
        )


def _check_ratings(report: CheckReport, ratings: Ratings) -> None:
    """Problems of the ratings of the matched stimuli."""
    constant = constant_attributes(ratings)
    if constant:
        report.warnings.append(
            f"{_names(constant)}: the same mean rating for every stimulus; a constant attribute cannot be "
            f"analysed (remove it, or check the ratings)"
        )
    missing = ratings.means.isna().mean()
    for attribute, share in missing[missing > MAX_MISSING].items():
        report.warnings.append(
            f"attribute {attribute!r}: no ratings for {share:.0%} of the {len(ratings.means)} matched stimuli; "
            f"its results rest on the few rated ones"
        )
    if not ratings.has_trials:
        return
    counts = ratings.n_ratings().to_numpy()
    counts = counts[counts > 0]  # attributes rated on subsets of the stimuli: the pairs rated
    report.ratings_per_stimulus = (int(counts.min()), float(np.median(counts)), int(counts.max()))
    single = int((counts == 1).sum())
    if single:
        report.warnings.append(
            f"{single} stimulus-attribute pairs have a single rating; split-half reliability needs at least 2 "
            f"and leaves them out"
        )
    if ratings.has_raters:
        report.n_raters = int(ratings.trials["rater"].nunique())


def _names(attributes: list[str]) -> str:
    quoted = ", ".join(repr(a) for a in attributes)
    return f"attribute {quoted}" if len(attributes) == 1 else f"attributes {quoted}"
