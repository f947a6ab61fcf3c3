"""Facial landmarks of a study: reading them from webmorph, iBUG/dlib and CSV files.

A study's landmarks are one configuration of *k* points per face, all following one template (the same
number of points in the same order). Coordinates are image pixels with x to the right and y down, as
webmorph/Psychomorph (``.tem``), iBUG 300-W / dlib (``.pts``) and dlib's shape predictor write them.

Formats (:func:`load_landmarks`):

- ``.tem`` (webmorph / Psychomorph; Tiddeman et al., 2001; DeBruine, 2018): the first line holds the number
  of points, then one ``x y`` line per point; the line definitions that follow are not read.
- ``.pts`` (iBUG 300-W; Sagonas et al., 2016): ``version: 1``, ``n_points: 68``, then ``{``, one ``x y``
  line per point, ``}``.
- CSV, long: columns ``stimulus``, ``point``, ``x``, ``y`` (one row per point; points are integers, ordered
  by value); or wide: a ``stimulus`` column and ``x0, y0, x1, y1, ...`` (any first index). Other columns
  are ignored (detection writes its provenance there).

Files named like the images (``face_01.jpg`` -> ``face_01.tem`` or ``face_01.pts``) are found beside the
images; ``landmarks = "..."`` in ``psychoface.toml`` names a folder of such files or one CSV instead.

Left-right pairing: :data:`DLIB68_MIRROR` (the 68-point iBUG markup) and :data:`WEBMORPH189_MIRROR` (the
standard 189-point webmorph FRL template, from ``frl_sym()`` of DeBruine's webmorph R package) are built in;
for any other template the user gives the pairs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface.data.images import Stimulus, find_images, natural_key, probe_image
from psychoface.errors import PsychofaceError

LANDMARK_EXTENSIONS = (".tem", ".pts")
"""Per-face landmark files: webmorph/Psychomorph templates and iBUG/dlib point files."""

TABLE_EXTENSIONS = (".csv", ".tsv")
"""One file holding every face's landmarks (long or wide layout)."""


def _mirror_from_pairs(k: int, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    mirror = np.arange(k)
    for i, j in pairs:
        mirror[i], mirror[j] = j, i
    return mirror


#: Left-right partner of each of dlib's / iBUG's 68 points (0-based): jaw 0-16, brows 17-26, nose 27-35,
#: eyes 36-47, outer lips 48-59, inner lips 60-67; midline points are their own partners.
DLIB68_MIRROR = _mirror_from_pairs(68, [
    *[(i, 16 - i) for i in range(8)],
    *[(17 + i, 26 - i) for i in range(5)],
    (31, 35), (32, 34),
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),
    (60, 64), (61, 63), (65, 67),
])

#: Left-right partner of each point of webmorph's standard 189-point FRL template (0-based), as in
#: ``frl_sym()`` of the webmorph R package (DeBruine, 2022).
WEBMORPH189_MIRROR = np.array([
    1, 0, 10, 17, 16, 15, 14, 13, 12, 11, 2, 9, 8, 7, 6, 5, 4, 3, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
    33, 32, 31, 30, 29, 28, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 49, 48, 47, 46, 45, 44, 56, 57, 58, 59,
    60, 55, 50, 51, 52, 53, 54, 66, 67, 68, 69, 70, 61, 62, 63, 64, 65, 82, 81, 80, 79, 78, 77, 76, 75, 74,
    73, 72, 71, 86, 85, 84, 83, 93, 92, 91, 90, 89, 88, 87, 98, 97, 96, 95, 94, 103, 102, 101, 100, 99, 108,
    107, 106, 105, 104, 112, 113, 114, 109, 110, 111, 120, 121, 122, 123, 124, 115, 116, 117, 118, 119, 133,
    132, 131, 130, 129, 128, 127, 126, 125, 144, 143, 142, 141, 140, 139, 138, 137, 136, 135, 134, 157, 156,
    155, 154, 153, 152, 151, 150, 149, 148, 147, 146, 145, 161, 162, 163, 158, 159, 160, 167, 168, 169, 164,
    165, 166, 172, 173, 170, 171, 174, 175, 178, 177, 176, 182, 181, 180, 179, 184, 183, 187, 188, 185, 186,
])

TEMPLATES = {"dlib68": DLIB68_MIRROR, "webmorph189": WEBMORPH189_MIRROR}
"""Built-in templates: name -> left-right mirror map. Any other configuration is ``custom``."""


@dataclass(frozen=True)
class Landmarks:
    """Landmark configurations of a set of faces.

    ``ids``: stimulus ids (str). ``coords``: float array (n faces x k points x 2), image pixels, x right,
    y down. ``template``: ``dlib68``, ``webmorph189`` or ``custom``. ``source``: where they came from (a
    path, or a description such as ``dlib 68-point detection``). ``mirror``: the left-right partner of
    each point (an involution of 0..k-1; midline points map to themselves), or None when unknown.
    """

    ids: list[str]
    coords: np.ndarray
    template: str = "custom"
    source: str = ""
    mirror: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        coords = np.asarray(self.coords, dtype=float)
        if coords.ndim != 3 or coords.shape[2] != 2:
            raise PsychofaceError(
                f"landmarks from {self.source or 'input'}: coordinates have shape {coords.shape}; "
                "give n faces x k points x 2 (x, y)")
        if len(self.ids) != coords.shape[0]:
            raise PsychofaceError(
                f"landmarks from {self.source or 'input'}: {len(self.ids)} ids for {coords.shape[0]} configurations; "
                "give one id per face")
        ids = [str(i) for i in self.ids]
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                raise PsychofaceError(f"landmarks from {self.source or 'input'}: stimulus {i!r} appears twice; "
                                      "keep one configuration per face")
            seen.add(i)
        _check_values(coords, ids, self.source or "input")
        mirror = self.mirror
        if mirror is None and self.template in TEMPLATES and coords.shape[1] == len(TEMPLATES[self.template]):
            mirror = TEMPLATES[self.template]
        if self.template in TEMPLATES and coords.shape[1] != len(TEMPLATES[self.template]):
            raise PsychofaceError(
                f"landmarks from {self.source or 'input'}: template {self.template} has "
                f"{len(TEMPLATES[self.template])} points, these have {coords.shape[1]}; name the right template "
                "or use custom")
        if mirror is not None:
            mirror = check_mirror(mirror, coords.shape[1])
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "mirror", mirror)

    @property
    def n(self) -> int:
        """Number of faces."""
        return self.coords.shape[0]

    @property
    def k(self) -> int:
        """Number of points per face."""
        return self.coords.shape[1]

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Left-right point pairs ``(i, j)`` with ``i < j``; empty when the pairing is unknown."""
        if self.mirror is None:
            return []
        return [(i, int(j)) for i, j in enumerate(self.mirror) if i < j]

    def subset(self, ids: Sequence[str]) -> "Landmarks":
        """The configurations of ``ids``, in that order; ids without landmarks are an error."""
        index = {s: i for i, s in enumerate(self.ids)}
        missing = [str(s) for s in ids if str(s) not in index]
        if missing:
            raise PsychofaceError(
                f"{len(missing)} stimuli have no landmarks in {self.source or 'the landmarks'} "
                f"(e.g. {', '.join(missing[:3])}); add their landmarks or run `psychoface landmarks`")
        rows = [index[str(s)] for s in ids]
        return Landmarks([self.ids[r] for r in rows], self.coords[rows], self.template, self.source, self.mirror)

    def to_frame(self, layout: str = "long") -> pd.DataFrame:
        """``long``: columns stimulus, point (0-based), x, y; ``wide``: stimulus, x0, y0, x1, y1, ..."""
        if layout == "long":
            return pd.DataFrame({
                "stimulus": np.repeat(np.array(self.ids, dtype=object), self.k),
                "point": np.tile(np.arange(self.k), self.n),
                "x": self.coords[:, :, 0].ravel(), "y": self.coords[:, :, 1].ravel(),
            })
        if layout == "wide":
            cols = {"stimulus": self.ids}
            for j in range(self.k):
                cols[f"x{j}"], cols[f"y{j}"] = self.coords[:, j, 0], self.coords[:, j, 1]
            return pd.DataFrame(cols)
        raise PsychofaceError(f"unknown landmark layout {layout!r}: use long or wide")


def check_mirror(mirror, k: int) -> np.ndarray:
    """Validate a left-right mirror map: a permutation of 0..k-1 that is its own inverse.

    Also accepts a list of ``(left, right)`` pairs (0-based); unpaired points lie on the midline.
    """
    arr = np.asarray(mirror)
    if arr.ndim == 2 and arr.shape[1] == 2:
        if arr.size and (arr.min() < 0 or arr.max() >= k):
            raise PsychofaceError(f"left-right pairs name points outside 0..{k - 1}; number points from 0")
        flat = arr.ravel().tolist()
        if len(set(flat)) != len(flat):
            raise PsychofaceError("left-right pairs use a point twice; pair each point with at most one other")
        arr = _mirror_from_pairs(k, [tuple(int(v) for v in p) for p in arr])
    if arr.ndim != 1 or len(arr) != k or not np.issubdtype(arr.dtype, np.integer):
        raise PsychofaceError(f"left-right mirror map has {arr.size} entries for {k} points; give one partner per point")
    if sorted(arr.tolist()) != list(range(k)) or not np.array_equal(arr[arr], np.arange(k)):
        raise PsychofaceError(
            "left-right mirror map is not a pairing (each point's partner must name the point back); "
            "check the pairs")
    return arr.astype(int)


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """Left-right pairs written as ``"0-16, 1-15, ..."`` (0-based point numbers)."""
    pairs = []
    for item in [t.strip() for t in str(text).split(",") if t.strip()]:
        m = re.fullmatch(r"(\d+)\s*[-:]\s*(\d+)", item)
        if not m:
            raise PsychofaceError(f"left-right pair {item!r} is not of the form 0-16; list pairs like 0-16,1-15")
        pairs.append((int(m.group(1)), int(m.group(2))))
    return pairs


def template_for(k: int) -> str:
    """The built-in template with ``k`` points (``dlib68``, ``webmorph189``), else ``custom``."""
    for name, mirror in TEMPLATES.items():
        if len(mirror) == k:
            return name
    return "custom"


# --------------------------------------------------------------------------------------- values


def _check_values(coords: np.ndarray, ids: list[str], where: str) -> None:
    bad = ~np.isfinite(coords)
    if bad.any():
        f, p, c = np.argwhere(bad)[0]
        raise PsychofaceError(
            f"{where}: stimulus {ids[f]!r} point {p} has {'x' if c == 0 else 'y'} = {coords[f, p, c]}; "
            "coordinates must be finite numbers, fix or remove the point")
    neg = coords < 0
    if neg.any():
        f, p, c = np.argwhere(neg)[0]
        raise PsychofaceError(
            f"{where}: stimulus {ids[f]!r} point {p} has negative {'x' if c == 0 else 'y'} = {coords[f, p, c]:g}; "
            "coordinates are image pixels from the top-left corner, fix the point")


def _numbers(line: str, path: Path, lineno: int, count: int | None = 2) -> list[float]:
    parts = line.replace(",", " ").split()
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise PsychofaceError(
            f"{path}, line {lineno}: {line.strip()!r} is not a pair of numbers x y; fix the file") from None
    if count is not None and len(values) < count:
        raise PsychofaceError(f"{path}, line {lineno}: {line.strip()!r} is not a pair of numbers x y; fix the file")
    return values


# --------------------------------------------------------------------------------------- readers


def read_tem(path: str | os.PathLike) -> np.ndarray:
    """One webmorph/Psychomorph ``.tem`` file -> (k, 2) array (line definitions after the points are ignored)."""
    path = Path(path)
    lines = _read_lines(path)
    body = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not body:
        raise PsychofaceError(f"{path}: empty landmark file; write the number of points, then one x y line per point")
    lineno, first = body[0]
    try:
        k = int(first.split()[0])
    except ValueError:
        raise PsychofaceError(
            f"{path}, line {lineno}: {first.strip()!r} is not the number of points a .tem file starts with; "
            "fix the file") from None
    if k < 1 or len(body) - 1 < k:
        raise PsychofaceError(
            f"{path}: says {k} points but has {len(body) - 1} lines after the count; fix the count or the points")
    return np.array([_numbers(ln, path, no)[:2] for no, ln in body[1:k + 1]], dtype=float)


def read_pts(path: str | os.PathLike) -> np.ndarray:
    """One iBUG/dlib ``.pts`` file -> (k, 2) array."""
    path = Path(path)
    lines = _read_lines(path)
    n_points, start = None, None
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.lower().startswith("n_points"):
            try:
                n_points = int(s.split(":", 1)[1])
            except (IndexError, ValueError):
                raise PsychofaceError(f"{path}, line {i + 1}: {s!r} does not give the number of points; "
                                      "write n_points: 68") from None
        elif s.startswith("{"):
            start = i + 1
            break
    if start is None:
        raise PsychofaceError(f"{path}: no '{{' line before the points; an iBUG .pts file has version, n_points, "
                              "then the points between {{ and }}")
    points = []
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if s.startswith("}"):
            break
        if s:
            points.append(_numbers(s, path, i + 1)[:2])
    else:
        raise PsychofaceError(f"{path}: no closing '}}' after the points; fix the file")
    if n_points is not None and n_points != len(points):
        raise PsychofaceError(f"{path}: n_points says {n_points} but {len(points)} points follow; fix the count")
    if not points:
        raise PsychofaceError(f"{path}: no points between {{ and }}; fix the file")
    return np.array(points, dtype=float)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise PsychofaceError(f"{path}: landmark file not found; check the path (landmarks = ... in "
                              "psychoface.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PsychofaceError(f"{path}: cannot be read as text ({exc}); give a .tem, .pts or CSV file") from None


def read_landmark_table(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """A CSV/TSV of every face's landmarks, long (stimulus, point, x, y) or wide (stimulus, x0, y0, ...)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype={0: str})
    except FileNotFoundError:
        raise PsychofaceError(f"{path}: landmark file not found; check the path (landmarks = ... in "
                              "psychoface.toml)") from None
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PsychofaceError(f"{path}: cannot be read as a table ({str(exc).splitlines()[0]}); "
                              "save it as CSV") from None
    columns = {str(c).strip().lower(): c for c in df.columns}
    stim = next((columns[c] for c in ("stimulus", "id", "image", "face") if c in columns), None)
    if stim is None:
        raise PsychofaceError(f"{path}: no 'stimulus' column; name the column of stimulus ids 'stimulus'")
    df[stim] = df[stim].astype(str).str.strip()
    if {"point", "x", "y"} <= set(columns):
        return _long_table(df, path, stim, columns["point"], columns["x"], columns["y"])
    xs = {int(m.group(1)): c for c in df.columns if (m := re.fullmatch(r"[xX]_?(\d+)", str(c).strip()))}
    ys = {int(m.group(1)): c for c in df.columns if (m := re.fullmatch(r"[yY]_?(\d+)", str(c).strip()))}
    if not xs:
        raise PsychofaceError(
            f"{path}: neither long (stimulus, point, x, y) nor wide (stimulus, x0, y0, x1, y1, ...) columns; "
            "rename the columns")
    if set(xs) != set(ys):
        odd = sorted(set(xs) ^ set(ys))[0]
        raise PsychofaceError(f"{path}: column x{odd} or y{odd} has no partner; give both x and y of every point")
    order = sorted(xs)
    if order != list(range(order[0], order[0] + len(order))):
        gap = next(i for i in range(order[0], order[-1] + 1) if i not in xs)
        raise PsychofaceError(f"{path}: columns x{gap}, y{gap} are missing; number the points without gaps")
    dup = df[stim][df[stim].duplicated()]
    if len(dup):
        raise PsychofaceError(f"{path}: stimulus {dup.iloc[0]!r} has two rows; keep one row per face")
    coords = np.stack([
        np.stack([_column(df, xs[j], path), _column(df, ys[j], path)], axis=1) for j in order], axis=1)
    return df[stim].tolist(), coords


def _column(df: pd.DataFrame, col, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() & df[col].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise PsychofaceError(f"{path}, row {row + 2}, column {col}: {df[col].iloc[row]!r} is not a number; fix it")
    return values.to_numpy(dtype=float)


def _long_table(df: pd.DataFrame, path: Path, stim, point, x, y) -> tuple[list[str], np.ndarray]:
    pts = pd.to_numeric(df[point], errors="coerce")
    bad = pts.isna() | (pts != np.round(pts))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise PsychofaceError(f"{path}, row {row + 2}, column {point}: {df[point].iloc[row]!r} is not a point number; "
                              "number the points 0, 1, 2, ...")
    df = df.assign(_point=pts.astype(int), _x=_column(df, x, path), _y=_column(df, y, path))
    dup = df.duplicated([stim, "_point"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise PsychofaceError(f"{path}, row {row + 2}: stimulus {df[stim].iloc[row]!r} has point "
                              f"{df['_point'].iloc[row]} twice; keep one row per point")
    ids = list(dict.fromkeys(df[stim]))  # file order
    groups = {s: g.sort_values("_point") for s, g in df.groupby(stim, sort=False)}
    reference = groups[ids[0]]["_point"].to_numpy()
    for s in ids[1:]:
        pts_s = groups[s]["_point"].to_numpy()
        if len(pts_s) != len(reference) or not np.array_equal(pts_s, reference):
            raise PsychofaceError(
                f"{path}: stimulus {s!r} has {len(pts_s)} points, {ids[0]!r} has {len(reference)} (or other point "
                "numbers); every face must follow one template")
    coords = np.stack([groups[s][["_x", "_y"]].to_numpy(dtype=float) for s in ids])
    return ids, coords


# --------------------------------------------------------------------------------------- finding files


def _files_beside(stimuli: Sequence[Stimulus]) -> dict[str, Path]:
    found = {}
    for s in stimuli:
        hits = [s.path.with_suffix(ext) for ext in LANDMARK_EXTENSIONS if s.path.with_suffix(ext).is_file()]
        hits += [s.path.with_suffix(ext.upper()) for ext in LANDMARK_EXTENSIONS
                 if s.path.with_suffix(ext.upper()).is_file() and s.path.with_suffix(ext.upper()) not in hits]
        if len(hits) > 1:
            raise PsychofaceError(f"{hits[0]} and {hits[1]} both hold landmarks of {s.id!r}; keep one")
        if hits:
            found[s.id] = hits[0]
    return found


def _files_in(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name.startswith(".") or path.suffix.lower() not in LANDMARK_EXTENSIONS:
                continue
            if path.stem in found:
                raise PsychofaceError(f"{found[path.stem]} and {path} both hold landmarks of {path.stem!r}; keep one")
            found[path.stem] = path
    return found


def _read_files(files: dict[str, Path]) -> tuple[list[str], np.ndarray]:
    ids = sorted(files, key=natural_key)
    arrays, first = [], None
    for s in ids:
        path = files[s]
        arr = read_tem(path) if path.suffix.lower() == ".tem" else read_pts(path)
        if first is None:
            first = (path, len(arr))
        elif len(arr) != first[1]:
            raise PsychofaceError(
                f"{path} has {len(arr)} points but {first[0]} has {first[1]}; every face must follow one template "
                "(same points in the same order)")
        arrays.append(arr)
    return ids, np.stack(arrays)


def load_landmarks(
    source: str | os.PathLike | None = None,
    *,
    images: str | os.PathLike | Sequence[Stimulus] | None = None,
    template: str | None = None,
    mirror=None,
    require_all: bool = True,
) -> Landmarks:
    """Read a study's landmarks.

    ``source``: a CSV/TSV (long or wide), one ``.tem``/``.pts`` file, or a folder of ``.tem``/``.pts`` files
    named by stimulus id; None looks for ``<image stem>.tem`` / ``.pts`` beside each image. ``images``: the
    images folder (or its stimuli); when given, the landmarks are put in image order and every image must
    have landmarks and every landmark file an image. ``template``: ``dlib68``, ``webmorph189`` or ``custom``;
    None picks it from the number of points (68: dlib68, 189: webmorph189, else custom). ``mirror``:
    left-right pairs (or a mirror map) for a custom template. ``require_all=False`` drops the images that
    have no landmarks (e.g. those detection skipped) instead of raising; landmarks without an image are
    always an error.
    """
    stimuli = None
    if images is not None:
        stimuli = find_images(images) if isinstance(images, (str, os.PathLike)) else list(images)
    if source is None:
        if stimuli is None:
            raise PsychofaceError("no landmarks given; set `landmarks` in psychoface.toml, pass --landmarks, "
                                  "or run `psychoface landmarks` to detect them")
        files = _files_beside(stimuli)
        if not files:
            folder = stimuli[0].path.parent if stimuli else "the images folder"
            raise PsychofaceError(
                f"no landmark files (.tem, .pts) beside the images in {folder}; set `landmarks` in psychoface.toml "
                "or run `psychoface landmarks` to detect them")
        ids, coords = _read_files(files)
        where = f"landmark files beside the images ({Path(os.path.commonpath([str(p) for p in files.values()]))})"
    else:
        path = Path(source).expanduser()
        where = str(path)
        if path.is_dir():
            files = _files_in(path)
            if not files:
                raise PsychofaceError(f"{path}: no .tem or .pts files in this folder; check the landmarks path")
            ids, coords = _read_files(files)
        elif path.suffix.lower() in TABLE_EXTENSIONS:
            ids, coords = read_landmark_table(path)
            where = _with_detector(path)
        elif path.suffix.lower() in LANDMARK_EXTENSIONS:
            arr = read_tem(path) if path.suffix.lower() == ".tem" else read_pts(path)
            ids, coords = [path.stem], arr[None]
        elif not path.exists():
            raise PsychofaceError(f"{path}: landmarks not found; check the path (landmarks = ... in psychoface.toml)")
        else:
            raise PsychofaceError(f"{path}: not a landmark file; give a folder of .tem/.pts files or a CSV")
    if template is None:
        template = template_for(coords.shape[1])
    elif template != "custom" and template not in TEMPLATES:
        raise PsychofaceError(f"unknown landmark template {template!r}: use {', '.join(TEMPLATES)} or custom")
    landmarks = Landmarks(ids, coords, template, where, mirror)
    if stimuli is not None:
        landmarks = _match_images(landmarks, stimuli, require_all)
    return landmarks


def _with_detector(path: Path) -> str:
    """The path, followed by the detector named in a ``detector`` column (written by `psychoface landmarks`)."""
    try:
        head = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", nrows=1)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return str(path)
    if "detector" in head.columns and len(head):
        return f"{path} (detected: {head['detector'].iloc[0]})"
    return str(path)


def _match_images(landmarks: Landmarks, stimuli: Sequence[Stimulus], require_all: bool = True) -> Landmarks:
    image_ids = [s.id for s in stimuli]
    if not require_all:
        have_landmarks = set(landmarks.ids)
        image_ids = [i for i in image_ids if i in have_landmarks]
    have = set(image_ids)
    orphans = [s for s in landmarks.ids if s not in have]
    if orphans:
        raise PsychofaceError(
            f"{landmarks.source}: {len(orphans)} stimuli have landmarks but no image (e.g. {', '.join(orphans[:3])}); "
            "remove them or add the images")
    return landmarks.subset(image_ids)


def outside_image(landmarks: Landmarks, stimuli: Sequence[Stimulus]) -> list[str]:
    """Ids of faces with a point beyond the image's width or height (read from the image headers)."""
    paths = {s.id: s.path for s in stimuli}
    out = []
    for i, s in enumerate(landmarks.ids):
        if s in paths:
            info = probe_image(paths[s])
            xy = landmarks.coords[i]
            if (xy[:, 0] > info.width).any() or (xy[:, 1] > info.height).any():
                out.append(s)
    return out


def study_landmarks(config, ids: Sequence[str] | None = None, *, template: str | None = None, mirror=None,
                    require_all: bool = True) -> Landmarks:
    """The landmarks of a study (``landmarks`` in psychoface.toml, else files beside the images), in image
    order, restricted to ``ids`` when given."""
    source = config.path(config.landmarks) if getattr(config, "landmarks", None) else None
    landmarks = load_landmarks(source, images=config.images_path, template=template, mirror=mirror,
                               require_all=require_all)
    return landmarks.subset(ids) if ids is not None else landmarks
