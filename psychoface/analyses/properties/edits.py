"""Image edits for interventions: each takes an RGB PIL image, the face's dlib-68 landmarks (or None) and a
strength, and returns the edited RGB image of the same size.

- ``luminance``: every sRGB value shifted by ``strength`` (in units of the full range, e.g. 0.1), clipped.
- ``contrast``: deviations from the image's mean sRGB value scaled by ``1 + strength``, clipped.
- ``blur``: Gaussian blur with SD ``strength`` pixels.
- ``mirror``: horizontal mirror image (no strength).
- ``chimera_left`` / ``chimera_right``: left-left and right-right chimeric faces (symmetry; the image-left
  or image-right half reflected about the facial midline; Rhodes et al., 1998): the midline is the vertical
  through the median x of the nose bridge, nose tip, lip and chin points (27-30, 33, 51, 57, 8), so the face
  should be upright (small roll).
- ``discs``: grey discs (sRGB 0.5) of radius ``strength`` x the inter-ocular distance centred on given
  landmarks (electrodes, blemishes; Büchner et al., 2024).
- ``occlude``: a grey rectangle over a region's landmarks (eyes with brows, nose, mouth), padded by 10% of
  the inter-ocular distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from psychoface.errors import PsychofaceError

MIDLINE_POINTS = [27, 28, 29, 30, 33, 51, 57, 8]
REGIONS = {"eyes": list(range(17, 27)) + list(range(36, 48)), "nose": list(range(27, 36)), "mouth": list(range(48, 68))}
GREY = (128, 128, 128)


def _array(image):
    return np.asarray(image.convert("RGB"), dtype=float) / 255.0


def _image(a):
    return Image.fromarray(np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")


def luminance(image, points, strength):
    return _image(_array(image) + strength)


def contrast(image, points, strength):
    a = _array(image)
    return _image(a.mean() + (a - a.mean()) * (1.0 + strength))


def blur(image, points, strength):
    return image.convert("RGB").filter(ImageFilter.GaussianBlur(radius=float(strength)))


def mirror(image, points, strength):
    return image.convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def midline(points) -> float:
    """x of the facial midline from dlib-68 points."""
    return float(np.median(np.asarray(points)[MIDLINE_POINTS, 0]))


def _chimera(image, points, keep_left: bool):
    a = _array(image)
    w = a.shape[1]
    xm = midline(points)
    x = np.arange(w)
    src = np.where(x > xm, 2 * xm - x, x) if keep_left else np.where(x < xm, 2 * xm - x, x)
    src = np.clip(np.round(src).astype(int), 0, w - 1)
    return _image(a[:, src])


def chimera_left(image, points, strength):
    return _chimera(image, points, True)


def chimera_right(image, points, strength):
    return _chimera(image, points, False)


def _interocular(p):
    return float(np.linalg.norm(p[36:42].mean(axis=0) - p[42:48].mean(axis=0)))


def discs(image, points, strength, *, at=(31, 35)):
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    p = np.asarray(points, dtype=float)
    r = strength * _interocular(p)
    for i in at:
        x, y = p[i]
        draw.ellipse((x - r, y - r, x + r, y + r), fill=GREY)
    return out


def occlude(image, points, strength, *, region="eyes"):
    out = image.convert("RGB").copy()
    p = np.asarray(points, dtype=float)
    pad = 0.1 * _interocular(p)
    sel = p[REGIONS[region]]
    ImageDraw.Draw(out).rectangle(
        (sel[:, 0].min() - pad, sel[:, 1].min() - pad, sel[:, 0].max() + pad, sel[:, 1].max() + pad), fill=GREY
    )
    return out


@dataclass(frozen=True)
class Edit:
    """One intervention: a name, the edit function, its strengths (``(None,)`` when it has none) and
    whether it needs landmarks."""

    name: str
    function: object
    strengths: tuple = (None,)
    needs_landmarks: bool = False
    options: dict = field(default_factory=dict)

    def apply(self, image, points, strength):
        if self.needs_landmarks and points is None:
            raise PsychofaceError(
                f"intervention {self.name!r} needs landmarks and the study has none; set `landmarks` in "
                "psychoface.toml or leave the intervention out"
            )
        return self.function(image, points, strength, **self.options)


def make_edit(name: str, strengths=None, **options) -> Edit:
    """An :class:`Edit` by name (``luminance``, ``contrast``, ``blur``, ``mirror``, ``chimera_left``,
    ``chimera_right``, ``discs``, ``occlude``), with default strengths where it has them."""
    table = {
        "luminance": (luminance, (-0.2, -0.1, 0.1, 0.2), False),
        "contrast": (contrast, (-0.5, -0.25, 0.25, 0.5), False),
        "blur": (blur, (1.0, 2.0, 4.0), False),
        "mirror": (mirror, (None,), False),
        "chimera_left": (chimera_left, (None,), True),
        "chimera_right": (chimera_right, (None,), True),
        "discs": (discs, (0.1, 0.2), True),
        "occlude": (occlude, (None,), True),
    }
    if name not in table:
        raise PsychofaceError(f"unknown intervention {name!r}: use one of {', '.join(table)}")
    fn, default, needs = table[name]
    if strengths is None or default == (None,):
        strengths = default
    label = name if name != "occlude" else f"occlude_{options.get('region', 'eyes')}"
    if name == "occlude" and options.get("region", "eyes") not in REGIONS:
        raise PsychofaceError(f"unknown occlusion region {options['region']!r}: use one of {', '.join(REGIONS)}")
    return Edit(label, fn, tuple(float(s) for s in strengths) if strengths != (None,) else (None,), needs, options)
