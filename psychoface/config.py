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

# Ratings: CSV, TSV or XLSX, in one of these layouts (detected; ratings_layout names it when not):
#   wide: one row per stimulus, an id column and one column of mean ratings per attribute;
#   long: one row per rating, columns stimulus, attribute, rating and optionally rater;
#   per_rater: one row per rater, one column per stimulus (one attribute per file), other columns
#     (sex, age, ...) describe the rater; qualtrics: the same as a Qualtrics export (three header rows).
# Reliability and noise ceilings need single ratings (long, per rater), not means.
# Several files: a pattern whose {{attribute}} part names each file's attribute, e.g.
#   ratings = "ratings/*_{{attribute}}.csv"   (women_attractive.csv, men_attractive.csv, ...)
# or a list: ratings_files = [{{ file = "a.csv", attribute = "attractive" }}, ...] instead of ratings.
ratings = "{ratings}"
# ratings_layout = "auto"      # or wide, long, per_rater, qualtrics
# pool_files = false           # true: pool an attribute given by several files (e.g. two sets of faces)
# same_raters = false          # true: equal rater ids in different files are the same people
# rater_column = "participant" # per-rater files: the column of rater ids (detected when left out)
# rater_columns = ["sex", "age"]  # per-rater files: columns that describe the rater, not stimuli
# qualtrics_ids = "question"   # or "name": Qualtrics column names (row 1) are the stimulus ids

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
{landmarks_line}
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
# Arithmetic of the forward pass: "fp32", or faster reduced precision: "bf16" (CPUs with bf16 support,
# CUDA) or "fp16" (CUDA); its fidelity to fp32 is recorded in the store. One store holds one precision.
precision = "{precision}"

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
    ratings_files: list = field(default_factory=list)
    ratings_layout: str = "auto"
    pool_files: bool = False
    same_raters: bool = False
    rater_column: str | None = None
    rater_columns: list[str] = field(default_factory=list)
    qualtrics_ids: str = "question"
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
    precision: str = "fp32"
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
        """The ratings file, or the pattern of several files, resolved against the study folder."""
        if not self.ratings:
            if self.ratings_files:
                return self.path(self.ratings_files[0]["file"]).parent
            raise PsychofaceError(self._missing("ratings", "--ratings FILE"))
        return self.path(self.ratings)

    @property
    def has_ratings(self) -> bool:
        return bool(self.ratings or self.ratings_files)

    @property
    def ratings_source(self):
        """Every ratings file with its attribute and how to read them
        (:class:`~psychoface.data.ratings_files.RatingsSource`)."""
        from psychoface.data.ratings_files import RatingsFile, RatingsSource, files_of_pattern

        if self.ratings and self.ratings_files:
            raise PsychofaceError(
                f"{self.source or CONFIG_NAME}: both ratings and ratings_files are given; keep one of them")
        if self.ratings_files:
            files = tuple(RatingsFile(self.path(f["file"]), f.get("attribute")) for f in self.ratings_files)
            label = ", ".join(f["file"] for f in self.ratings_files)
        else:
            if not self.ratings:
                raise PsychofaceError(self._missing("ratings", "--ratings FILE"))
            files = tuple(files_of_pattern(self.ratings, self.root))
            label = self.ratings
        return RatingsSource(
            files, label, layout=self.ratings_layout, pool_files=self.pool_files, same_raters=self.same_raters,
            id_column=self.id_column, path_column=self.path_column, rater_column=self.rater_column,
            rater_columns=tuple(self.rater_columns), qualtrics_ids=self.qualtrics_ids,
            images_root=self.path(self.images) if (self.path_column and self.images) else None,
        )

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
        if self.model not in models.available_models():  # build_model names the unknown model
            return w if w.lower() == "none" or re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", w) else str(self.path(w))
        kind, value = models.parse_weights(self.model, w, root=self.root)
        return str(value) if kind == "checkpoint" else w

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
        if key in ("images", "ratings", "id_column", "path_column", "trials_where", "landmarks", "rater_column",
                   "metadata"):
            expected = str
        if key == "rater_columns" and isinstance(value, str):
            data[key] = value = [value]
        if key == "layers" and isinstance(value, str):
            data[key] = value = [value]
        if expected is float and isinstance(value, int):
            data[key] = value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise PsychofaceError(
                f"{where}: `{key}` must be {expected.__name__}, got {value!r}"
            )
    _check_ratings_keys(data, where)
    return StudyConfig(root=root, source=source, **data)


def _check_ratings_keys(data: dict, where: str) -> None:
    """Values of the ratings keys that their types alone do not check."""
    from psychoface.data.ratings import LAYOUTS

    if data.get("ratings_layout", "auto") not in ("auto", *LAYOUTS):
        raise PsychofaceError(
            f"{where}: ratings_layout = {data['ratings_layout']!r}; use auto, {', '.join(LAYOUTS)}")
    if data.get("qualtrics_ids", "question") not in ("question", "name"):
        raise PsychofaceError(f"{where}: qualtrics_ids = {data['qualtrics_ids']!r}; use \"question\" or \"name\"")
    if any(not isinstance(c, str) for c in data.get("rater_columns", [])):
        raise PsychofaceError(f"{where}: rater_columns must be a list of column names")
    for i, entry in enumerate(data.get("ratings_files", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or set(entry) - {"file", "attribute"} \
                or not isinstance(entry.get("attribute", ""), str):
            raise PsychofaceError(
                f"{where}: ratings_files entry {i + 1} ({entry!r}) must be {{ file = \"name.csv\", attribute = "
                f"\"trustworthy\" }} (attribute optional for files that name their attributes)"
            )
    if data.get("ratings") and data.get("ratings_files"):
        raise PsychofaceError(f"{where}: both ratings and ratings_files are given; keep one of them")


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
    fields["landmarks_line"] = (f'landmarks = "{fields["landmarks"]}"' if fields.get("landmarks")
                                else '# landmarks = "landmarks.csv"')
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
