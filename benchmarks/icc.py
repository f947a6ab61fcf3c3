"""Cost of the block-wise ICC (psychoface.analyses.icc.icc): complete blocks (pingouin's ANOVA) against
incomplete blocks (variance components of crossed random effects, statsmodels MixedLM, dense design), by
design size. Run on demand: `python benchmarks/icc.py`; results go into benchmarks/README.md."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from psychoface.analyses.icc import icc


def design(n_stimuli: int, n_raters: int, keep: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s, r = np.meshgrid(np.arange(n_stimuli), np.arange(n_raters), indexing="ij")
    mask = rng.random(s.shape) < keep
    s, r = s[mask], r[mask]
    y = rng.standard_normal(n_stimuli)[s] + 0.5 * rng.standard_normal(n_raters)[r] + rng.standard_normal(s.size)
    return pd.DataFrame({"stimulus": s.astype(str), "rater": r.astype(str), "attribute": "a", "rating": y})


def main() -> None:
    print("stimuli raters kept ratings design seconds")
    for n_s, n_r, keep in ((50, 200, 1.0), (100, 200, 1.0), (50, 40, 0.5), (100, 60, 0.5), (200, 100, 0.3),
                           (400, 200, 0.2)):
        data = design(n_s, n_r, keep)
        start = time.perf_counter()
        res = icc(data)
        took = time.perf_counter() - start
        print(n_s, n_r, keep, len(data), res.loc[0, "design"], f"{took:.2f}")


if __name__ == "__main__":
    main()
