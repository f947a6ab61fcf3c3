"""Benchmark: ``features export`` of a conv5-sized layer (100,352 float32 features) to Parquet and CSV.

The store holds ``--n`` stimuli of synthetic conv5 features: ReLU of normal values shifted so that about
70% are zero (VGG16 conv5 after its ReLU is mostly zeros; compression depends on that). Contenders, each
in a fresh subprocess (peak resident memory is its own ``ru_maxrss``):

- ``parquet``: psychoface's export, one row per stimulus, the features in one fixed-size list column;
- ``csv``: psychoface's export, one column per feature, written in chunks by Arrow's CSV writer;
- ``wide-parquet`` (the previous exporter, the baseline): one float32 column per feature (100,353
  columns, one row group of all ``--n`` stimuli, as it wrote up to 1,024 stimuli).

Memory is flat when the peak at ``--n`` equals the peak at half of it (``--flat`` runs both; both should
exceed one chunk of 64 MiB, 167 conv5 rows, below which the peak grows with the chunk).

    python benchmarks/export.py --n 500 --flat
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NF = 512 * 14 * 14


def make_store(path: Path, n: int) -> None:
    import numpy as np

    from psychoface.features.store import open_store_for_writing

    header = {"model": "vgg16", "weights": {"spec": "none", "description": "synthetic", "sha256": None},
              "preprocessing": {}, "seed": 0, "versions": {}}
    stimuli = [{"id": str(i + 1), "path": f"{i + 1}.jpg", "sha256": f"{i:064x}"} for i in range(n)]
    layer = {"module": "features.29", "shape": [512, 14, 14], "pooling": "none", "n_features": NF,
             "dtype": "float32"}
    writer = open_store_for_writing(path, header=header, stimuli=stimuli, layers={"conv5": layer})
    rng = np.random.default_rng(0)
    for start in range(0, n, 50):
        stop = min(n, start + 50)
        writer.write("conv5", start, np.maximum(rng.standard_normal((stop - start, NF), np.float32) - 0.52, 0))
        writer.commit(stop, ["conv5"])
    writer.close(finished=True)


def wide_parquet(fs, out: Path) -> None:
    """The previous exporter: one float32 column per feature, 1,024-row chunks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = fs.stimulus_ids
    schema = pa.schema([("id", pa.string())] + [(f"f{j}", pa.float32()) for j in range(NF)])
    X = fs.features("conv5")
    with pq.ParquetWriter(out, schema) as writer:
        columns = [pa.array(ids, pa.string())] + [pa.array(X[:, j]) for j in range(NF)]
        writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def worker(kind: str, store: Path, out: Path) -> dict:
    from psychoface.features.store import FeatureStore, export_features

    fs = FeatureStore(store)
    t0 = time.perf_counter()
    if kind == "wide-parquet":
        wide_parquet(fs, out)
    else:
        export_features(fs, "conv5", out)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": fs.n_stimuli,
            "bytes": out.stat().st_size, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(kind: str, store: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--store", str(store), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--flat", action="store_true", help="also export a tenth of the stimuli (memory)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.store, args.out)))
        return
    sizes = [args.n // 2, args.n] if args.flat else [args.n]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in sizes:
            sys.path.insert(0, str(REPO))
            make_store(tmp / f"store{n}", n)
            print(f"\n{n} stimuli x {NF:,} features (float32 {n * NF * 4 / 2**20:,.0f} MiB); "
                  f"load average {os.getloadavg()}")
            base = None
            for kind, suffix in (("wide-parquet", ".parquet"), ("parquet", ".parquet"), ("csv", ".csv")):
                if kind == "wide-parquet" and n != args.n:
                    continue
                out = tmp / f"{kind}{n}{suffix}"
                r = run(kind, tmp / f"store{n}", out)
                line = (f"  {kind:13s} {r['seconds']:.1f} s for {n} rows, {r['bytes'] / 2**20:,.1f} MiB "
                        f"({r['bytes'] / n / 2**10:,.0f} KiB/row), peak {r['peak_mib']:.0f} MiB")
                if kind == "wide-parquet":
                    base = r["seconds"]
                elif base:
                    line += f"; {base / r['seconds']:.1f}x the wide Parquet"
                print(line, flush=True)
                out.unlink()
            print(f"  load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
