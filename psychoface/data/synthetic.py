"""The built-in synthetic face study behind ``psychoface demo``: parametric cartoon faces rated by
simulated raters under a known model, so every analysis can be checked against the truth.

Generative model
----------------
Each face *f* has latent parameters ``z[f, p]`` drawn independently from N(0, 1) (rounded to 6
decimals, exactly as written to ``face_parameters.csv``); see :data:`PARAMETERS`. The drawing maps
each parameter linearly to a geometric or colour property (clipped at |z| = 3 so that no face breaks).

Each attribute *a* is a known linear combination of the standardised parameters (:data:`ATTRIBUTES`),
scaled to the 0-100 rating scale of the One Million Impressions data (Peterson et al., 2022)::

    true[f, a] = 50 + s_a * (w_a . z_f) / ||w_a||          (population SD exactly s_a)
    rating[f, a, r] = clip(round(true[f, a] + bias[r, a] + e[f, a, r]), 0, 100)

with rater biases ``bias ~ N(0, tau_a^2)`` (one per rater and attribute, raters crossed with faces:
every rater rates every face on every attribute) and errors ``e ~ N(0, sigma_a^2)``. Ratings are
integers on a 0-100 scale.

Reliability (:func:`true_reliability`) is defined for this model in population terms (Shrout &
Fleiss, 1979; McGraw & Wong, 1996), with the error variance ``sigma_e^2 = sigma_a^2 + 1/12`` that
includes the rounding to integers (Sheppard's correction); clipping at 0 and 100 is ignored (the SDs are
chosen so that fewer than 0.5% of ratings are clipped):

- ``icc_c1 = s^2 / (s^2 + sigma_e^2)``: consistency of one rater, ICC(C,1). A rater's constant bias
  does not lower it, because in a crossed design it shifts all faces alike.
- ``icc_ck``: consistency of the mean of *k* raters, ICC(C,k) = Spearman-Brown of ``icc_c1`` to *k*
  (Spearman, 1910; Brown, 1910). This is the expected split-half reliability, Spearman-Brown corrected,
  when the raters are split into two halves (the same halves for every face).
- ``icc_a1 = s^2 / (s^2 + tau^2 + sigma_e^2)`` and ``icc_ak = s^2 / (s^2 + (tau^2 + sigma_e^2) / k)``:
  absolute agreement, ICC(A,1) and ICC(A,k).
- ``split_half_within``: the expected Spearman-Brown corrected split-half reliability when the
  ratings of each face are split at random independently of the other faces (the only split possible
  without rater ids, as in OMI). With the *k* crossed raters split in two halves per face, the two half
  means share the fixed sum of the biases, so their bias parts covary negatively:
  ``r_half = (s^2 - tau^2/k) / (s^2 + tau^2/k + 2 sigma_e^2/k)``, corrected as ``2 r / (1 + r)``
  (halves of k/2, even *k*).

All are population values. Sample split-half correlations are slightly biased downwards in small
samples: with 48 faces x 20 raters the mean over 200 replications was .679 for attractive against
``icc_ck`` = .690 (.640 against ``split_half_within`` = .655); at 200 faces and more the difference is
within Monte-Carlo error (tests/test_synthetic.py).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from psychoface.analyses.inference import spearman_brown
from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_bytes, atomic_write_json, atomic_write_text

#: Rating scale of the simulated raters (inclusive bounds; integer ratings, like OMI's 0-100 sliders).
SCALE = (0, 100)
_MIDPOINT = 50.0

#: Latent face parameters (standardised, N(0, 1)) and what a higher value looks like.
PARAMETERS = {
    "face_width": "wider face oval",
    "face_height": "taller face oval",
    "skin_tone": "lighter skin",
    "skin_smoothness": "smoother skin (fewer blotches and spots)",
    "eye_size": "larger eyes",
    "eye_spacing": "eyes further apart",
    "brow_height": "eyebrows higher above the eyes",
    "brow_tilt": "inner ends of the eyebrows raised (negative: lowered, a frown)",
    "mouth_width": "wider mouth",
    "mouth_curvature": "mouth corners up (smile; negative: down, frown)",
    "nose_length": "longer nose",
    "symmetry": "more symmetric (less left-right perturbation of eyes, brows, mouth, nose)",
    "hair_lightness": "lighter hair (a nuisance parameter: no attribute depends on it)",
}


@dataclass(frozen=True)
class AttributeModel:
    """How one attribute is generated: ``weights`` on the standardised parameters, the SD of the
    true scores (``true_sd``), of the rater biases (``rater_bias_sd``) and of the trial noise
    (``noise_sd``), all in rating-scale points (0-100)."""

    weights: Mapping[str, float]
    true_sd: float
    noise_sd: float
    rater_bias_sd: float = 5.0


#: The default attributes, from very reliable (happy) to much less so (attractive).
#: Weights follow the face-perception literature in direction: smiles read as happy and trustworthy
#: (Oosterhof & Todorov, 2008), lowered brows, wide faces and small eyes as dominant, symmetry and
#: smooth skin as attractive (Rhodes, 2006; Fink et al., 2006).
ATTRIBUTES: dict[str, AttributeModel] = {
    "happy": AttributeModel({"mouth_curvature": 0.95, "brow_height": 0.3}, true_sd=12.0, noise_sd=8.0),
    "trustworthy": AttributeModel(
        {"mouth_curvature": 0.6, "brow_tilt": 0.5, "eye_size": 0.4}, true_sd=8.0, noise_sd=12.0
    ),
    "dominant": AttributeModel(
        {"face_width": 0.6, "brow_height": -0.5, "eye_size": -0.4, "brow_tilt": -0.3},
        true_sd=7.0, noise_sd=13.0,
    ),
    "attractive": AttributeModel(
        {"symmetry": 0.6, "skin_smoothness": 0.6, "eye_size": 0.3}, true_sd=5.0, noise_sd=15.0
    ),
}

_PARAMETER_STREAM, _RATING_STREAM, _TEXTURE_STREAM, _NESTED_STREAM = 0, 1, 2, 3  # independent random streams
PER_RATER_PATTERN = "ratings/*_{attribute}.csv"
"""Where :func:`generate_study` writes per-rater files (``set1_happy.csv``, ...), as a ratings pattern."""


@dataclass
class SyntheticStudy:
    """A generated study: where its files are and the truth behind them.

    ``parameters`` (index ``stimulus``) are the latent parameters in ``face_parameters.csv``;
    ``true_scores`` (index ``stimulus``, one column per attribute) are the noise-free attribute scores
    on the 0-100 scale; ``reliability`` is :func:`true_reliability` for ``n_raters`` raters.
    """

    folder: Path
    images_dir: Path
    image_paths: list[Path]
    ratings_path: Path
    parameters_path: Path
    model_path: Path
    parameters: pd.DataFrame
    true_scores: pd.DataFrame
    reliability: pd.DataFrame
    attributes: list[str]
    n_raters: int
    seed: int
    scale: tuple[int, int] = field(default=SCALE)
    ratings_keys: dict = field(default_factory=lambda: {"ratings": "ratings.csv"})
    """The psychoface.toml keys that name the ratings (a pattern and pooling keys for per-rater files)."""

    @property
    def stimuli(self) -> list[str]:
        """Stimulus ids, in order (``face_001``, ...), equal to the image file stems."""
        return list(self.parameters.index)

    @property
    def landmarks_path(self) -> Path:
        """``landmarks.csv``: the exact 68 dlib-order landmarks of every face (:func:`face_landmarks`)."""
        return self.folder / LANDMARKS_FILE


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise PsychofaceError(f"{name}={value!r} is not valid: give an integer of at least {minimum}")
    return int(value)


def _attribute_models(attributes) -> dict[str, AttributeModel]:
    """Resolve ``attributes``: None (the defaults), names of built-in attributes, or a mapping of
    name -> :class:`AttributeModel`."""
    if attributes is None:
        return dict(ATTRIBUTES)
    if isinstance(attributes, Mapping):
        models = dict(attributes)
    else:
        if isinstance(attributes, str):
            attributes = [attributes]
        models = {}
        for name in attributes:
            if name not in ATTRIBUTES:
                raise PsychofaceError(
                    f"unknown synthetic attribute {name!r}: use one of {', '.join(ATTRIBUTES)}, "
                    "or pass a mapping of name -> AttributeModel"
                )
            models[name] = ATTRIBUTES[name]
    if not models:
        raise PsychofaceError("no attributes given: name at least one, e.g. 'happy'")
    for name, model in models.items():
        if not isinstance(model, AttributeModel):
            raise PsychofaceError(f"attribute {name!r}: give an AttributeModel, not {type(model).__name__}")
        unknown = sorted(set(model.weights) - set(PARAMETERS))
        if unknown:
            raise PsychofaceError(
                f"attribute {name!r}: unknown parameter(s) {', '.join(unknown)}; use {', '.join(PARAMETERS)}"
            )
        if not any(w != 0 for w in model.weights.values()):
            raise PsychofaceError(f"attribute {name!r}: all weights are zero; give at least one non-zero weight")
        if model.true_sd <= 0 or model.noise_sd < 0 or model.rater_bias_sd < 0:
            raise PsychofaceError(
                f"attribute {name!r}: true_sd must be > 0 and noise_sd, rater_bias_sd >= 0"
            )
    return models


def stimulus_ids(n_faces: int) -> list[str]:
    """``face_001`` ... (zero-padded to at least 3 digits)."""
    width = max(3, len(str(n_faces)))
    return [f"face_{i:0{width}d}" for i in range(1, n_faces + 1)]


def face_parameters(n_faces: int, *, seed: int = 0) -> pd.DataFrame:
    """Draw the latent parameters of ``n_faces`` faces: independent N(0, 1), rounded to 6 decimals.

    Returns a DataFrame indexed by ``stimulus`` with one column per entry of :data:`PARAMETERS`.
    Face *i* gets the same parameters whatever ``n_faces`` is (rows are drawn in order).
    """
    n_faces = _check_int("n_faces", n_faces, 2)
    seed = _check_int("seed", seed, 0)
    rng = np.random.default_rng([seed, _PARAMETER_STREAM])
    z = np.round(rng.standard_normal((n_faces, len(PARAMETERS))), 6)
    df = pd.DataFrame(z, columns=list(PARAMETERS), index=pd.Index(stimulus_ids(n_faces), name="stimulus"))
    df.attrs["psychoface"] = {"analysis": "synthetic face parameters", "seed": seed, "n_faces": n_faces}
    return df


def true_scores(parameters: pd.DataFrame, attributes=None) -> pd.DataFrame:
    """Noise-free attribute scores: ``50 + s_a * (w_a . z) / ||w_a||`` for each attribute *a*.

    Index ``stimulus``, one float column per attribute, on the 0-100 rating scale (population mean 50,
    SD ``true_sd``).
    """
    models = _attribute_models(attributes)
    missing = [p for p in PARAMETERS if p not in parameters.columns]
    if missing:
        raise PsychofaceError(f"face parameters lack column(s) {', '.join(missing)}; use face_parameters()")
    out = {}
    for name, model in models.items():
        w = np.array([model.weights.get(p, 0.0) for p in PARAMETERS], dtype=float)
        out[name] = _MIDPOINT + model.true_sd * (parameters[list(PARAMETERS)].to_numpy(float) @ w) / np.linalg.norm(w)
    return pd.DataFrame(out, index=parameters.index)


def simulate_ratings(parameters: pd.DataFrame, *, n_raters: int = 20, attributes=None, seed: int = 0) -> pd.DataFrame:
    """Trial-level ratings from the known model: every rater rates every face on every attribute.

    ``rating = clip(round(true + bias[rater, attribute] + noise), 0, 100)``, integers on 0-100.
    Returns a long DataFrame with columns ``stimulus``, ``attribute``, ``rating``, ``rater``
    (``r01`` ...), ordered by rater, then stimulus, then attribute. Deterministic given ``seed``.
    """
    n_raters = _check_int("n_raters", n_raters, 2)
    seed = _check_int("seed", seed, 0)
    models = _attribute_models(attributes)
    truth = true_scores(parameters, models)
    n_faces, n_attr = truth.shape
    rng = np.random.default_rng([seed, _RATING_STREAM])
    tau = np.array([m.rater_bias_sd for m in models.values()])
    sigma = np.array([m.noise_sd for m in models.values()])
    bias = rng.standard_normal((n_raters, 1, n_attr)) * tau
    noise = rng.standard_normal((n_raters, n_faces, n_attr)) * sigma
    ratings = np.clip(np.rint(truth.to_numpy()[None] + bias + noise), *SCALE)
    width = max(2, len(str(n_raters)))
    raters = [f"r{j:0{width}d}" for j in range(1, n_raters + 1)]
    trials = pd.DataFrame({
        "stimulus": np.tile(np.repeat(truth.index.to_numpy(dtype=object), n_attr), n_raters),
        "attribute": np.tile(np.array(list(models), dtype=object), n_raters * n_faces),
        "rating": ratings.reshape(-1),
        "rater": np.repeat(np.array(raters, dtype=object), n_faces * n_attr),
    })
    trials.attrs["psychoface"] = {
        "analysis": "synthetic ratings", "seed": seed, "n_raters": n_raters, "scale": list(SCALE),
    }
    return trials


def true_reliability(attributes=None, *, n_raters: int = 20) -> pd.DataFrame:
    """Population reliabilities of the model's ratings, one row per attribute (module docstring).

    Columns: ``attribute``, ``true_sd``, ``rater_bias_sd``, ``noise_sd``, ``k`` (= ``n_raters``),
    ``icc_c1``, ``icc_ck`` (Spearman-Brown of ``icc_c1`` to k), ``icc_a1``, ``icc_ak`` and
    ``split_half_within``.
    """
    k = _check_int("n_raters", n_raters, 2)
    rows = []
    for name, m in _attribute_models(attributes).items():
        s2, t2, e2 = m.true_sd**2, m.rater_bias_sd**2, m.noise_sd**2 + 1.0 / 12.0
        icc_c1 = s2 / (s2 + e2)
        r_half = (s2 - t2 / k) / (s2 + t2 / k + 2.0 * e2 / k)
        rows.append({
            "attribute": name, "true_sd": m.true_sd, "rater_bias_sd": m.rater_bias_sd,
            "noise_sd": m.noise_sd, "k": k,
            "icc_c1": icc_c1, "icc_ck": float(spearman_brown(icc_c1, k)),
            "icc_a1": s2 / (s2 + t2 + e2), "icc_ak": s2 / (s2 + (t2 + e2) / k),
            "split_half_within": float(spearman_brown(r_half, 2.0)),
        })
    df = pd.DataFrame(rows)
    df.attrs["psychoface"] = {"analysis": "synthetic true reliability", "n_raters": k, "rounding_variance": 1 / 12}
    return df


# --------------------------------------------------------------------------------------- drawing

_SUPERSAMPLE = 3


def _lin(z: float, center: float, step: float) -> float:
    """``center + step * z`` with z clipped to [-3, 3]."""
    return center + step * float(np.clip(z, -3.0, 3.0))


def _unit(z: float) -> float:
    """Map z in [-3, 3] linearly onto [0, 1]."""
    return float(np.clip(0.5 + z / 6.0, 0.0, 1.0))


def _mix(c0, c1, t: float) -> tuple[int, int, int]:
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(c0, c1, strict=True))


def _noise_image(rng: np.random.Generator, grid: int, size: int, base, amplitude: float, chroma: float) -> Image.Image:
    """Smooth colour noise around ``base``: a ``grid`` x ``grid`` random field (luminance SD
    ``amplitude``, per-channel SD ``chroma``) upsampled bicubically to the output size, then to the
    drawing size by pixel replication (smoothed again by the final Lanczos downsampling)."""
    field_ = rng.standard_normal((grid, grid, 1)) * amplitude + rng.standard_normal((grid, grid, 3)) * chroma
    arr = np.clip(np.asarray(base, dtype=float) + field_, 0, 255).astype(np.uint8)
    small = Image.fromarray(arr, "RGB").resize((size, size), Image.Resampling.BICUBIC)
    return small.resize((size * _SUPERSAMPLE, size * _SUPERSAMPLE), Image.Resampling.NEAREST)


def _thick_curve(draw: ImageDraw.ImageDraw, points, width: float, fill) -> None:
    draw.line(points, fill=fill, width=max(1, int(round(width))), joint="curve")
    r = width / 2.0
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _face_inputs(parameters: Mapping[str, float], image_size: int, seed) -> tuple[int, dict, list[int]]:
    """The checked image size, the parameters as floats and the seed's entropy (an int or a tuple of ints)."""
    size = _check_int("image_size", image_size, 32)
    missing = [name for name in PARAMETERS if name not in parameters]
    if missing:
        raise PsychofaceError(f"face parameters lack {', '.join(missing)}; give every entry of PARAMETERS")
    p = {name: float(parameters[name]) for name in PARAMETERS}
    entropy = [_check_int("seed", s, 0) for s in (seed if isinstance(seed, (tuple, list)) else (seed,))]
    return size, p, entropy


@dataclass(frozen=True)
class _Geometry:
    """Where :func:`render_face` draws each part, in image units (0-1), and :func:`face_landmarks` finds it."""

    a: float            # half width of the face oval
    b: float            # half height
    asym: float         # 0 (perfectly symmetric) .. 1
    eye_y: float
    tilt: float         # inner brow end raised by this much
    eyes: tuple         # per side (-1, +1): (side, x, y, x radius, y radius, brow y)
    nose_top: float
    nose_x: float
    tip: float
    mouth_x: float
    mouth_y: float
    mouth_half_width: float
    curve: float        # mouth corners raised by this much


def _geometry(p: dict, sign: float, cx: float = 0.5, cy: float = 0.5) -> _Geometry:
    """The face's parts from its parameters; ``sign`` is the side that asymmetry perturbs. Features are kept
    inside the oval for extreme combinations."""
    a, b = _lin(p["face_width"], 0.235, 0.025), _lin(p["face_height"], 0.30, 0.022)
    asym = 1.0 - _unit(p["symmetry"])
    eye_y = cy - 0.045
    rx = _lin(p["eye_size"], 0.040, 0.0065)
    dx = min(_lin(p["eye_spacing"], 0.085, 0.01), 0.85 * a - 1.3 * rx)
    brow_gap = _lin(p["brow_height"], 0.05, 0.01)
    eyes = []
    for side in (-1, 1):
        perturbed = side == sign
        ey = eye_y - (0.03 * asym if perturbed else 0.0)
        erx = rx * (1.0 + (0.3 * asym if perturbed else 0.0))
        ery = erx * 0.62
        by = ey - ery - brow_gap - (0.02 * asym if perturbed else 0.0)
        eyes.append((side, cx + side * dx, ey, erx, ery, by))
    nose_top = eye_y + 0.01
    tip = nose_top + _lin(p["nose_length"], 0.075, 0.012)
    mouth_y = max(cy + 0.15, tip + 0.06)
    chord = a * math.sqrt(max(0.0, 1.0 - ((mouth_y - cy) / b) ** 2))  # half width of the face there
    return _Geometry(a, b, asym, eye_y, _lin(p["brow_tilt"], 0.0, 0.009), tuple(eyes), nose_top,
                     cx + sign * 0.012 * asym, tip, cx + sign * 0.015 * asym, mouth_y,
                     min(_lin(p["mouth_width"], 0.065, 0.011), 0.75 * chord), _lin(p["mouth_curvature"], 0.0, 0.011))


def render_face(parameters: Mapping[str, float], *, image_size: int = 224, seed=0) -> Image.Image:
    """Draw one cartoon face (RGB, ``image_size`` square) from its latent parameters.

    Shapes are drawn with PIL at 3x the size and downsampled with a Lanczos filter (anti-aliasing).
    ``seed`` (an int or a tuple of ints) fixes the random textures that no parameter controls:
    background, skin mottling positions, iris and shirt colours.
    """
    size, p, entropy = _face_inputs(parameters, image_size, seed)
    rng = np.random.default_rng(entropy + [_TEXTURE_STREAM])
    big = size * _SUPERSAMPLE

    def px(u: float) -> float:
        return u * big

    # background: a pastel colour with smooth blotches
    bg_base = _mix((200, 215, 235), (235, 220, 200), rng.uniform())
    img = _noise_image(rng, 6, size, bg_base, 12.0, 5.0)
    draw = ImageDraw.Draw(img)

    cx, cy = 0.5, 0.5
    skin = _mix((92, 58, 40), (248, 214, 186), _unit(p["skin_tone"]))
    skin_dark = _mix(skin, (60, 30, 20), 0.35)
    hair = _mix((28, 20, 16), (225, 190, 120), _unit(p["hair_lightness"]))
    roughness = 1.0 - _unit(p["skin_smoothness"])
    sign = 1.0 if rng.uniform() < 0.5 else -1.0  # which side is perturbed (_perturbed_side replays this)
    g = _geometry(p, sign, cx, cy)
    a, b, asym, tilt, eyes = g.a, g.b, g.asym, g.tilt, g.eyes

    # shoulders and neck
    shirt = tuple(int(c) for c in rng.integers(40, 200, size=3))
    draw.ellipse((px(cx - 0.42), px(0.86), px(cx + 0.42), px(1.35)), fill=shirt)
    draw.rectangle((px(cx - 0.09), px(cy + b * 0.6), px(cx + 0.09), px(0.93)), fill=skin_dark)
    # hair behind the head, ears
    draw.ellipse((px(cx - a * 1.1), px(cy - b * 1.12), px(cx + a * 1.1), px(cy + b * 0.45)), fill=hair)
    for side in (-1, 1):
        ex = cx + side * a * 0.98
        draw.ellipse((px(ex - 0.035), px(cy - 0.05), px(ex + 0.035), px(cy + 0.06)), fill=skin_dark)

    # the face: a mottled skin texture composited through an oval mask, then spots
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).ellipse((px(cx - a), px(cy - b), px(cx + a), px(cy + b)), fill=255)
    skin_img = _noise_image(rng, 12, size, skin, 2.0 + 14.0 * roughness, 1.0 + 2.0 * roughness)
    img.paste(skin_img, (0, 0), mask)
    draw = ImageDraw.Draw(img)
    for _ in range(int(round(10 * roughness**1.5))):
        u, v = rng.uniform(-0.75, 0.75, size=2)
        sx, sy, r = cx + u * a, cy + v * b, px(0.006 + 0.006 * rng.uniform())
        draw.ellipse((px(sx) - r, px(sy) - r, px(sx) + r, px(sy) + r), fill=_mix(skin, (120, 50, 40), 0.45))
    # fringe: the top of the head covered by hair, its lower edge above the brows
    top = cy - b * 1.03
    fringe = max(top + 0.03, min(cy - 0.615 * b, min(e[5] for e in eyes) - abs(tilt) - 0.03))
    draw.chord((px(cx - a * 1.02), px(top), px(cx + a * 1.02), px(2 * fringe - top)), 180, 360, fill=hair)

    iris = tuple(int(c) for c in _mix((70, 45, 25), (60, 110, 160), rng.uniform()))
    for side, ex, ey, erx, ery, by in eyes:
        draw.ellipse((px(ex - erx), px(ey - ery), px(ex + erx), px(ey + ery)), fill=(250, 250, 248),
                     outline=(40, 30, 30), width=max(1, big // 180))
        ir = ery * 0.95
        draw.ellipse((px(ex - ir), px(ey - ir), px(ex + ir), px(ey + ir)), fill=iris)
        pr = ir * 0.45
        draw.ellipse((px(ex - pr), px(ey - pr), px(ex + pr), px(ey + pr)), fill=(10, 10, 10))
        hx, hy, hr = ex + pr * 0.3, ey - pr * 0.9, ir * 0.25
        draw.ellipse((px(hx), px(hy), px(hx + 2 * hr), px(hy + 2 * hr)), fill=(255, 255, 255))
        # brow: from the outer to the inner end
        outer = (px(ex + side * erx * 1.15), px(by + 0.004))
        inner = (px(ex - side * erx * 1.05), px(by - tilt))
        middle = ((outer[0] + inner[0]) / 2, (outer[1] + inner[1]) / 2 - px(0.008))
        _thick_curve(draw, [outer, middle, inner], px(0.014), _mix(hair, (0, 0, 0), 0.45))

    # nose
    nose_top, nose_x, tip = g.nose_top, g.nose_x, g.tip
    _thick_curve(draw, [(px(nose_x), px(nose_top)), (px(nose_x + 0.01), px(tip - 0.01)),
                        (px(nose_x + 0.006), px(tip)), (px(nose_x - 0.018), px(tip))],
                 px(0.007), skin_dark)

    # mouth: a parabola whose corners rise with mouth_curvature, tilted by asymmetry
    mouth_x, mouth_y, mw, curve = g.mouth_x, g.mouth_y, g.mouth_half_width, g.curve
    xs = np.linspace(-1.0, 1.0, 25)
    pts = [(px(mouth_x + t * mw), px(mouth_y - curve * (t * t - 1.0 / 3.0) + sign * 0.012 * asym * t)) for t in xs]
    _thick_curve(draw, pts, px(0.013), (150, 45, 50))

    return img.resize((size, size), Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------------------- landmarks

LANDMARKS_FILE = "landmarks.csv"
"""The demo study's landmark file (long layout: stimulus, point, x, y)."""


def _perturbed_side(entropy: list[int]) -> float:
    """Which side :func:`render_face` perturbs (-1: image left, +1: image right): the same draws from the
    texture stream as the drawing makes before it picks the side (background colour, background noise)."""
    rng = np.random.default_rng(entropy + [_TEXTURE_STREAM])
    rng.uniform()
    rng.standard_normal((6, 6, 1))
    rng.standard_normal((6, 6, 3))
    return 1.0 if rng.uniform() < 0.5 else -1.0


def face_landmarks(parameters: Mapping[str, float], *, image_size: int = 224, seed=0) -> np.ndarray:
    """The exact 68 landmarks of the face :func:`render_face` draws, in dlib / iBUG 300-W order.

    Returns a (68, 2) array of pixel coordinates (x right, y down; the centre of pixel *i* is at *i*, as in
    dlib), computed from the same geometry as the drawing: jaw 0-16 on the lower half of the face oval
    (from the image-left end of its horizontal axis through the chin), brows 17-26 on the centre lines of
    the drawn brows (outer to inner, then inner to outer), nose 27-30 on the drawn bridge down to the tip
    and 31-35 on the nostril line, eyes 36-47 on the eye ellipses (corners and the lids at 60 and 120
    degrees), lips 48-67 on the drawn mouth curve (its corners, its upper and lower edges, and its centre
    line for the inner lips, which meet in a closed mouth).
    """
    size, p, entropy = _face_inputs(parameters, image_size, seed)
    sign = _perturbed_side(entropy)
    cx, cy = 0.5, 0.5
    g = _geometry(p, sign, cx, cy)
    a, b, asym = g.a, g.b, g.asym
    pts = np.zeros((68, 2))
    t = np.pi - np.arange(17) * np.pi / 16
    pts[0:17] = np.column_stack([cx + a * np.cos(t), cy + b * np.sin(t)])

    tilt = g.tilt
    angles = np.deg2rad([180.0, 120.0, 60.0, 0.0, -60.0, -120.0])
    for (side, ex, ey, erx, ery, by), brow_slot, eye_slot in zip(g.eyes, (17, 22), (36, 42)):
        pts[eye_slot:eye_slot + 6] = np.column_stack([ex + erx * np.cos(angles), ey - ery * np.sin(angles)])
        outer = np.array([ex + side * erx * 1.15, by + 0.004])
        inner = np.array([ex - side * erx * 1.05, by - tilt])
        middle = (outer + inner) / 2 - np.array([0.0, 0.008])
        brow = [outer, (outer + middle) / 2, middle, (middle + inner) / 2, inner]
        pts[brow_slot:brow_slot + 5] = brow if side == -1 else brow[::-1]

    nose_top, nose_x, tip = g.nose_top, g.nose_x, g.tip
    top, bend, end = np.array([nose_x, nose_top]), np.array([nose_x + 0.01, tip - 0.01]), np.array([nose_x + 0.006, tip])
    pts[27:31] = [top, (top + bend) / 2, bend, end]
    pts[31:36] = np.column_stack([nose_x + np.linspace(-0.018, 0.006, 5), np.full(5, tip)])

    mouth_x, mouth_y, mw, curve = g.mouth_x, g.mouth_y, g.mouth_half_width, g.curve
    h = 0.013 / 2  # half the drawn line width: the lip edges

    def lip(s: float, offset: float = 0.0) -> tuple[float, float]:
        return mouth_x + s * mw, mouth_y - curve * (s * s - 1.0 / 3.0) + sign * 0.012 * asym * s + offset

    third = 1.0 / 3.0
    upper = [lip(s, -h) for s in (-2 * third, -third, 0.0, third, 2 * third)]
    lower = [lip(s, h) for s in (2 * third, third, 0.0, -third, -2 * third)]
    left, right = lip(-1.0), lip(1.0)
    pts[48:60] = [(left[0] - h, left[1]), *upper, (right[0] + h, right[1]), *lower]
    pts[60:68] = [left, lip(-third), lip(0.0), lip(third), right, lip(third), lip(0.0), lip(-third)]
    return pts * size - 0.5


def landmark_table(parameters: pd.DataFrame, *, image_size: int = 224, seed: int = 0) -> pd.DataFrame:
    """The exact landmarks of every face of a generated study (face *i* drawn with texture seed
    ``(seed, i)``, as :func:`generate_study` draws it): long layout, columns stimulus, point (0-67), x, y."""
    coords = np.stack([face_landmarks(row, image_size=image_size, seed=(seed, i))
                       for i, (_, row) in enumerate(parameters.iterrows())])
    n, k = coords.shape[:2]
    return pd.DataFrame({
        "stimulus": np.repeat(parameters.index.to_numpy(dtype=object), k),
        "point": np.tile(np.arange(k), n),
        "x": coords[:, :, 0].ravel(), "y": coords[:, :, 1].ravel(),
    })


def true_shape_correlations(attributes=None, *, n_raters: int = 20, n_faces: int = 20_000, image_size: int = 224,
                            seed: int = 12345) -> pd.DataFrame:
    """Population correlations of two shape scores with each attribute, by Monte Carlo over ``n_faces``
    faces of the generator: the demo's shape truth.

    Scores (from the exact landmarks, :func:`face_landmarks`): ``asymmetry``, the Kendall shape distance
    between a face and its relabelled mirror image (driven by the ``symmetry`` parameter, on which
    ``attractive`` depends), and ``distinctiveness``, the distance from the Fréchet mean shape of the
    ``n_faces`` faces. Columns: score, attribute, r_true (with the true scores) and r_ratings (with the means
    of ``n_raters`` raters' ratings: r_true times the square root of ICC(C,k), the attenuation by the
    raters' noise; rounding and clipping ignored).
    """
    from psychoface.analyses.shape import kendall
    from psychoface.analyses.shape.symmetry import components
    from psychoface.data.landmarks import DLIB68_MIRROR

    models = _attribute_models(attributes)
    params = face_parameters(n_faces, seed=seed)
    coords = np.stack([face_landmarks(row, image_size=image_size, seed=(seed, i))
                       for i, (_, row) in enumerate(params.iterrows())])
    P = kendall.preshapes(coords)
    Z = kendall.to_complex(P)
    mean, _, _ = kendall.batched_means(Z, np.full((1, n_faces), 1.0 / n_faces), Z[0])
    scores = {"asymmetry": components(P, DLIB68_MIRROR)[0],
              "distinctiveness": np.arccos(np.clip(np.abs(Z @ np.conj(mean[0])), 0.0, 1.0))}
    truth = true_scores(params, models)
    reliability = true_reliability(models, n_raters=n_raters).set_index("attribute")["icc_ck"]
    rows = []
    for score, values in scores.items():
        for name in models:
            r = float(np.corrcoef(values, truth[name])[0, 1])
            rows.append({"score": score, "attribute": name, "r_true": r,
                         "r_ratings": r * math.sqrt(reliability[name])})
    df = pd.DataFrame(rows)
    df.attrs["psychoface"] = {"analysis": "synthetic shape truth", "n_faces": n_faces, "seed": seed,
                              "n_raters": n_raters}
    return df


# --------------------------------------------------------------------------------------- the study


def generate_study(
    folder,
    *,
    n_faces: int = 48,
    n_raters: int = 20,
    image_size: int = 224,
    seed: int = 0,
    attributes=None,
    overwrite: bool = False,
    layout: str = "long",
    rater_blocks: int = 1,
    block_attributes=None,
) -> SyntheticStudy:
    """Write a complete synthetic face study into ``folder`` and return its truth.

    ``layout="per_rater"`` writes the ratings as labs export them instead of ``ratings.csv``: faces split
    into ``rater_blocks`` sets, each rated by its own ``n_raters`` raters, one file per set and attribute
    (:func:`simulate_nested_ratings`, :func:`write_per_rater_files`); ``block_attributes`` names the sets
    (1, 2, ...) that rate an attribute (default: all sets rate every attribute).

    Files: ``images/face_001.png`` ... (RGB PNG, ``image_size`` square), ``ratings.csv`` (long,
    trial-level: ``stimulus, attribute, rating, rater``; integer ratings on a 0-100 scale; every
    rater rates every face on every attribute), ``face_parameters.csv`` (the latent parameters),
    ``landmarks.csv`` (each face's exact 68 landmarks in dlib order, :func:`face_landmarks`) and
    ``synthetic_model.json`` (weights, SDs, true reliabilities, seed). Byte-identical for the same
    arguments. An existing study in ``folder`` is replaced only with ``overwrite=True`` (then stale
    ``face_*.png`` files are removed); other files are never touched.
    """
    folder = Path(folder)
    n_faces = _check_int("n_faces", n_faces, 2)
    image_size = _check_int("image_size", image_size, 32)
    models = _attribute_models(attributes)
    images_dir = folder / "images"
    ratings_path, parameters_path = folder / "ratings.csv", folder / "face_parameters.csv"
    model_path = folder / "synthetic_model.json"
    if folder.exists() and not folder.is_dir():
        raise PsychofaceError(f"{folder}: exists and is not a folder; choose another path")
    existing = [p for p in (ratings_path, parameters_path, model_path) if p.exists()]
    existing += sorted(images_dir.glob("face_*.png")) if images_dir.is_dir() else []
    existing += sorted((folder / "ratings").glob("set*_*.csv"))
    if existing and not overwrite:
        raise PsychofaceError(
            f"{folder}: already holds a study ({existing[0].name}); choose an empty folder or pass overwrite"
        )

    params = face_parameters(n_faces, seed=seed)
    truth = true_scores(params, models)
    if layout not in ("long", "per_rater"):
        raise PsychofaceError(f"layout={layout!r}: use 'long' or 'per_rater'")
    if layout == "per_rater":
        trials = simulate_nested_ratings(params, n_blocks=rater_blocks, n_raters=n_raters, attributes=models,
                                         block_attributes=block_attributes, seed=seed)
    else:
        trials = simulate_ratings(params, n_raters=n_raters, attributes=models, seed=seed)
    reliability = true_reliability(models, n_raters=n_raters)

    images_dir.mkdir(parents=True, exist_ok=True)
    image_paths = []
    for i, (stimulus, row) in enumerate(params.iterrows()):
        buf = io.BytesIO()
        render_face(row, image_size=image_size, seed=(seed, i)).save(buf, format="PNG", compress_level=1)
        path = images_dir / f"{stimulus}.png"
        atomic_write_bytes(path, buf.getvalue())
        image_paths.append(path)
    keep = set(image_paths)
    for stale in images_dir.glob("face_*.png"):
        if stale not in keep:
            stale.unlink()
    atomic_write_text(folder / LANDMARKS_FILE, landmark_table(params, image_size=image_size, seed=seed)
                      .to_csv(index=False, float_format="%.4f", lineterminator="\n"))

    if layout == "per_rater":
        write_per_rater_files(folder, trials)
        ratings_path = folder / PER_RATER_PATTERN
    else:
        atomic_write_text(ratings_path, trials.to_csv(index=False, float_format="%.0f", lineterminator="\n"))
    atomic_write_text(parameters_path, params.to_csv(float_format="%.6f", lineterminator="\n"))
    atomic_write_json(model_path, {
        "generator": "psychoface.data.synthetic",
        "seed": seed, "n_faces": n_faces, "n_raters": n_raters, "image_size": image_size,
        "scale": list(SCALE), "layout": layout, "rater_blocks": rater_blocks if layout == "per_rater" else 1,
        "model": "rating = clip(round(50 + true_sd * (w . z) / ||w|| + rater bias + noise), 0, 100)",
        "parameters": PARAMETERS,
        "attributes": {
            name: {"weights": dict(m.weights), "true_sd": m.true_sd, "rater_bias_sd": m.rater_bias_sd,
                   "noise_sd": m.noise_sd}
            for name, m in models.items()
        },
        "true_reliability": reliability.set_index("attribute").drop(columns=["true_sd", "rater_bias_sd", "noise_sd"])
        .round(6).to_dict(orient="index"),
    })
    return SyntheticStudy(
        folder=folder, images_dir=images_dir, image_paths=image_paths, ratings_path=ratings_path,
        parameters_path=parameters_path, model_path=model_path, parameters=params, true_scores=truth,
        reliability=reliability, attributes=list(models), n_raters=n_raters, seed=seed,
        ratings_keys=ratings_keys_of(folder),
    )


# --------------------------------------------------------------------------------------- per-rater files


def simulate_nested_ratings(parameters: pd.DataFrame, *, n_blocks: int = 2, n_raters: int = 20, attributes=None,
                            block_attributes=None, seed: int = 0) -> pd.DataFrame:
    """Ratings from the known model with raters nested in sets of faces.

    The faces are split in order into ``n_blocks`` sets of (nearly) equal size; set *b* is rated by its
    own ``n_raters`` raters (``set<b>_r01`` ...), every one of them rating every face of the set on every
    attribute the set rates (``block_attributes``: attribute -> sets, 1-based; default all). The model is
    :func:`simulate_ratings`' (rater bias per rater and attribute, trial noise, rounding, clipping), so
    :func:`true_reliability` for ``n_raters`` holds within each set. Each rater also gets a ``rater_sex``
    (female/male, equally likely) and a ``rater_age`` (18-70). Returns the long table with columns
    ``stimulus, attribute, rating, rater, set, rater_sex, rater_age``. Deterministic given ``seed``.
    """
    n_blocks = _check_int("rater_blocks", n_blocks, 1)
    n_raters = _check_int("n_raters", n_raters, 2)
    seed = _check_int("seed", seed, 0)
    models = _attribute_models(attributes)
    truth = true_scores(parameters, models)
    if n_blocks > len(truth) // 3:
        raise PsychofaceError(f"rater_blocks={n_blocks}: give at most {len(truth) // 3} (3 faces per set)")
    rated = {a: set(range(1, n_blocks + 1)) for a in models}
    for attribute, blocks in dict(block_attributes or {}).items():
        if attribute not in models:
            raise PsychofaceError(f"block_attributes: unknown attribute {attribute!r}; use {', '.join(models)}")
        blocks = {blocks} if isinstance(blocks, int) else set(blocks)
        if not blocks or not blocks <= rated[attribute]:
            raise PsychofaceError(f"block_attributes[{attribute!r}] = {sorted(blocks)}: name sets 1 to {n_blocks}")
        rated[attribute] = blocks
    rng = np.random.default_rng([seed, _NESTED_STREAM])
    width = max(2, len(str(n_raters)))
    parts = []
    for b, faces in enumerate(np.array_split(np.arange(len(truth)), n_blocks), start=1):
        names = [a for a in models if b in rated[a]]
        raters = np.array([f"set{b}_r{j:0{width}d}" for j in range(1, n_raters + 1)], dtype=object)
        sex = np.where(rng.random(n_raters) < 0.5, "female", "male").astype(object)
        age = rng.integers(18, 71, n_raters)
        for name in names:
            m = models[name]
            bias = rng.standard_normal(n_raters) * m.rater_bias_sd
            noise = rng.standard_normal((n_raters, faces.size)) * m.noise_sd
            values = np.clip(np.rint(truth[name].to_numpy()[faces][None] + bias[:, None] + noise), *SCALE)
            parts.append(pd.DataFrame({
                "stimulus": np.tile(truth.index.to_numpy(dtype=object)[faces], n_raters),
                "attribute": name, "rating": values.reshape(-1), "rater": np.repeat(raters, faces.size),
                "set": b, "rater_sex": np.repeat(sex, faces.size), "rater_age": np.repeat(age, faces.size),
            }))
    trials = pd.concat(parts, ignore_index=True)
    trials.attrs["psychoface"] = {"analysis": "synthetic nested ratings", "seed": seed, "n_blocks": n_blocks,
                                  "n_raters": n_raters, "scale": list(SCALE)}
    return trials


def ratings_keys_of(folder) -> dict:
    """The psychoface.toml keys naming the ratings of the study generated in ``folder`` (from its
    ``synthetic_model.json``): ``ratings.csv``, or the per-rater pattern with its pooling keys."""
    import json

    model = json.loads((Path(folder) / "synthetic_model.json").read_text(encoding="utf-8"))
    if model.get("layout") == "per_rater":
        return {"ratings": PER_RATER_PATTERN, "pool_files": True, "same_raters": True}
    return {"ratings": "ratings.csv"}


def write_per_rater_files(folder, trials: pd.DataFrame) -> list[Path]:
    """Write :func:`simulate_nested_ratings`' table as per-rater files ``ratings/set<b>_<attribute>.csv``: one
    row per rater (``rater, rater_sex, rater_age``), one column per face of the set. Stale ``set*_*.csv``
    files in ``ratings/`` are removed."""
    out = Path(folder) / "ratings"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (b, attribute), part in trials.groupby(["set", "attribute"], sort=False):
        wide = part.pivot(index="rater", columns="stimulus", values="rating")
        wide = wide.reindex(index=pd.unique(part["rater"]), columns=pd.unique(part["stimulus"]))
        info = part.groupby("rater", sort=False)[["rater_sex", "rater_age"]].first().reindex(wide.index)
        table = pd.concat([info, wide], axis=1).rename_axis("rater").reset_index()
        path = out / f"set{b}_{attribute}.csv"
        atomic_write_text(path, table.to_csv(index=False, float_format="%.0f", lineterminator="\n"))
        written.append(path)
    for stale in out.glob("set*_*.csv"):
        if stale not in written:
            stale.unlink()
    return written


# -- known geometry (psychoface geometry's truth in the demo) ----------------------------------------------


def true_attribute_angles(attributes=None) -> pd.DataFrame:
    """The generator's attribute space: angles (radians) between the attributes' weight vectors.

    With independent standard-normal parameters the population correlation of two attributes' true
    scores is the cosine of their weight vectors, so ``arccos`` of it is the angle the rating vectors of
    infinitely many faces would make (what ``psychoface geometry`` estimates from the mean ratings).
    """
    models = _attribute_models(attributes)
    W = np.array([[m.weights.get(p, 0.0) for p in PARAMETERS] for m in models.values()], dtype=float)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    angles = np.arccos(np.clip(W @ W.T, -1.0, 1.0))
    np.fill_diagonal(angles, 0.0)
    return pd.DataFrame(angles, index=list(models), columns=list(models))


def parameter_distinctiveness(parameters: pd.DataFrame) -> pd.Series:
    """Each face's distance from the average face in the generator's parameter space, ``||z||``.

    The parameters are standardised with population mean 0, so this is Valentine's (1991) distinctiveness
    in the space the faces were drawn from (``hair_lightness``, the nuisance parameter, included: it is
    drawn like the others).
    """
    z = parameters[list(PARAMETERS)].to_numpy(float)
    return pd.Series(np.linalg.norm(z, axis=1), index=parameters.index, name="parameter distinctiveness")
