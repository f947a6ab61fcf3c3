"""Face measures computed from dlib-68 landmarks (image pixels, x right, y down).

Indices are 0-based in the iBUG 300-W / dlib 68-point scheme (Sagonas et al., 2016): jaw 0-16 (0 is the
face's right side, on the image's left, for a frontal face), brows 17-26, nose 27-35, eyes 36-47, mouth
48-67.

- **fWHR** (facial width-to-height ratio; Carré & McCormick, 2008, measured from landmarks as in Lefevre
  et al., 2013): bizygomatic width (distance between jaw points 1 and 15) over upper-face height (distance
  from the upper lip's top, point 51, to the midpoint of the inner brow ends, points 21 and 22).
- **Roll** (degrees): the angle of the line from the image-left eye's centre to the image-right eye's centre
  against the image's horizontal; positive when the image-right eye lies lower (clockwise head tilt in the
  image).
- **Yaw** (degrees, approximate): the nose tip's (point 30) horizontal offset from the midpoint of the face's
  outline (jaw points 0 and 16) along the eye line, as a share of the half-width, read as the sine of the
  rotation of a cylindrical head (positive: the nose points to the image's right). It orders faces by
  turn; it is not a calibrated 3-D pose.
- **Asymmetry**: the configuration is reflected (x -> -x) and its landmarks relabelled left for right; the
  Procrustes distance between the configuration and its reflected copy (both centred and scaled to unit
  centroid size, the copy optimally rotated) is the asymmetry of the whole configuration (Klingenberg,
  Barluenga & Meyer, 2002): 0 for a perfectly symmetric face.
- **Distinctiveness**: the Procrustes distance of each face from the sample's mean shape after generalised
  Procrustes alignment (Gower, 1975); averageness is its negative (Rhodes, 2006).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.errors import PsychofaceError

#: Left-right relabelling of the 68 dlib points: point i of the reflected face is point MIRROR_68[i].
MIRROR_68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # right eye -> left eye
    + [39, 38, 37, 36, 41, 40]  # left eye -> right eye
    + [54, 53, 52, 51, 50, 49, 48]  # outer upper lip
    + [59, 58, 57, 56, 55]  # outer lower lip
    + [64, 63, 62, 61, 60]  # inner upper lip
    + [67, 66, 65]  # inner lower lip
)

MEASURES = {
    "fwhr": "facial width-to-height ratio (landmarks)",
    "roll": "head roll in degrees (landmarks)",
    "yaw": "approximate head yaw in degrees (landmarks, cylinder model)",
    "asymmetry": "Procrustes asymmetry of the landmark configuration",
    "distinctiveness": "Procrustes distance from the sample's mean shape",
}


def check_dlib68(coords, ids=None) -> np.ndarray:
    """Coordinates as an (n, 68, 2) float array; PsychofaceError naming the face otherwise."""
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 3 or coords.shape[1:] != (68, 2):
        raise PsychofaceError(
            f"landmarks: shape {coords.shape}, the property measures need the dlib68 template "
            "(68 points per face); detect landmarks with the dlib68 template"
        )
    bad = ~np.isfinite(coords).all(axis=(1, 2))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        name = ids[i] if ids is not None else i
        raise PsychofaceError(
            f"landmarks: face {name!r} has missing coordinates; re-detect its landmarks or drop the face"
        )
    return coords


def _eye_centres(c):
    return c[:, 36:42].mean(axis=1), c[:, 42:48].mean(axis=1)


def fwhr(coords) -> np.ndarray:
    """Bizygomatic width (points 1-15) over upper-face height (point 51 to the inner brows' midpoint)."""
    c = check_dlib68(coords)
    width = np.linalg.norm(c[:, 15] - c[:, 1], axis=1)
    height = np.linalg.norm(c[:, 51] - (c[:, 21] + c[:, 22]) / 2.0, axis=1)
    return width / height


def roll(coords) -> np.ndarray:
    """Angle in degrees of the inter-ocular line (image-left eye to image-right eye) to the horizontal."""
    c = check_dlib68(coords)
    a, b = _eye_centres(c)
    d = b - a
    return np.degrees(np.arctan2(d[:, 1], d[:, 0]))


def yaw(coords) -> np.ndarray:
    """Approximate yaw in degrees: arcsin of the nose tip's offset from the outline's midpoint, as a share
    of the half-width, measured along the eye line."""
    c = check_dlib68(coords)
    a, b = _eye_centres(c)
    axis = (b - a) / np.linalg.norm(b - a, axis=1, keepdims=True)
    left = np.einsum("ij,ij->i", c[:, 0], axis)
    right = np.einsum("ij,ij->i", c[:, 16], axis)
    nose = np.einsum("ij,ij->i", c[:, 30], axis)
    offset = (nose - (left + right) / 2.0) / ((right - left) / 2.0)
    return np.degrees(np.arcsin(np.clip(offset, -1.0, 1.0)))


def _normalise(c):
    """Centre each configuration and scale it to unit centroid size."""
    c = c - c.mean(axis=1, keepdims=True)
    return c / np.sqrt((c * c).sum(axis=(1, 2), keepdims=True))


def _rotate_onto(moving, target):
    """Rotate each (centred, unit) configuration in ``moving`` onto ``target`` (orthogonal Procrustes,
    rotations only, no reflection)."""
    out = np.empty_like(moving)
    for i, (m, t) in enumerate(zip(moving, target)):
        u, _, vt = np.linalg.svd(m.T @ t)
        d = np.sign(np.linalg.det(u @ vt))
        out[i] = m @ (u @ np.diag([1.0, d]) @ vt)
    return out


def asymmetry(coords) -> np.ndarray:
    """Procrustes distance between each configuration and its relabelled reflection (0 = symmetric)."""
    c = _normalise(check_dlib68(coords))
    mirrored = c[:, MIRROR_68] * np.array([-1.0, 1.0])
    aligned = _rotate_onto(mirrored, c)
    return np.sqrt(((aligned - c) ** 2).sum(axis=(1, 2)))


def distinctiveness(coords, *, iterations: int = 20) -> np.ndarray:
    """Procrustes distance from the sample's mean shape after generalised Procrustes alignment."""
    c = _normalise(check_dlib68(coords))
    mean = c[0]
    for _ in range(iterations):
        aligned = _rotate_onto(c, np.broadcast_to(mean, c.shape))
        new = aligned.mean(axis=0)
        new = (new - new.mean(axis=0)) / np.sqrt((new * new).sum())
        if np.allclose(new, mean, atol=1e-12):
            break
        mean = new
    aligned = _rotate_onto(c, np.broadcast_to(mean, c.shape))
    return np.sqrt(((aligned - mean) ** 2).sum(axis=(1, 2)))


def landmark_measures(coords, ids) -> pd.DataFrame:
    """All landmark measures, one row per face (index ``stimulus``), columns as in :data:`MEASURES`."""
    c = check_dlib68(coords, ids)
    if len(ids) != len(c):
        raise PsychofaceError(f"landmarks: {len(c)} faces but {len(ids)} ids; give one id per face")
    table = pd.DataFrame(
        {
            "fwhr": fwhr(c),
            "roll": roll(c),
            "yaw": yaw(c),
            "asymmetry": asymmetry(c),
            "distinctiveness": distinctiveness(c) if len(c) > 2 else np.nan,
        },
        index=pd.Index([str(i) for i in ids], name="stimulus"),
    )
    return table
