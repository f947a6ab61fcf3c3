"""Feature store: reading, chunked iteration, incomplete layers, locking, export round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
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
    np.testing.assert_array_equal(table.drop(["id"]).to_pandas().to_numpy(), X)

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
