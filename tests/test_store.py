"""Feature store: reading, chunked iteration, incomplete layers, locking, export round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy.io import loadmat

from psychoface.errors import PsychofaceError
from psychoface.features.store import FeatureStore, export_features, load_features, open_store_for_writing

N, NF = 7, 5


def header(model="toy"):
    return {"model": model, "weights": {"spec": "none", "description": "random init, seed 0", "sha256": None},
            "preprocessing": {"resize": 256, "crop": 224}, "seed": 0, "versions": {"numpy": np.__version__}}


def stimuli(n=N):
    return [{"id": f"s{i}", "path": f"/faces/s{i}.jpg", "sha256": f"{i:064x}"} for i in range(n)]


LAYER = {"module": "fc", "shape": [NF], "pooling": "none", "n_features": NF, "dtype": "float32"}


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    out = rng.standard_normal((N, NF)).astype(np.float32)
    out[0, 0] = np.float32(1 / 3)  # needs all 9 significant digits in text
    out[1, 1] = np.float32(-1.17549435e-38)
    return out


def write_store(path, X, rows=None, layers=("fc",), batch=3):
    writer = open_store_for_writing(path, header=header(), stimuli=stimuli(), layers={k: LAYER for k in layers})
    rows = len(X) if rows is None else rows
    for start in range(0, rows, batch):
        stop = min(start + batch, rows)
        for layer in layers:
            writer.write(layer, start, X[start:stop])
        writer.commit(stop, layers)
    writer.close(finished=True)
    return FeatureStore(path)


def test_read_back_and_chunks(tmp_path, X):
    fs = write_store(tmp_path / "store", X)
    assert fs.layers == ["fc"] and fs.stimulus_ids == [f"s{i}" for i in range(N)] and fs.is_complete("fc")
    F = fs.features("fc")
    assert isinstance(F, np.memmap) and F.dtype == np.float32
    np.testing.assert_array_equal(F, X)
    with pytest.raises(ValueError):
        F[0, 0] = 1.0  # read-only
    chunks = list(fs.iter_chunks("fc", 3))
    assert [start for start, _ in chunks] == [0, 3, 6] and [len(c) for _, c in chunks] == [3, 3, 1]
    np.testing.assert_array_equal(np.vstack([c for _, c in chunks]), X)
    Y, ids = load_features(tmp_path / "store", "fc")
    np.testing.assert_array_equal(Y, X)
    assert ids == fs.stimulus_ids and load_features(fs, "fc")[1] == ids
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["layers"]["fc"] == LAYER
    assert manifest["stimuli"][2] == stimuli()[2] and manifest["created"] <= manifest["updated"]


def test_missing_store_unknown_and_incomplete_layers(tmp_path, X):
    with pytest.raises(PsychofaceError, match=r"nowhere: no feature store here \(manifest.json not found\)"):
        FeatureStore(tmp_path / "nowhere")
    fs = write_store(tmp_path / "store", X, rows=4, layers=("fc", "fc7"))
    assert fs.rows_done("fc") == 4 and not fs.is_complete("fc7")
    with pytest.raises(PsychofaceError, match=r"layer 'conv5' is not in the feature store .*layers present: fc, fc7"):
        load_features(fs, "conv5")
    message = (rf"layer fc7 in {tmp_path / 'store'} is incomplete \(4 of 7 images\); "
               r"run `psychoface extract` again to resume")
    with pytest.raises(PsychofaceError, match=message):
        fs.features("fc7")
    with pytest.raises(PsychofaceError, match="is incomplete"):
        next(fs.iter_chunks("fc7", 2))
    with pytest.raises(PsychofaceError, match="is incomplete"):
        export_features(fs, "fc7", tmp_path / "out.csv")


def test_damaged_files_are_reported(tmp_path, X):
    write_store(tmp_path / "store", X)
    np.save(tmp_path / "store" / "fc.npy", X[:3])
    with pytest.raises(PsychofaceError, match=r"fc.npy: holds float32 \(3, 5\), the manifest says float32 \(7, 5\)"):
        FeatureStore(tmp_path / "store").features("fc")
    (tmp_path / "store" / "manifest.json").write_text("{not json")
    with pytest.raises(PsychofaceError, match="manifest.json: unreadable manifest"):
        FeatureStore(tmp_path / "store")


def test_one_writer_at_a_time_and_folder_checks(tmp_path, X):
    writer = open_store_for_writing(tmp_path / "store", header=header(), stimuli=stimuli(), layers={"fc": LAYER})
    with pytest.raises(PsychofaceError, match="another extraction is writing to this store"):
        open_store_for_writing(tmp_path / "store", header=header(), stimuli=stimuli(), layers={"fc": LAYER})
    writer.close(finished=False)
    open_store_for_writing(tmp_path / "store", header=header(), stimuli=stimuli(), layers={"fc": LAYER}).close(True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.npy").write_text("mine")
    for overwrite in (False, True):  # --overwrite never deletes files of a folder that is not a store
        with pytest.raises(PsychofaceError, match="other: folder is not empty and holds no feature store"):
            open_store_for_writing(tmp_path / "other", header=header(), stimuli=stimuli(), layers={"fc": LAYER},
                                   overwrite=overwrite)
    assert (tmp_path / "other" / "notes.npy").read_text() == "mine"


def test_refuses_other_preprocessing_and_records_runs(tmp_path, X):
    write_store(tmp_path / "store", X)
    other = header()
    other["preprocessing"] = {"resize": 232, "crop": 224}
    with pytest.raises(PsychofaceError, match=r"preprocessed differently \(resize 256 vs 232\); use a new --store"):
        open_store_for_writing(tmp_path / "store", header=other, stimuli=stimuli(), layers={"fc": LAYER})
    writer = open_store_for_writing(tmp_path / "store", header=header(), stimuli=stimuli(), layers={"fc": LAYER},
                                    run={"seed": 0, "device": "cpu"})
    writer.close(finished=True)
    runs = FeatureStore(tmp_path / "store").manifest["runs"]
    assert len(runs) == 2 and runs[1]["device"] == "cpu" and runs[1]["layers"] == ["fc"]


def test_progress_is_committed_only_on_commit(tmp_path, X):
    writer = open_store_for_writing(tmp_path / "store", header=header(), stimuli=stimuli(), layers={"fc": LAYER})
    writer.write("fc", 0, X[:3])
    writer.write("fc", 3, X[3:6])
    assert FeatureStore(tmp_path / "store").rows_done("fc") == 0
    writer.commit(6, ["fc"])
    writer.close(finished=False)
    fs = FeatureStore(tmp_path / "store")
    assert fs.rows_done("fc") == 6
    writer = open_store_for_writing(tmp_path / "store", header=header(), stimuli=stimuli(), layers={"fc": LAYER})
    assert writer.rows_done("fc") == 6
    writer.write("fc", 3, X[3:])  # rows already committed are not rewritten
    writer.commit(N, ["fc"])
    writer.close(finished=True)
    np.testing.assert_array_equal(FeatureStore(tmp_path / "store").features("fc"), X)


def test_export_round_trips(tmp_path, X):
    fs = write_store(tmp_path / "store", X)
    ids = fs.stimulus_ids

    out = export_features(fs, "fc", tmp_path / "x.csv")
    df = pd.read_csv(out, dtype={"id": str})
    assert list(df.columns) == ["id"] + [f"f{j}" for j in range(NF)] and list(df["id"]) == ids
    np.testing.assert_array_equal(df.iloc[:, 1:].to_numpy(np.float32), X)  # float32 survives text exactly

    out = export_features(tmp_path / "store", "fc", tmp_path / "x.parquet")
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == ids and table.schema.metadata[b"psychoface.layer"] == b"fc"
    assert table.schema.field("features").type == pa.list_(pa.float32(), NF)  # fixed-size list, one row each
    assert table.schema.metadata[b"psychoface.n_features"] == str(NF).encode()
    np.testing.assert_array_equal(np.stack(pd.read_parquet(out)["features"].to_numpy()), X)
    import polars as pl  # the fixed-size list column is what polars reads directly: an Array column

    frame = pl.read_parquet(out)
    assert frame.schema["features"] == pl.Array(pl.Float32, NF) and frame["id"].to_list() == ids
    np.testing.assert_array_equal(frame["features"].to_numpy(), X)

    out = export_features(fs, "fc", tmp_path / "x.npy")
    np.testing.assert_array_equal(np.load(out), X)
    assert (tmp_path / "x.ids.txt").read_text().splitlines() == ids

    out = export_features(fs, "fc", tmp_path / "x.mat")
    mat = loadmat(out)
    np.testing.assert_array_equal(mat["X"], X)
    assert [str(i[0]) for i in mat["ids"].ravel()] == ids
    assert str(mat["layer"][0]) == "fc" and str(mat["model"][0]) == "toy"

    out = export_features(fs, "fc", tmp_path / "features.data", format="csv")
    assert pd.read_csv(out).shape == (N, NF + 1)
    with pytest.raises(PsychofaceError, match=r"x.xlsx: unknown export format '.xlsx'; use a .csv, .parquet"):
        export_features(fs, "fc", tmp_path / "x.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary files left


def test_exports_in_chunks_report_progress_and_equal_the_store(tmp_path, X, monkeypatch):
    import psychoface.features.store as store_module

    fs = write_store(tmp_path / "store", X)
    monkeypatch.setattr(store_module, "EXPORT_CHUNK_BYTES", 4 * NF * 3)  # 3 rows per chunk
    for suffix in (".parquet", ".csv", ".npy"):
        seen = []
        out = export_features(fs, "fc", tmp_path / f"x{suffix}", progress=lambda done, total: seen.append((done, total)))
        assert seen == [(min(k + 3, N), N) for k in range(0, N, 3)], suffix
        if suffix == ".parquet":
            assert pq.ParquetFile(out).num_row_groups == len(seen)
            got = pq.read_table(out).column("features").combine_chunks().flatten().to_numpy().reshape(N, NF)
        elif suffix == ".csv":
            got = pd.read_csv(out, dtype={"id": str}).iloc[:, 1:].to_numpy(np.float32)
        else:
            got = np.load(out)
        np.testing.assert_array_equal(got, X)


# --- random weights: the initialised state_dict's SHA-256 -------------------------------------------

def random_header(sha256, torch_version="2.0.0"):
    out = header()
    out["weights"] = {"spec": "none", "description": "random init, seed 0", "sha256": sha256}
    out["versions"] = {"torch": torch_version}
    return out


def test_random_weights_with_another_initial_state_are_refused(tmp_path):
    writer = open_store_for_writing(tmp_path / "store", header=random_header("a" * 64), stimuli=stimuli(),
                                    layers={"fc": LAYER})
    writer.close(finished=False)  # an incomplete store: a resume must check the weights too
    with pytest.raises(PsychofaceError) as info:
        open_store_for_writing(tmp_path / "store", header=random_header("b" * 64, "2.9.0"), stimuli=stimuli(),
                               layers={"fc": LAYER})
    message = str(info.value)
    assert f"holds features of 'random init, seed 0' whose initial weights have sha256 {'a' * 64}" in message
    assert f"now initialises weights with sha256 {'b' * 64} (torch 2.0.0 then, 2.9.0 now" in message
    assert message.endswith("use a new --store or --overwrite") and "\n" not in message
    open_store_for_writing(tmp_path / "store", header=random_header("a" * 64), stimuli=stimuli(),
                           layers={"fc": LAYER}).close(True)


def test_random_weights_stored_without_hash_cannot_be_checked(tmp_path, X):
    write_store(tmp_path / "store", X)  # header(): sha256 None, as psychoface wrote before recording it
    with pytest.raises(PsychofaceError, match=r"stored without the SHA-256 of the initial weights .*"
                                              r"use a new --store or --overwrite"):
        open_store_for_writing(tmp_path / "store", header=random_header("a" * 64), stimuli=stimuli(),
                               layers={"fc7": LAYER})


# --- crash windows: the manifest first, the old progress file before the new .npy ------------------

def _resume_and_fill(path, X, layers=("fc",)):
    writer = open_store_for_writing(path, header=header(), stimuli=stimuli(), layers={k: LAYER for k in layers})
    for layer in layers:
        assert writer.rows_done(layer) == 0
        writer.write(layer, 0, X)
    writer.commit(N, layers)
    writer.close(finished=True)
    fs = FeatureStore(path)
    for layer in layers:
        np.testing.assert_array_equal(fs.features(layer), X)


def test_crash_while_creating_layers_of_a_new_store_resumes(tmp_path, X, monkeypatch):
    from psychoface.features import store as store_module

    create = store_module._create_layer
    calls = []

    def crash_on_second(*args):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after the first layer's files exist
        create(*args)

    monkeypatch.setattr(store_module, "_create_layer", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        open_store_for_writing(tmp_path / "store", header=header(), stimuli=stimuli(),
                               layers={"fc": LAYER, "fc7": LAYER})
    monkeypatch.setattr(store_module, "_create_layer", create)
    fs = FeatureStore(tmp_path / "store")  # a store, not "a folder that holds no feature store"
    assert fs.layers == ["fc", "fc7"] and fs.rows_done("fc") == 0 and fs.rows_done("fc7") == 0
    _resume_and_fill(tmp_path / "store", X, ("fc", "fc7"))


@pytest.mark.parametrize("crash_at", ["before the new .npy", "after the new .npy"])
def test_crash_while_recreating_a_layer_never_counts_zero_rows_complete(tmp_path, X, monkeypatch, crash_at):
    from psychoface.features import store as store_module

    path = tmp_path / "store"
    write_store(path, X)
    np.save(path / "fc.npy", X[:3])  # damaged: the next run re-creates the layer
    if crash_at == "before the new .npy":
        open_memmap = np.lib.format.open_memmap

        def crash(file, mode="r+", *args, **kwargs):  # killed as the new .npy is about to be written
            if mode == "w+":
                raise KeyboardInterrupt
            return open_memmap(file, mode, *args, **kwargs)
        monkeypatch.setattr(np.lib.format, "open_memmap", crash)
    else:
        write_json = store_module.atomic_write_json

        def crash(file, data):  # killed after the zero-filled .npy exists, before its progress file
            if str(file).endswith(".progress.json"):
                raise KeyboardInterrupt
            write_json(file, data)
        monkeypatch.setattr(store_module, "atomic_write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        open_store_for_writing(path, header=header(), stimuli=stimuli(), layers={"fc": LAYER})
    monkeypatch.undo()
    fs = FeatureStore(path)
    assert fs.rows_done("fc") == 0 and not fs.is_complete("fc")
    with pytest.raises(PsychofaceError, match=r"layer fc .* is incomplete \(0 of 7 images\)"):
        fs.features("fc")
    _resume_and_fill(path, X)


def test_leftover_manifest_temporary_file_is_not_foreign(tmp_path, X):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / ".manifest.json.abc123.tmp").write_text("{")  # killed while writing the manifest
    write_store(tmp_path / "store", X)
    np.testing.assert_array_equal(FeatureStore(tmp_path / "store").features("fc"), X)


def test_overwrite_removes_progress_before_features_and_manifest_last(tmp_path, X, monkeypatch):
    from psychoface.features import store as store_module

    write_store(tmp_path / "store", X, layers=("fc", "fc7"))
    removed = []
    unlink = type(tmp_path).unlink

    def record(self, *args, **kwargs):
        removed.append(self.name)
        return unlink(self, *args, **kwargs)

    monkeypatch.setattr(type(tmp_path), "unlink", record)
    store_module._remove_store_files(tmp_path / "store")
    monkeypatch.undo()
    assert removed[-1] == "manifest.json"
    assert max(removed.index(f"{k}.progress.json") for k in ("fc", "fc7")) < \
        min(removed.index(f"{k}.npy") for k in ("fc", "fc7"))


# --- unwritable places: one line naming the path ---------------------------------------------------

def test_store_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PsychofaceError, match=r"afile/store: cannot create or write the feature store folder "
                                              r"\(Not a directory\); choose a --store folder you can write to"):
        open_store_for_writing(tmp_path / "afile" / "store", header=header(), stimuli=stimuli(),
                               layers={"fc": LAYER})


def test_export_into_a_folder_that_cannot_be_created(tmp_path, X):
    fs = write_store(tmp_path / "store", X)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PsychofaceError, match=r"afile/sub/x.csv: cannot write the export file \(Not a directory\); "
                                              r"choose a folder you can write to"):
        export_features(fs, "fc", tmp_path / "afile" / "sub" / "x.csv")


def test_cli_store_and_export_errors_are_one_line(tmp_path, X, monkeypatch):
    from typer.testing import CliRunner

    from psychoface.cli import app

    write_store(tmp_path / "store", X)
    (tmp_path / "afile").write_text("x")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["features", "export", "fc", str(tmp_path / "afile" / "x.npy"),
                                      "--store", str(tmp_path / "store")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "afile/x.npy: cannot write the export file" in lines[0]

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (40, 48), (90, 40, 20)).save(images / "face0.png")
    result = CliRunner().invoke(app, ["extract", "--images", str(images), "--model", "mobilenet_v3_small",
                                      "--weights", "none", "--layers", "logits", "--device", "cpu",
                                      "--workers", "0", "--store", str(tmp_path / "afile" / "store")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "afile/store: cannot create or write the feature store folder" in lines[0]
