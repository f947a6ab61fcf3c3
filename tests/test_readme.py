"""The README's Python API example runs as written (on synthetic features and ratings in place of a study's
files), so that its function names and arguments stay true."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

import psychoface
from psychoface.data.ratings import Ratings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(monkeypatch):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    rng = np.random.default_rng(0)
    ids = [str(i) for i in range(30)]
    X = rng.standard_normal((30, 50)).astype(np.float32)
    trials = pd.DataFrame(
        [(s, a, float(X[int(s), 0] * 10 + rng.normal(0, 5)) if a == "trust" else float(rng.normal(50, 10)))
         for s in ids for a in ("trust", "happy") for _ in range(6)],
        columns=["stimulus", "attribute", "rating"],
    )
    ratings = Ratings(trials.groupby(["stimulus", "attribute"])["rating"].mean().unstack(), trials)
    monkeypatch.setattr(psychoface, "load_features", lambda store, layer: (X, ids), raising=False)
    monkeypatch.setattr(psychoface, "load_ratings", lambda path: ratings, raising=False)
    namespace: dict = {}
    exec(compile(block.replace("n_permutations=1000", "n_permutations=99"), str(README), "exec"), namespace)
    assert {"trust", "happy"} == set(namespace["rel"]["attribute"])
    assert set(namespace["rsa"]["attribute"]) == {"trust", "happy"}
    assert set(namespace["fit"]["attribute"]) == {"trust", "happy"}
    assert "Table" in namespace["pf"].apa_table_for(namespace["rsa"]).to_markdown()
