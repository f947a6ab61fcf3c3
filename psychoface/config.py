"""The study file ``psychoface.toml``.

A study folder holds one ``psychoface.toml`` naming the images, the ratings, the model and the feature
store, so that ``psychoface rsa --layer conv5`` needs no other argument. Paths in the file are relative to
the file's folder; command-line flags override any key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from psychoface.errors import PsychofaceError

CONFIG_NAME = "psychoface.toml"

TEMPLATE = '''\
# psychoface study file. Every psychoface command run in this folder reads it, and every
# command-line flag overrides it (e.g. `psychoface rsa --layer conv5 --seed 1`).
# Paths are relative to this file.

# Face images: a folder, searched recursively (JPEG, PNG, BMP, TIFF, WebP; any colour mode;
# EXIF orientation is applied). The stimulus id of an image is its file name without extension.
images = "{images}"

# Ratings: CSV, TSV or XLSX, in one of two layouts:
#   wide: one row per stimulus, an id column and one column of mean ratings per attribute;
#   long: one row per rating, columns stimulus, attribute, rating and optionally rater.
# Reliability and noise ceilings need the long (trial-level) layout.
ratings = "{ratings}"

# Optional: the ratings column that holds stimulus ids (detected when left out), or a column of
# image paths relative to `images` (instead of matching ids to file names).
# id_column = "stimulus"
# path_column = "file"
# Optional, long layout only: keep the rating rows for which this condition holds (pandas query
# syntax on the file's columns); mean ratings, reliability and noise ceilings use those rows only.
# trials_where = "rating_type != 'repeat'"

# Optional: facial landmarks for the shape analyses: a CSV (long: stimulus, point, x, y; or wide:
# stimulus, x0, y0, x1, y1, ...) or a folder of webmorph .tem / iBUG .pts files named like the
# images. Left out: .tem / .pts files beside the images. `psychoface landmarks` detects them.
# landmarks = "landmarks.csv"
# Optional: a stimulus metadata file (CSV, TSV or XLSX; one row per face, an id column named
# stimulus, id or image, then e.g. age, sex, glasses, identity, condition) for the property
# analyses, and the columns of it to use (default: all).
# metadata = "faces.csv"
# metadata_columns = ["age", "sex"]

# The network: any torchvision classification model (`psychoface layers --model NAME` lists
# its layers). weights: "DEFAULT" (torchvision's pretrained weights, cached in $TORCH_HOME),
# another torchvision weights name of the model (e.g. "IMAGENET1K_V1"; any case), a path to a
# checkpoint file, or "none" (random weights drawn with `seed`).
model = "{model}"
weights = "{weights}"

# Layers to extract: readable aliases (vgg16: conv1_1 ... conv5_3, conv5, pool1 ... pool5,
# fc6, fc7, fc8) or raw module names (features.29).
layers = {layers}

# Spatial pooling of convolutional layers: "none" (keep every unit), "avg" or "max".
pooling = "{pooling}"

batch_size = {batch_size}
# Processes that decode images while the network runs.
workers = {workers}
# "auto" picks cuda, then mps, then cpu.
device = "{device}"

# Where extracted features are stored; every analysis reads them from here.
store = "{store}"

# Seed of every stochastic step: random weights, splits, permutations, bootstrap resamples.
seed = {seed}

# Inference defaults for every analysis.
n_permutations = {n_permutations}
n_bootstrap = {n_bootstrap}
# Correction for multiple comparisons across each table's family: "holm" or "fdr_bh".
correction = "{correction}"
ci_level = {ci_level}
'''


@dataclass
class StudyConfig:
    """Settings of a study: read from ``psychoface.toml`` and overridden by flags."""

    root: Path = field(default_factory=Path.cwd)
    images: str | None = None
    ratings: str | None = None
    id_column: str | None = None
    path_column: str | None = None
    trials_where: str | None = None
    landmarks: str | None = None
    metadata: str | None = None
    metadata_columns: list[str] = field(default_factory=list)
    model: str = "vgg16"
    weights: str = "DEFAULT"
    layers: list[str] = field(default_factory=lambda: ["conv5", "fc7"])
    pooling: str = "none"
    batch_size: int = 16
    workers: int = 1
    device: str = "auto"
    store: str = "features"
    seed: int = 0
    n_permutations: int = 10_000
    n_bootstrap: int = 5_000
    correction: str = "holm"
    ci_level: float = 0.95
    source: Path | None = None

    # -- resolved paths -------------------------------------------------------------------
    def path(self, value: str | None) -> Path | None:
        """A path from the file, resolved against the study folder."""
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.root / p)

    @property
    def images_path(self) -> Path:
        if not self.images:
            raise PsychofaceError(self._missing("images", "--images FOLDER"))
        return self.path(self.images)

    @property
    def ratings_path(self) -> Path:
        if not self.ratings:
            raise PsychofaceError(self._missing("ratings", "--ratings FILE"))
        return self.path(self.ratings)

    @property
    def store_path(self) -> Path:
        return self.path(self.store)

    @property
    def weights_spec(self) -> str:
        """``none`` or a torchvision weights name of ``model`` (``DEFAULT``, ``IMAGENET1K_V1``,
        ``VGG16_Weights.IMAGENET1K_V1``, in any case) as given, else a checkpoint path resolved
        against the study folder, which must exist."""
        from psychoface.features import models

        w = str(self.weights).strip()
        if w.lower() == "none":
            return w
        if self.model not in models.available_models():  # build_model names the unknown model
            return w if re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", w) else str(self.path(w))
        if models.weights_member(self.model, w) is not None:
            return w
        path = self.path(w)
        if path.is_file():
            return str(path)
        raise PsychofaceError(
            f"weights '{w}' for {self.model}: neither a torchvision weights name nor an existing checkpoint file "
            f"({path}); use one of {', '.join(models.weights_names(self.model))}, or a checkpoint path")

    def _missing(self, key: str, flag: str) -> str:
        where = f"{self.source}" if self.source else f"no {CONFIG_NAME} in {self.root}"
        return f"no {key} given ({where}); pass {flag} or set `{key}` in {CONFIG_NAME} (`psychoface init` writes one)"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["root"] = str(self.root)
        d["source"] = str(self.source) if self.source else None
        return d

    def with_overrides(self, **overrides) -> "StudyConfig":
        """A copy with every override that is not None applied."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(clean) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise PsychofaceError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **clean)


_KEYS = {f.name for f in dataclasses.fields(StudyConfig)} - {"root", "source"}


def find_config(start: Path | None = None) -> Path | None:
    """``psychoface.toml`` in ``start`` (default: the current folder), or None."""
    folder = Path(start) if start is not None else Path.cwd()
    candidate = folder / CONFIG_NAME
    return candidate if candidate.is_file() else None


def parse_config(text: str, *, root: Path, source: Path | None = None) -> StudyConfig:
    """Parse the TOML text of a study file; unknown keys and wrong types are errors."""
    where = str(source) if source else CONFIG_NAME
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PsychofaceError(f"{where}: not valid TOML ({exc}); fix the line it names") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(k, _KEYS, n=1) for k in unknown]
        hint = "; ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in zip(unknown, hints))
        raise PsychofaceError(f"{where}: unknown key {hint}; valid keys: {', '.join(sorted(_KEYS))}")
    defaults = StudyConfig()
    for key, value in data.items():
        expected = type(getattr(defaults, key))
        if key in ("images", "ratings", "id_column", "path_column", "trials_where", "landmarks", "metadata"):
            expected = str
        if key == "layers" and isinstance(value, str):
            data[key] = value = [value]
        if expected is float and isinstance(value, int):
            data[key] = value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise PsychofaceError(
                f"{where}: `{key}` must be {expected.__name__}, got {value!r}"
            )
    return StudyConfig(root=root, source=source, **data)


def load_config(path: str | Path | None = None, **overrides) -> StudyConfig:
    """The study's settings: ``path`` (a file or folder; default the current folder) plus overrides.

    Without a ``psychoface.toml`` the defaults are used, so that every setting can come from flags.
    """
    if path is not None and Path(path).is_dir():
        path = find_config(Path(path))
    elif path is None:
        path = find_config()
    if path is None:
        config = StudyConfig(root=Path.cwd())
    else:
        path = Path(path)
        if not path.is_file():
            raise PsychofaceError(f"{path}: study file not found; run `psychoface init` to write one")
        config = parse_config(path.read_text(encoding="utf-8"), root=path.resolve().parent, source=path)
    return config.with_overrides(**overrides)


def render_template(**values) -> str:
    """The commented ``psychoface.toml`` text, with defaults for anything not given."""
    base = StudyConfig()
    fields = {k: getattr(base, k) for k in _KEYS}
    fields.update({k: v for k, v in values.items() if v is not None})
    fields["images"] = fields["images"] or "images"
    fields["ratings"] = fields["ratings"] or "ratings.csv"
    fields["layers"] = "[" + ", ".join(f'"{layer}"' for layer in fields["layers"]) + "]"
    return TEMPLATE.format(**fields)


def write_config(folder: str | Path, *, force: bool = False, **values) -> Path:
    """Write a commented ``psychoface.toml`` into ``folder``; refuses to overwrite unless ``force``."""
    from psychoface.provenance import atomic_write_text

    folder = Path(folder)
    target = folder / CONFIG_NAME
    if folder.exists() and not folder.is_dir():
        raise PsychofaceError(
            f"{folder}: is a file, not a folder; give `psychoface init` the study folder "
            f"(it writes {CONFIG_NAME} there)")
    if target.exists() and not force:
        raise PsychofaceError(f"{target} already exists; edit it, or pass --force to overwrite it")
    text = render_template(**values)
    parse_config(text, root=folder)  # the template must always parse
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
    except OSError as exc:
        raise PsychofaceError(
            f"{target}: cannot be written ({exc.strerror or exc}); choose a study folder you can write to"
        ) from None
    return target
