"""Face regions as label images, from dlib 68-point landmarks or from a user's mask image.

Regions from the dlib 68-point scheme (Sagonas et al., 2013; indices from 0): jaw line 0-16, brows 17-26,
nose 27-35, eyes 36-47, mouth 48-67. Each region is a polygon built from its points and filled on the pixel
grid (pixel centres tested with ``matplotlib.path.Path.contains_points``); a pixel claimed by several
polygons goes to the first in :data:`REGIONS`' order:

* ``eyes``: each eye's outline (36-41, 42-47; convex hull) enlarged 1.5 times about its centre;
* ``brows``: a band around each brow line (17-21, 22-26), half as wide as the mean eye width above and below;
* ``mouth``: the convex hull of the outer lip points (48-59) shifted up and down by a fifth of the mouth
  width (the lips of a closed mouth are thin), enlarged 1.2 times;
* ``nose``: the convex hull of bridge and nostrils (27-35), enlarged 2 times across and 1.1 times vertically;
* ``forehead``: from the brow band's upper edge up by the distance from the nasion (27) to the nose tip
  (33), between the outer brow ends;
* ``jaw``: the face outline (jaw line 0-16 closed along the brows) beyond the line through the mouth
  corners (48, 54), i.e. chin and lower jaw;
* ``cheeks``: the rest of the face outline;
* ``hair and background``: everything else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath

from psychoface.errors import PsychofaceError

REGIONS = ("eyes", "brows", "mouth", "nose", "forehead", "jaw", "cheeks", "hair and background")
BACKGROUND = len(REGIONS) - 1


def _hull(points):
    from scipy.spatial import ConvexHull

    return points[ConvexHull(points).vertices]


def _scaled(points, factor_x, factor_y=None):
    points = _hull(points)
    c = points.mean(axis=0)
    f = np.array([factor_x, factor_x if factor_y is None else factor_y])
    return (points - c) * f + c


def _band(line, half_width):
    """A closed polygon around a polyline, ``half_width`` above and below it (y down)."""
    up, down = line - [0, half_width], line + [0, half_width]
    return np.vstack([up, down[::-1]])


def region_polygons(landmarks) -> dict[str, list[np.ndarray]]:
    """Polygons of each region (except the background) from one face's 68 landmarks ``(68, 2)``."""
    p = np.asarray(landmarks, dtype=np.float64)
    if p.shape != (68, 2):
        raise PsychofaceError(f"regions: need the 68 points of the dlib scheme per face, got {p.shape[0]} points; "
                              "detect landmarks with the dlib68 template or give a mask image")
    eye_w = np.mean([np.linalg.norm(p[39] - p[36]), np.linalg.norm(p[45] - p[42])])
    half = 0.5 * eye_w
    mouth_h = 0.2 * np.linalg.norm(p[54] - p[48])
    brows_line = p[17:27]
    lift = np.linalg.norm(p[33] - p[27])
    top_edge = brows_line - [0, half]
    forehead = np.vstack([top_edge, (top_edge - [0, lift])[::-1]])
    face = np.vstack([p[0:17], p[26:16:-1] - [0, half]])
    return {
        "eyes": [_scaled(p[36:42], 1.5), _scaled(p[42:48], 1.5)],
        "brows": [_band(p[17:22], half), _band(p[22:27], half)],
        "mouth": [_scaled(np.vstack([p[48:60] - [0, mouth_h], p[48:60] + [0, mouth_h]]), 1.2)],
        "nose": [_scaled(p[27:36], 2.0, 1.1)],
        "forehead": [forehead],
        "face": [face],
    }


def region_labels(landmarks, shape) -> np.ndarray:
    """Label image ``(H, W)`` (index into :data:`REGIONS`) of one face with landmarks in that image's pixels."""
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W]
    pts = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float64)
    polys = region_polygons(landmarks)
    labels = np.full(H * W, BACKGROUND, dtype=np.int16)
    free = np.ones(H * W, dtype=bool)

    def claim(mask, idx):
        take = mask & free
        labels[take] = idx
        free[take] = False

    for idx, name in enumerate(REGIONS[:5]):
        mask = np.zeros(H * W, dtype=bool)
        for poly in polys[name]:
            mask |= MplPath(poly).contains_points(pts)
        claim(mask, idx)
    face = MplPath(polys["face"][0]).contains_points(pts)
    p = np.asarray(landmarks, dtype=np.float64)
    a, b = p[48], p[54]
    d = b - a
    normal = np.array([-d[1], d[0]])  # points down (y down) for a level mouth from left to right
    below = (pts - a) @ normal > 0
    claim(face & below, REGIONS.index("jaw"))
    claim(face, REGIONS.index("cheeks"))
    return labels.reshape(H, W)


def mask_labels(path, shape) -> tuple[np.ndarray, tuple[str, ...]]:
    """Regions from a user's mask image: each grey level (or colour) is one region, 0 (black) the background.

    The image must have the aligned maps' size ``shape`` (H, W). Returns ``(labels, names)`` with names
    ``"region <level>"`` and ``"background"``.
    """
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise PsychofaceError(f"{path}: cannot be read as a mask image ({exc}); give a PNG of region labels") from None
    if arr.shape[:2] != tuple(shape):
        raise PsychofaceError(f"{path}: mask image is {arr.shape[1]} x {arr.shape[0]} pixels but the aligned maps "
                              f"are {shape[1]} x {shape[0]}; resize the mask to {shape[1]} x {shape[0]}")
    code = arr[..., 0] * 65536 + arr[..., 1] * 256 + arr[..., 2]
    levels, labels = np.unique(code, return_inverse=True)
    if len(levels) < 2:
        raise PsychofaceError(f"{path}: the mask image has a single colour; paint each region in its own grey level")
    names = tuple("background" if lv == 0 else f"region {lv // 65793}" if lv % 65793 == 0 else f"region #{lv:06x}"
                  for lv in levels)
    return labels.reshape(shape).astype(np.int16), names
