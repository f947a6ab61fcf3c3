"""Image measures of each face: luminance, RMS contrast, colour, face size and sharpness.

Pixels are read as sRGB and linearised with the IEC 61966-2-1 transfer function.

- **Luminance**: mean relative luminance ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` of the linear values over
  the face region (0 black to 1 white).
- **RMS contrast**: SD of ``Y`` over the face region divided by its mean (Peli, 1990).
- **Colour**: mean CIELAB ``L*``, ``a*``, ``b*`` (D65 white; CIE 15:2004) over the skin region.
- **Face size**: the face region's area as a share of the frame.
- **Sharpness**: variance of the Laplacian of ``Y`` inside the face region (Pech-Pacheco et al., 2000),
  at the image's own resolution (so it is comparable between faces of the same size only).

With dlib-68 landmarks the face region is the polygon of the jaw line (points 0-16) closed over the brows
(26-17), and the skin region is that polygon less the eyes with their brows (the polygon of each brow and
its upper eyelid) and the mouth (48-59). Without landmarks both regions are the whole image and face size
is not computed; the table's ``attrs`` say which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage

from psychoface.errors import PsychofaceError

_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)

MEASURES = {
    "luminance": "mean relative luminance of the face region (0-1)",
    "rms_contrast": "RMS contrast of the face region (SD / mean of luminance)",
    "skin_L": "mean CIELAB L* of the skin region",
    "skin_a": "mean CIELAB a* of the skin region",
    "skin_b": "mean CIELAB b* of the skin region",
    "face_size": "face region's share of the frame",
    "sharpness": "variance of the Laplacian of luminance in the face region",
}


def linear_rgb(rgb) -> np.ndarray:
    """sRGB values in [0, 1] (or uint8) to linear RGB (IEC 61966-2-1)."""
    rgb = np.asarray(rgb)
    x = rgb.astype(float) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(float)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def relative_luminance(rgb) -> np.ndarray:
    """Relative luminance Y of sRGB pixels (last axis RGB)."""
    return linear_rgb(rgb) @ np.array([0.2126, 0.7152, 0.0722])


def rgb_to_lab(rgb) -> np.ndarray:
    """sRGB pixels (last axis RGB, uint8 or [0, 1]) to CIELAB under D65."""
    xyz = linear_rgb(rgb) @ _RGB_TO_XYZ.T / _D65
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def face_polygon(points) -> list[tuple[float, float]]:
    """The face region's outline from one face's dlib-68 points: jaw 0-16 then brows 26-17."""
    p = np.asarray(points, dtype=float)
    return [tuple(p[i]) for i in list(range(17)) + list(range(26, 16, -1))]


def region_masks(points, size) -> tuple[np.ndarray, np.ndarray]:
    """(face, skin) boolean masks of shape (height, width) from one face's dlib-68 points."""
    width, height = size
    p = np.asarray(points, dtype=float)
    face = Image.new("L", (width, height), 0)
    ImageDraw.Draw(face).polygon(face_polygon(p), fill=255)
    skin = face.copy()
    draw = ImageDraw.Draw(skin)
    for brow, lid in ((range(17, 22), (39, 38, 37, 36)), (range(22, 27), (45, 44, 43, 42))):
        poly = [tuple(p[i]) for i in list(brow) + list(lid)]
        draw.polygon(poly, fill=0)
    for eye in (range(36, 42), range(42, 48)):
        draw.polygon([tuple(p[i]) for i in eye], fill=0)
    draw.polygon([tuple(p[i]) for i in range(48, 60)], fill=0)
    return np.asarray(face) > 0, np.asarray(skin) > 0


def measure_image(image: Image.Image, points=None) -> dict[str, float]:
    """The measures of one RGB image; ``points``: its (68, 2) dlib-68 landmarks or None."""
    rgb = np.asarray(image.convert("RGB"))
    Y = relative_luminance(rgb)
    if points is None:
        face = skin = np.ones(Y.shape, dtype=bool)
    else:
        face, skin = region_masks(points, image.size)
    out = {}
    y_face = Y[face]
    if y_face.size < 2:
        raise PsychofaceError("face region of fewer than 2 pixels; check the face's landmarks")
    out["luminance"] = float(y_face.mean())
    out["rms_contrast"] = float(y_face.std() / y_face.mean()) if y_face.mean() > 0 else np.nan
    lab = rgb_to_lab(rgb[skin]) if skin.any() else np.full((1, 3), np.nan)
    out["skin_L"], out["skin_a"], out["skin_b"] = (float(v) for v in lab.mean(axis=0))
    if points is not None:
        out["face_size"] = float(face.mean())
    out["sharpness"] = float(ndimage.laplace(Y)[face].var())
    return out


def image_measures(images, ids, landmarks=None, *, progress=None) -> pd.DataFrame:
    """Measures of every image, one row per face (index ``stimulus``).

    ``images``: an iterable of PIL images (or a callable ``i -> image``, read one at a time, so a large
    study is never held in memory); ``landmarks``: an (n, 68, 2) array of dlib-68 points in the images'
    pixels, or None (then the regions are the whole image); a face whose landmarks are NaN gets missing values. ``progress(i)`` is called after each image.
    """
    ids = [str(i) for i in ids]
    if landmarks is not None:
        landmarks = np.asarray(landmarks, dtype=float)
        if landmarks.shape[1:] != (68, 2) or len(landmarks) != len(ids):
            raise PsychofaceError(
                f"landmarks: shape {landmarks.shape} for {len(ids)} faces; the image measures need "
                "dlib68 landmarks (68 points) for every face"
            )
    source = images if callable(images) else iter(images).__next__
    rows = []
    for i in range(len(ids)):
        image = source(i) if callable(images) else source()
        if landmarks is not None and np.isnan(landmarks[i]).any():  # a face without landmarks
            rows.append({})
        else:
            rows.append(measure_image(image, None if landmarks is None else landmarks[i]))
        if progress is not None:
            progress(i)
    table = pd.DataFrame(rows, index=pd.Index(ids, name="stimulus"), columns=[
        k for k in MEASURES if landmarks is not None or k != "face_size"])
    table.attrs["psychoface"] = {
        "region": "dlib68 face polygon (jaw and brows); skin: less eyes, brows and mouth"
        if landmarks is not None
        else "whole image (no landmarks)",
        "measures": {k: v for k, v in MEASURES.items() if k in table.columns},
    }
    return table
