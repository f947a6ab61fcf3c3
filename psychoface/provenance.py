"""Provenance: what every output records so that a result can be traced and reproduced.

Library versions, hashes of input files and a timestamp; analyses add their own parameters and seed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)

_LIBRARIES = (
    "psychoface", "numpy", "scipy", "pandas", "scikit-learn", "statsmodels", "pingouin",
    "torch", "torchvision", "pillow", "geomstats", "matplotlib",
)


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of Python and the libraries psychoface's results depend on."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES + tuple(extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def now() -> str:
    """The current UTC time in ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text (UTF-8) atomically, see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write JSON atomically, indented, keys in insertion order, non-JSON values as strings."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
