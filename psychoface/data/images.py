"""Face stimuli on disk: finding image files, and opening any of them as an 8-bit RGB image.

:func:`find_images` lists a folder's images recursively; the stimulus id of an image is its file name
without extension. :func:`open_image` turns any file Pillow reads (any colour mode, any bit depth, any
EXIF orientation) into one well-defined RGB image, refuses decompression bombs, and turns every
decoding failure into a one-line :class:`~psychoface.errors.PsychofaceError`. The conversion rules are
spelled out in :data:`PREPROCESSING_DESCRIPTION`, which the feature store records.

:func:`open_image` leaves no global state changed (neither ``Image.MAX_IMAGE_PIXELS`` nor
``ImageFile.LOAD_TRUNCATED_IMAGES``; Pillow's bomb warning is silenced only inside a
``warnings.catch_warnings`` block around ``Image.open``), so it behaves identically in DataLoader worker
processes, whether they are forked or spawned.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from psychoface.errors import PsychofaceError
from psychoface.provenance import sha256_file

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
"""File extensions taken as images (compared case-insensitively)."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Largest image accepted (width x height), Pillow's own default limit (about 9459 x 9459)."""

ALPHA_BACKGROUND = (255, 255, 255)
"""Transparent pixels are composited over this colour (white), as a face photo on a page would be."""

PREPROCESSING_DESCRIPTION = (
    "psychoface.open_image v1: decoded with Pillow; EXIF orientation applied (ImageOps.exif_transpose); "
    "converted to 8-bit RGB: grayscale (L, 1) replicated to three channels; palette expanded; "
    "CMYK and YCbCr by Pillow's conversion (embedded ICC profiles ignored); "
    "transparency (alpha channel, palette or colour-key) composited over white (255, 255, 255); "
    "16-bit and 32-bit integer grayscale (I;16, I;16B, I) scaled to 8 bits by value / 257 (0-65535 -> 0-255), "
    "rounded, values above 65535 or below 0 clipped; floating-point grayscale (F) taken as 0-1 when all "
    "values lie in [0, 1], else as 0-255, NaN as 0, rounded and clipped; "
    "16-bit colour reduced to 8 bits by Pillow's decoder."
)
"""How :func:`open_image` turns a file into pixels; recorded in every feature store."""

_INTEGER_GRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})


@dataclass(frozen=True)
class Stimulus:
    """One face image: its id (the file name without extension) and its absolute path."""

    id: str
    path: Path


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value: ``face2`` before ``face10``, ``2`` before ``10``.

    Numbers sort before letters, a prefix before its extensions (``a`` before ``a1``). Case is ignored at
    first; ties (``1`` vs ``01``, ``a`` vs ``A``) are broken by the text itself so the
    order is total and reproducible.
    """
    parts = re.split(r"(\d+)", text.casefold())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p), text


def find_images(folder: str | os.PathLike) -> list[Stimulus]:
    """All images under ``folder`` (recursively), as :class:`Stimulus` objects in natural order.

    Files and folders whose names start with a dot are skipped (``.DS_Store``, ``.ipynb_checkpoints``,
    macOS ``._name.jpg`` resource forks). Extensions: :data:`IMAGE_EXTENSIONS`, any case. The id of an
    image is its file name without extension, so ids must be unique across the whole tree.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise PsychofaceError(f"{root}: images folder not found; check the path (images = ... in psychoface.toml)")
    if not root.is_dir():
        raise PsychofaceError(f"{root}: is a file, not a folder of images; give the folder that holds the images")
    root = root.resolve()
    found: dict[str, Path] = {}
    duplicates: list[tuple[Path, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            path = Path(dirpath, name)
            stem = path.stem
            if stem in found:
                duplicates.append((found[stem], path))
            else:
                found[stem] = path
    if duplicates:
        first, second = sorted(duplicates[0], key=lambda p: natural_key(str(p)))
        more = f" (and {len(duplicates) - 1} more duplicate ids)" if len(duplicates) > 1 else ""
        raise PsychofaceError(
            f"{first} and {second} have the same stimulus id {first.stem!r}{more}; rename one of them, "
            f"or give the ratings a path_column of image paths"
        )
    if not found:
        raise PsychofaceError(
            f"{root}: no images found (looked recursively for {', '.join(sorted(IMAGE_EXTENSIONS))}, any case); "
            f"check the folder"
        )
    return [Stimulus(stem, found[stem]) for stem in sorted(found, key=natural_key)]


def _raise_walk_error(exc: OSError) -> None:
    raise PsychofaceError(f"{exc.filename}: cannot be listed ({exc.strerror}); check its permissions") from exc


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says, read without decoding the pixels."""

    path: Path
    format: str
    mode: str
    width: int
    height: int


def probe_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read an image's header (format, mode, size) and apply the pixel limit, without decoding pixels.

    Fast enough to check thousands of files; a file whose header is fine may still be truncated, which
    only :func:`open_image` (a full decode) finds.
    """
    path = Path(path)
    with _open(path, max_pixels) as im:
        return ImageInfo(path, str(im.format), im.mode, im.size[0], im.size[1])


def open_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image file into an 8-bit RGB :class:`PIL.Image.Image`, as :data:`PREPROCESSING_DESCRIPTION`.

    Raises :class:`PsychofaceError` naming the file when it is missing, not an image, truncated, corrupt,
    or larger than ``max_pixels`` pixels (decompression-bomb protection; Pillow's own warning and error
    never escape).
    """
    path = Path(path)
    with _open(path, max_pixels) as im:
        try:
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
        except Exception as exc:  # any decoder failure of a corrupt file is the user's input, not a bug
            raise _decode_error(path, exc, max_pixels) from exc
    return _to_rgb(im, path)


def hash_file(path: str | os.PathLike) -> str:
    """SHA-256 of an image file's bytes, for the feature store's record of its inputs."""
    try:
        return sha256_file(path)
    except OSError as exc:
        raise PsychofaceError(f"{path}: cannot be read ({exc.strerror}); check that it exists and is readable") from exc


def _open(path: Path, max_pixels: int) -> Image.Image:
    """``Image.open`` with our pixel limit, Pillow's bomb warning silenced and every failure one line."""
    if not path.is_file():
        raise PsychofaceError(f"{path}: image file not found; check the path or run `psychoface check`")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its MAX_IMAGE_PIXELS; such an image is refused just below (default limit).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Exception as exc:
        raise _decode_error(path, exc, max_pixels) from exc
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise PsychofaceError(_bomb_message(path, f"{width} x {height} = {width * height:,} pixels", max_pixels))
    return im


def _bomb_message(path: Path, size: str, max_pixels: int) -> str:
    return (
        f"{path}: {size} exceeds the limit of {max_pixels:,} pixels (decompression-bomb protection); "
        f"downscale the image, or raise max_pixels if you trust the file"
    )


def _decode_error(path: Path, exc: Exception, max_pixels: int) -> PsychofaceError:
    if isinstance(exc, Image.DecompressionBombError):
        hard_limit = 2 * Image.MAX_IMAGE_PIXELS  # set whenever Pillow raises this error
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "its size"
        if max_pixels <= hard_limit:
            return PsychofaceError(_bomb_message(path, size, max_pixels))
        return PsychofaceError(
            f"{path}: {size} exceeds Pillow's hard limit of {hard_limit:,} pixels (decompression-bomb "
            f"protection); downscale the image"
        )
    if isinstance(exc, Image.UnidentifiedImageError):
        return PsychofaceError(f"{path}: not an image Pillow can read; remove it from the images folder or re-save it")
    if isinstance(exc, PermissionError):
        return PsychofaceError(f"{path}: cannot be read (permission denied); check its permissions")
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return PsychofaceError(
        f"{path}: truncated or corrupt image ({detail}); re-export or re-download it, or remove it"
    )


def _to_rgb(im: Image.Image, path: Path) -> Image.Image:
    mode = im.mode
    if mode == "RGB" and not im.has_transparency_data:
        return im
    if mode in _INTEGER_GRAY_MODES:
        values = np.asarray(im).astype(np.float64) / 257.0
        return _gray_to_rgb(values)
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            values = values * 255.0
        return _gray_to_rgb(np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0))
    if mode in _ALPHA_MODES or im.has_transparency_data:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise PsychofaceError(
            f"{path}: colour mode {mode!r} cannot be converted to RGB ({exc}); re-save the image as RGB"
        ) from exc


def _gray_to_rgb(values: np.ndarray) -> Image.Image:
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def grayscale_pixels(paths, size: int = 64, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Images as (n, size * size) float32 grayscale pixels in [0, 1], for a pixel-space control RDM.

    Each image is decoded with :func:`open_image`, converted to luminance (ITU-R 601-2, PIL's ``L``),
    resized to ``size`` x ``size`` with antialiasing (aspect ratio not kept) and flattened.
    """
    out = np.empty((len(paths), size * size), dtype=np.float32)
    for i, path in enumerate(paths):
        img = open_image(path, max_pixels=max_pixels).convert("L").resize((size, size), Image.Resampling.LANCZOS)
        out[i] = np.asarray(img, dtype=np.float32).ravel() / 255.0
    return out
