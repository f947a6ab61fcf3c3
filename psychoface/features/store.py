"""The feature store: one folder per extraction, holding every layer's features and their provenance.

Layout of a store folder::

    manifest.json            format version, model, weights (spec, description, SHA-256 of the checkpoint
                             file, or of the initialised state_dict for random weights), preprocessing,
                             precision of the forward pass (fp32, or bf16/fp16 autocast; stores written
                             before it was recorded are fp32),
                             library versions, seed, stimuli in order [{id, path, sha256}],
                             layers {name: {module, shape, pooling, n_features, dtype}}, created, updated
    <layer>.npy              float32, n_stimuli x n_features, created with numpy.lib.format.open_memmap
    <layer>.progress.json    {"rows": k}: the first k rows of <layer>.npy are complete and on disk

Rows are written batch by batch with plain file writes and made durable (``fsync``) chunk by chunk
before the progress file is replaced atomically, so memory does not grow with the number of images
and a crash loses at most the chunk in flight. The manifest is written atomically too, and before
any layer file is created or re-created; a re-created layer loses its progress file before its
``.npy`` is replaced. A crash at any point therefore leaves a store that a rerun resumes and that
never counts rows of a new ``.npy`` as complete.

A store refuses to mix features: extracting into an existing store with a different model, weights
(compared by SHA-256; for random weights by seed and by the SHA-256 of the initialised state_dict,
which a torch upgrade may change), preprocessing, precision, stimulus list, or pooling of a layer, or after an
image whose features are stored has changed (SHA-256), raises :class:`PsychofaceError` saying what
differs. Images whose features are not stored yet may change (a corrupt file that stopped an
extraction can be fixed and the extraction resumed).
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from pathlib import Path

import numpy as np

from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_json, now

FORMAT = "psychoface-feature-store"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
EXPORT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npy": "npy", ".mat": "mat"}
EXPORT_CHUNK_BYTES = 64 * 2**20  # float32 features read and written per chunk of an export

try:  # advisory lock against two extractions writing one store at once (POSIX)
    import fcntl
except ImportError:  # pragma: no cover - Windows: only writers in one process are detected
    fcntl = None


class FeatureStore:
    """Read access to a feature store folder (see the module docstring for its layout)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            raise PsychofaceError(
                f"{self.path}: no feature store here ({MANIFEST} not found); run `psychoface extract` "
                "first or check the --store path")
        self.manifest = _read_manifest(manifest)

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r}: {self.manifest['model']}, {len(self.stimulus_ids)} stimuli, " \
               f"layers {', '.join(self.layers)})"

    @property
    def layers(self) -> list[str]:
        """Names of the layers recorded in the store (complete or not)."""
        return list(self.manifest["layers"])

    @property
    def stimulus_ids(self) -> list[str]:
        """Stimulus ids in row order."""
        return [s["id"] for s in self.manifest["stimuli"]]

    @property
    def n_stimuli(self) -> int:
        return len(self.manifest["stimuli"])

    def rows_done(self, layer: str) -> int:
        """How many rows of ``layer`` are complete."""
        self._check_layer(layer)
        return _read_progress(self.path, layer)

    def is_complete(self, layer: str) -> bool:
        """Whether every stimulus has its features for ``layer``."""
        return self.rows_done(layer) >= self.n_stimuli

    def features(self, layer: str) -> np.memmap:
        """All features of a complete layer as a read-only float32 memory map (n_stimuli x n_features)."""
        self._check_complete(layer)
        return self._open(layer, "r")

    def iter_chunks(self, layer: str, chunk_size: int = 1024):
        """Yield ``(start, X_chunk)`` blocks of at most ``chunk_size`` rows, read from disk one at a time."""
        self._check_complete(layer)
        if chunk_size < 1:
            raise PsychofaceError(f"chunk_size {chunk_size}: must be a positive number of rows")
        n, nf = self.n_stimuli, self.manifest["layers"][layer]["n_features"]
        offset = self._data_offset(layer)
        with open(self._file(layer), "rb") as f:
            for start in range(0, n, chunk_size):
                rows = min(chunk_size, n - start)
                f.seek(offset + start * nf * 4)
                chunk = np.fromfile(f, dtype="<f4", count=rows * nf)
                yield start, chunk.reshape(rows, nf).astype(np.float32, copy=False)

    def _file(self, layer) -> Path:
        return self.path / f"{layer}.npy"

    def _check_layer(self, layer):
        if layer not in self.manifest["layers"]:
            present = ", ".join(self.layers) or "none"
            raise PsychofaceError(
                f"layer '{layer}' is not in the feature store {self.path} (layers present: {present}); "
                f"extract it with `psychoface extract --layer {layer}`")

    def _check_complete(self, layer):
        done = self.rows_done(layer)
        if done < self.n_stimuli:
            raise PsychofaceError(
                f"layer {layer} in {self.path} is incomplete ({done} of {self.n_stimuli} images); "
                "run `psychoface extract` again to resume")

    def _open(self, layer, mode) -> np.memmap:
        spec = self.manifest["layers"][layer]
        expected = (self.n_stimuli, spec["n_features"])
        try:
            X = np.load(self._file(layer), mmap_mode=mode)
        except (OSError, ValueError) as exc:
            raise PsychofaceError(
                f"{self._file(layer)}: missing or unreadable ({exc}); run `psychoface extract --overwrite`") from None
        if X.shape != expected or X.dtype != np.float32:
            raise PsychofaceError(
                f"{self._file(layer)}: holds {X.dtype} {X.shape}, the manifest says float32 {expected}; "
                "the store is damaged, run `psychoface extract --overwrite`")
        return X

    def _data_offset(self, layer) -> int:
        return self._open(layer, "r").offset


def load_features(store, layer: str) -> tuple[np.ndarray, list[str]]:
    """``(X, ids)``: the float32 features of ``layer`` (a read-only memory map) and the stimulus ids."""
    fs = store if isinstance(store, FeatureStore) else FeatureStore(store)
    return fs.features(layer), fs.stimulus_ids


def export_features(store, layer: str, path: str | os.PathLike, format: str | None = None,
                    progress=None) -> Path:
    """Write one layer's features to ``path`` for use outside psychoface; returns the path written.

    Formats (inferred from the suffix unless ``format`` is given):

    - ``parquet``: one row per stimulus, an ``id`` column and a ``features`` column of fixed-size lists of
      float32 (Arrow ``fixed_size_list<float>[n_features]``, zstd-compressed; pyarrow, R's ``arrow`` and
      polars read it as one array per stimulus, e.g. ``np.stack(pd.read_parquet(f).features)``); the
      layer, model, feature count and layer shape are in the file's key-value metadata (``psychoface.*``).
    - ``csv``: an ``id`` column then ``f0`` ... ``f{n-1}`` (float32 written with the fewest digits that
      read back to the same value, by Arrow's CSV writer).
    - ``npy``: the matrix; the ids, one per line, in ``<stem>.ids.txt`` beside it.
    - ``mat``: MATLAB (``X``, ``ids``, ``layer``, ``model``).

    CSV, Parquet and npy are written in chunks of about :data:`EXPORT_CHUNK_BYTES` of features (one
    Parquet row group per chunk), so memory does not grow with the number of stimuli; ``progress(done,
    total)`` is called with the stimuli written after each chunk. Every file appears atomically.
    """
    fs = store if isinstance(store, FeatureStore) else FeatureStore(store)
    path = Path(path).expanduser()
    fmt = (format or EXPORT_FORMATS.get(path.suffix.lower(), "")).lower().lstrip(".")
    if fmt not in set(EXPORT_FORMATS.values()):
        raise PsychofaceError(
            f"{path}: unknown export format '{format or path.suffix}'; use a .csv, .parquet, .npy or .mat file")
    fs._check_complete(layer)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
    except OSError as exc:
        raise PsychofaceError(
            f"{path}: cannot write the export file ({exc.strerror or exc}); choose a folder you can write to"
        ) from None
    try:
        _EXPORTERS[fmt](fs, layer, tmp, progress or (lambda done, total: None))
        if fmt == "npy":
            ids_tmp = path.with_name(f".{path.stem}.ids.txt.tmp")
            ids_tmp.write_text("".join(f"{i}\n" for i in fs.stimulus_ids), encoding="utf-8")
            os.replace(ids_tmp, path.with_name(f"{path.stem}.ids.txt"))
        os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
    return path


def _chunks(fs, layer, progress):
    """The layer's rows in chunks of about EXPORT_CHUNK_BYTES, reporting progress after each."""
    nf = fs.manifest["layers"][layer]["n_features"]
    rows = max(1, EXPORT_CHUNK_BYTES // (4 * nf))
    for start, X in fs.iter_chunks(layer, rows):
        yield start, X
        progress(start + len(X), fs.n_stimuli)


def _export_csv(fs, layer, tmp, progress):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    ids = fs.stimulus_ids
    nf = fs.manifest["layers"][layer]["n_features"]
    schema = pa.schema([("id", pa.string())] + [(f"f{j}", pa.float32()) for j in range(nf)])
    with pcsv.CSVWriter(tmp, schema) as writer:
        for start, X in _chunks(fs, layer, progress):
            columns = np.asfortranarray(X)  # each column contiguous: Arrow arrays without copies
            writer.write_batch(pa.RecordBatch.from_arrays(
                [pa.array(ids[start:start + len(X)], pa.string())] + [pa.array(columns[:, j]) for j in range(nf)],
                schema=schema))


def _export_parquet(fs, layer, tmp, progress):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = fs.stimulus_ids
    spec = fs.manifest["layers"][layer]
    nf = spec["n_features"]
    schema = pa.schema([("id", pa.string()), ("features", pa.list_(pa.float32(), nf))])
    schema = schema.with_metadata({
        "psychoface.layer": layer, "psychoface.model": fs.manifest["model"],
        "psychoface.n_features": str(nf), "psychoface.shape": json.dumps(spec.get("shape")),
        "psychoface.precision": fs.manifest.get("precision", "fp32"),
    })
    with pq.ParquetWriter(tmp, schema, compression="zstd", use_dictionary=False, write_statistics=False) as writer:
        for start, X in _chunks(fs, layer, progress):
            features = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), nf)
            writer.write_table(pa.Table.from_arrays(
                [pa.array(ids[start:start + len(X)], pa.string()), features], schema=schema))


def _export_npy(fs, layer, tmp, progress):
    nf = fs.manifest["layers"][layer]["n_features"]
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(fs.n_stimuli, nf))
    for start, X in _chunks(fs, layer, progress):
        out[start:start + len(X)] = X
    out.flush()
    del out


def _export_mat(fs, layer, tmp, progress):
    from scipy.io import savemat

    X = np.asarray(fs.features(layer))
    if X.nbytes >= 2 ** 31:
        raise PsychofaceError(
            f"layer {layer} has {X.nbytes / 2 ** 30:.1f} GiB of features, beyond MATLAB v5 files' 2 GiB per "
            "variable; export it as .npy or .parquet")
    with open(tmp, "wb") as f:
        savemat(f, {"X": X, "ids": np.array(fs.stimulus_ids, dtype=object), "layer": layer,
                    "model": fs.manifest["model"]}, do_compression=False)
    progress(fs.n_stimuli, fs.n_stimuli)


_EXPORTERS = {"csv": _export_csv, "parquet": _export_parquet, "npy": _export_npy, "mat": _export_mat}


# --------------------------------------------------------------------------------------------------
# Writing (used by psychoface.features.extract)


class StoreWriter:
    """Writes rows of features into a store prepared by :func:`open_store_for_writing`."""

    def __init__(self, path: Path, manifest: dict, lock):
        self.path, self.manifest, self._lock = path, manifest, lock
        self._files: dict[str, object] = {}
        self._offsets: dict[str, int] = {}
        self._done = {layer: _read_progress(path, layer) for layer in manifest["layers"]}

    def rows_done(self, layer: str) -> int:
        return self._done[layer]

    def write(self, layer: str, start: int, X: np.ndarray) -> None:
        """Write rows ``start ...`` of ``layer`` (not yet durable: see :meth:`commit`)."""
        done = self._done[layer]
        if start + len(X) <= done:
            return
        if start < done:
            X, start = X[done - start:], done
        f = self._files.get(layer)
        if f is None:
            f = self._files[layer] = open(self.path / f"{layer}.npy", "r+b")
            self._offsets[layer] = np.load(self.path / f"{layer}.npy", mmap_mode="r").offset
        row_bytes = self.manifest["layers"][layer]["n_features"] * 4
        f.seek(self._offsets[layer] + start * row_bytes)
        f.write(np.ascontiguousarray(X, dtype="<f4").tobytes())

    def commit(self, rows: int, layers) -> None:
        """Make the first ``rows`` rows of ``layers`` durable, then record them in the progress files."""
        for layer in layers:
            if rows <= self._done[layer]:
                continue
            f = self._files.get(layer)
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
            self._done[layer] = rows
            atomic_write_json(_progress_file(self.path, layer), {"rows": rows, "updated": now()})

    def close(self, finished: bool) -> None:
        """Close files and release the lock; ``finished`` stamps the manifest's ``updated`` time."""
        for f in self._files.values():
            f.close()
        self._files.clear()
        if finished:
            self.manifest["updated"] = now()
            atomic_write_json(self.path / MANIFEST, self.manifest)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def open_store_for_writing(path, *, header: dict, stimuli: list[dict], layers: dict[str, dict],
                           run: dict | None = None, overwrite: bool = False) -> StoreWriter:
    """Create a store, or reopen an existing one after checking that nothing would be mixed.

    ``header``: model, weights {spec, description, sha256}, preprocessing, seed and other records;
    ``stimuli``: [{id, path, sha256}] in order; ``layers``: {name: {module, shape, pooling,
    n_features, dtype}} for the layers about to be written; ``run``: what this run used (library
    versions, seed, device, batch size), appended to the manifest's ``runs``. New layers are added;
    layers whose ``.npy`` is missing or does not match the manifest start again from row 0.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise PsychofaceError(f"{path}: is a file, not a feature store folder; choose another --store")
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = _lock(path)
    except OSError as exc:
        raise PsychofaceError(
            f"{path}: cannot create or write the feature store folder ({exc.strerror or exc}); "
            "choose a --store folder you can write to") from None
    try:
        manifest_file = path / MANIFEST
        if not manifest_file.is_file() and any(not _own_temporary(p.name) for p in path.iterdir()):
            raise PsychofaceError(
                f"{path}: folder is not empty and holds no feature store; choose a new --store folder")
        if overwrite:
            _remove_store_files(path)
        if manifest_file.is_file():
            manifest = _read_manifest(manifest_file)
            _check_same(path, manifest, header, stimuli, layers)
        else:
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **header,
                        "stimuli": stimuli, "layers": {}, "created": now(), "runs": []}
        manifest["runs"].append({"started": now(), "layers": list(layers), **(run or {})})
        create = [name for name in layers
                  if name not in manifest["layers"] or not _npy_matches(path, name, len(stimuli), layers[name])]
        manifest["layers"].update(layers)
        manifest["updated"] = now()
        atomic_write_json(manifest_file, manifest)  # first: a crash below leaves a store to resume
        for name in create:
            _create_layer(path, name, len(stimuli), layers[name])
        return StoreWriter(path, manifest, lock)
    except BaseException:
        lock.close()
        raise


def _check_same(path, manifest, header, stimuli, layers):
    """Refuse to add features that would not be comparable with those already in the store."""
    tail = "; use a new --store or --overwrite"
    if manifest["model"] != header["model"]:
        raise PsychofaceError(f"{path}: holds features of {manifest['model']}, not {header['model']}{tail}")
    old_w, new_w = manifest["weights"], header["weights"]
    if old_w["spec"] == new_w["spec"] == "none" and old_w["description"] == new_w["description"] \
            and old_w["sha256"] != new_w["sha256"]:
        if old_w["sha256"] is None:
            raise PsychofaceError(
                f"{path}: holds features of '{old_w['description']}' stored without the SHA-256 of the initial "
                f"weights (an older psychoface), so they cannot be checked against this run's "
                f"(sha256 {new_w['sha256']}){tail}")
        torch_then = manifest.get("versions", {}).get("torch", "unknown")
        torch_now = header.get("versions", {}).get("torch", "unknown")
        raise PsychofaceError(
            f"{path}: holds features of '{old_w['description']}' whose initial weights have sha256 "
            f"{old_w['sha256']}, but the same seed now initialises weights with sha256 {new_w['sha256']} "
            f"(torch {torch_then} then, {torch_now} now: the random initialisation differs){tail}")
    if (old_w["sha256"] or old_w["description"]) != (new_w["sha256"] or new_w["description"]):
        raise PsychofaceError(
            f"{path}: holds features from weights '{old_w['description']}' (sha256 {old_w['sha256']}), "
            f"not '{new_w['description']}' (sha256 {new_w['sha256']}){tail}")
    old_p, new_p = manifest.get("precision", "fp32"), header.get("precision", "fp32")
    if old_p != new_p:
        raise PsychofaceError(
            f"{path}: holds {old_p} features, this run computes {new_p}; features of different precision are "
            f"not mixed in one store (run with --precision {old_p}){tail}")
    if manifest["preprocessing"] != header["preprocessing"]:
        old, new = manifest["preprocessing"], header["preprocessing"]
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        diff = ", ".join(f"{k} {old.get(k)!r} vs {new.get(k)!r}" for k in keys)
        raise PsychofaceError(f"{path}: images were preprocessed differently ({diff}){tail}")
    old_ids, new_ids = [s["id"] for s in manifest["stimuli"]], [s["id"] for s in stimuli]
    if old_ids != new_ids:
        pos = next((i for i, (a, b) in enumerate(zip(old_ids, new_ids)) if a != b),
                   min(len(old_ids), len(new_ids)))
        old_id = old_ids[pos] if pos < len(old_ids) else "(end)"
        new_id = new_ids[pos] if pos < len(new_ids) else "(end)"
        raise PsychofaceError(
            f"{path}: holds features of a different stimulus list ({len(old_ids)} vs {len(new_ids)} images, "
            f"first difference at position {pos + 1}: {old_id!r} vs {new_id!r}){tail}")
    for name, spec in layers.items():
        old = manifest["layers"].get(name)
        if old is not None and (old["module"], old["pooling"], old["shape"]) != \
                (spec["module"], spec["pooling"], spec["shape"]):
            raise PsychofaceError(
                f"{path}: layer {name} was extracted from {old['module']} with pooling {old['pooling']}, "
                f"now {spec['module']} with pooling {spec['pooling']}{tail}")
    stored = max((_read_progress(path, name) for name in manifest["layers"]), default=0)
    for i, (old, new) in enumerate(zip(manifest["stimuli"], stimuli)):
        if i < stored and old["sha256"] != new["sha256"]:
            raise PsychofaceError(
                f"{new['path']}: image changed since its features were stored in {path} (sha256 differs){tail}")
    manifest["stimuli"] = stimuli  # paths may have moved; hashes of images without features may change


def _create_layer(path, name, n, spec):
    """A zero-filled ``.npy`` with no complete rows; the old progress file goes first, so that no
    moment exists at which the new file's rows are counted as complete."""
    with suppress(FileNotFoundError):
        _progress_file(path, name).unlink()
    X = np.lib.format.open_memmap(path / f"{name}.npy", mode="w+", dtype=np.float32, shape=(n, spec["n_features"]))
    X.flush()
    del X
    atomic_write_json(_progress_file(path, name), {"rows": 0, "updated": now()})


def _npy_matches(path, name, n, spec) -> bool:
    try:
        X = np.load(path / f"{name}.npy", mmap_mode="r")
    except (OSError, ValueError):
        return False
    return X.shape == (n, spec["n_features"]) and X.dtype == np.float32


def _remove_store_files(path):
    """Progress files, then features, then the manifest: interrupted, it leaves a store or nothing."""
    files = [p for p in path.iterdir() if p.name.endswith((".progress.json", ".npy"))]
    for p in sorted(files, key=lambda p: not p.name.endswith(".progress.json")) + [path / MANIFEST]:
        with suppress(FileNotFoundError):
            p.unlink()


def _own_temporary(name: str) -> bool:
    """The lock file, or a temporary file that an interrupted atomic write of the manifest left."""
    return name == ".lock" or (name.startswith(f".{MANIFEST}.") and name.endswith(".tmp"))


def _lock(path):
    """Exclusive lock on the store for one writer: POSIX record locks belong to the process, so
    DataLoader workers forked from it do not hold the lock after the writer is killed; writers in
    this same process are caught by ``_LOCKED``."""
    key = str(path.resolve())
    message = (f"{path}: another extraction is writing to this store; wait for it to finish or "
               "choose another --store")
    if key in _LOCKED:
        raise PsychofaceError(message)
    f = open(path / ".lock", "a+")
    if fcntl is not None:
        try:
            fcntl.lockf(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise PsychofaceError(message) from None
    _LOCKED.add(key)
    return _Lock(f, key)


class _Lock:
    def __init__(self, file, key):
        self.file, self.key = file, key

    def close(self):
        _LOCKED.discard(self.key)
        self.file.close()  # releases the record lock


_LOCKED: set[str] = set()


def _progress_file(path, layer) -> Path:
    return Path(path) / f"{layer}.progress.json"


def _read_progress(path, layer) -> int:
    try:
        return int(json.loads(_progress_file(path, layer).read_text(encoding="utf-8"))["rows"])
    except FileNotFoundError:
        return 0
    except (ValueError, KeyError, TypeError):
        raise PsychofaceError(
            f"{_progress_file(path, layer)}: damaged progress file; run `psychoface extract --overwrite`") from None


def _read_manifest(file: Path) -> dict:
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PsychofaceError(
            f"{file}: unreadable manifest ({exc}); the store is damaged, extract again with --overwrite") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("layers"), dict):
        raise PsychofaceError(f"{file}: not a psychoface feature store manifest; check the --store path")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise PsychofaceError(
            f"{file}: store format {manifest['format_version']} is newer than this psychoface reads "
            f"({FORMAT_VERSION}); upgrade psychoface")
    return manifest
