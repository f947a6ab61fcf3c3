"""Public face datasets that psychoface can download: ``psychoface datasets list`` / ``fetch``.

One Million Impressions (OMI; Peterson, Uddenberg, Griffiths, Todorov & Suchow, 2022): 1,004 synthetic
face images (StyleGAN2) rated on 34 attributes, published at https://github.com/jcpeterson/omi
(``images/<n>.jpg``, ``attribute_means.csv``, the trial-level ``attribute_ratings.csv`` inside
``attribute_ratings.zip``, ``LICENSE.txt``). :func:`fetch_omi` lays the files out as psychoface's
test data: ``images/*.jpg``, ``attribute_means.csv``, ``attribute_ratings.csv.gz``, ``LICENSE.txt`` and
a ``README.md`` with the licence, the citation and the changes made (the ratings recompressed).

Every file is streamed to a temporary file beside its destination, checked, and renamed: an interrupted
download leaves no half-written file, and a second run downloads only what is missing.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
from PIL import Image

from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_text, now, sha256_file

OMI_URL = "https://raw.githubusercontent.com/jcpeterson/omi/main/"

DATASETS: dict[str, dict] = {
    "omi": {
        "name": "One Million Impressions (OMI)",
        "description": (
            "1,004 synthetic (StyleGAN2) face images, 1024 x 1024 JPEG, with about 1.3 million human "
            "ratings on 34 attributes (trustworthy, attractive, dominant, happy, ...) on a 0-100 scale: "
            "mean ratings per image and trial-level ratings (no rater ids)"
        ),
        "citation": (
            "Peterson, J. C., Uddenberg, S., Griffiths, T. L., Todorov, A., & Suchow, J. W. (2022). "
            "Deep models of superficial face judgments. Proceedings of the National Academy of Sciences, "
            "119(17), e2115228119. https://doi.org/10.1073/pnas.2115228119"
        ),
        "licence": "CC BY-NC-SA 4.0",
        "licence_url": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
        "homepage": "https://github.com/jcpeterson/omi",
        "urls": {
            "attribute_means.csv": OMI_URL + "attribute_means.csv",
            "attribute_ratings.zip": OMI_URL + "attribute_ratings.zip",
            "LICENSE.txt": OMI_URL + "LICENSE.txt",
            "images/{stimulus}.jpg": OMI_URL + "images/{stimulus}.jpg",
        },
        "fetch": "fetch_omi",
    },
}

_TIMEOUT_S = 60
_CHUNK = 1 << 20
_WORKERS = 8
_TRIAL_COLUMNS = {"stimulus", "attribute", "rating"}

Progress = Callable[[int, int, str], None]


def _fail(url: str, reason: str, dest: Path, check: str = "the internet connection") -> PsychofaceError:
    reason = " ".join(str(reason).split())
    return PsychofaceError(
        f"{url}: {reason}; check {check}, or download the files by hand from "
        f"{DATASETS['omi']['homepage']} into {dest} (images/*.jpg, attribute_means.csv, attribute_ratings.zip)"
    )


def _download(url: str, target: Path, dest: Path, check: Callable[[Path], str | None] | None = None) -> None:
    """Stream ``url`` to a temporary file beside ``target``, run ``check`` on it (it returns a
    problem or None), then rename it to ``target``. On any failure the temporary file is removed."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "psychoface"})
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                expected = response.headers.get("Content-Length")
                received = 0
                for block in iter(lambda: response.read(_CHUNK), b""):
                    out.write(block)
                    received += len(block)
                out.flush()
                os.fsync(out.fileno())
        except urllib.error.HTTPError as e:
            raise _fail(url, f"download failed (HTTP {e.code} {e.reason})", dest) from None
        except urllib.error.URLError as e:
            raise _fail(url, f"download failed ({e.reason})", dest) from None
        except (http.client.HTTPException, OSError) as e:
            raise _fail(url, f"download failed ({type(e).__name__}: {e})", dest) from None
        if expected is not None and expected.isdigit() and int(expected) != received:
            raise _fail(url, f"incomplete download ({received} of {expected} bytes)", dest)
        problem = check(tmp) if check else None
        if problem:
            raise _fail(url, problem, dest, check="the URL")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _check_means(path: Path) -> str | None:
    try:
        means = pd.read_csv(path, dtype={"stimulus": str})
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        return f"not a CSV file ({type(e).__name__})"
    if "stimulus" not in means.columns or len(means.columns) < 2 or means.empty:
        return "not the OMI attribute means (expected a 'stimulus' column and attribute columns)"
    ids = means["stimulus"]
    if ids.isna().any() or ids.duplicated().any() or not ids.str.fullmatch(r"[0-9]+").all():
        return "the 'stimulus' column must hold unique image numbers"
    return None


def _check_jpeg(path: Path) -> str | None:
    try:
        with Image.open(path) as im:
            fmt = im.format
            im.verify()
    except Exception as e:  # PIL raises many exception types for broken files
        return f"not a readable image ({type(e).__name__})"
    return None if fmt == "JPEG" else f"not a JPEG image ({fmt})"


def _ratings_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo | None:
    for info in archive.infolist():
        name = info.filename
        if not info.is_dir() and Path(name).name == "attribute_ratings.csv" and not name.startswith("__MACOSX"):
            return info
    return None


def _check_zip(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            member = _ratings_member(archive)
            if member is None:
                return "the archive holds no attribute_ratings.csv"
            with archive.open(member) as f:
                header = {c.strip() for c in f.readline().decode("utf-8", "replace").split(",")}
            if not _TRIAL_COLUMNS <= header:
                return f"attribute_ratings.csv lacks columns {', '.join(sorted(_TRIAL_COLUMNS - header))}"
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"not a valid zip archive ({type(e).__name__})"
    return f"corrupt archive member {bad}" if bad else None


def _unzip_ratings(archive_path: Path, target: Path) -> None:
    """Recompress ``attribute_ratings.csv`` from the zip archive as gzip, atomically."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(archive_path) as archive, archive.open(_ratings_member(archive)) as src:
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="attribute_ratings.csv", mode="wb",
                                                      fileobj=raw, mtime=0) as gz:
                shutil.copyfileobj(src, gz, _CHUNK)
            with open(tmp, "rb+") as raw:
                os.fsync(raw.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _readme(dest: Path, base: str, n_images: int) -> str:
    info = DATASETS["omi"]
    hashes = "\n".join(
        f"- `{name}`: SHA-256 `{sha256_file(dest / name)}`"
        for name in ("attribute_means.csv", "attribute_ratings.csv.gz", "LICENSE.txt")
    )
    return f"""# {info['name']}

Downloaded by psychoface on {now()} from {base} ({info['homepage']}).

{info['description']}.

## Licence

{info['licence']} ({info['licence_url']}); see `LICENSE.txt`. Non-commercial use only; give credit by
citing the paper below, indicate changes, and share adaptations under the same licence.

## Citation

{info['citation']}

## Files

- `images/1.jpg` ... : {n_images} face images, unchanged
- `attribute_means.csv`: mean rating of each stimulus on each attribute (0-100), unchanged
- `attribute_ratings.csv.gz`: the trial-level ratings; changed only in packaging (extracted from
  `attribute_ratings.zip` and recompressed with gzip)
- `LICENSE.txt`: the dataset's licence, unchanged

{hashes}
"""


def fetch_omi(dest, *, url: str | None = None, progress: Progress | None = None) -> Path:
    """Download the One Million Impressions dataset (Peterson et al., 2022) into ``dest``.

    ``url`` is the base address of the dataset (default :data:`OMI_URL`, the GitHub repository's raw
    files): ``attribute_means.csv``, ``LICENSE.txt``, ``attribute_ratings.zip`` and
    ``images/<stimulus>.jpg`` for every stimulus in the means are fetched from it. Each file is checked
    before it is renamed into place: the means must have a ``stimulus`` column of unique numbers, the
    archive must pass its CRC check and hold ``attribute_ratings.csv`` with ``stimulus``, ``attribute``
    and ``rating`` columns, every image must be a JPEG, and a download must match its Content-Length.
    Files already in ``dest`` are kept (a rerun completes an interrupted download; delete ``dest`` to
    start afresh). ``progress(done, total, name)`` is called after each file. Returns ``dest``.

    Raises :class:`PsychofaceError` naming the URL when a download fails or a file is not what it
    should be; nothing half-written is left behind.
    """
    dest = Path(dest)
    base = (url or OMI_URL).rstrip("/") + "/"
    if dest.exists() and not dest.is_dir():
        raise PsychofaceError(f"{dest}: exists and is not a folder; choose another destination")
    created = [d for d in (dest, dest / "images") if not d.exists()]
    try:
        (dest / "images").mkdir(parents=True, exist_ok=True)
        return _fetch_omi(dest, base, progress)
    except BaseException:
        for d in reversed(created):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        raise


def _fetch_omi(dest: Path, base: str, progress: Progress | None) -> Path:
    for stale in [*dest.glob(".*.part"), *(dest / "images").glob(".*.part")]:  # left by a killed run
        stale.unlink()
    means_path = dest / "attribute_means.csv"
    if not means_path.exists():
        _download(base + "attribute_means.csv", means_path, dest, _check_means)
    problem = _check_means(means_path)
    if problem:
        raise PsychofaceError(f"{means_path}: {problem}; delete it and fetch again")
    stimuli = pd.read_csv(means_path, dtype={"stimulus": str})["stimulus"].tolist()
    total, done = 3 + len(stimuli), 1
    if progress:
        progress(done, total, "attribute_means.csv")

    if not (dest / "LICENSE.txt").exists():
        _download(base + "LICENSE.txt", dest / "LICENSE.txt", dest)
    done += 1
    if progress:
        progress(done, total, "LICENSE.txt")

    ratings_path = dest / "attribute_ratings.csv.gz"
    if not ratings_path.exists():
        archive = dest / "attribute_ratings.zip"
        try:
            _download(base + "attribute_ratings.zip", archive, dest, _check_zip)
            _unzip_ratings(archive, ratings_path)
        finally:
            archive.unlink(missing_ok=True)
    done += 1
    if progress:
        progress(done, total, "attribute_ratings.csv.gz")

    todo = [s for s in stimuli if not (dest / "images" / f"{s}.jpg").exists()]
    done += len(stimuli) - len(todo)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        futures = {
            pool.submit(_download, f"{base}images/{s}.jpg", dest / "images" / f"{s}.jpg", dest, _check_jpeg): s
            for s in todo
        }
        try:
            for future in as_completed(futures):
                future.result()
                done += 1
                if progress:
                    progress(done, total, f"images/{futures[future]}.jpg")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise

    atomic_write_text(dest / "README.md", _readme(dest, base, len(stimuli)))
    return dest
