"""Paired conditions in the data: the same identity photographed under two conditions (neutral and smiling,
with and without glasses), declared in the metadata by an identity column and a condition column.

For each output (and each human rating, where rated) the change from condition ``a`` to condition ``b``
within each identity is tested with the paired tests of :mod:`.paired`; the network's rows and the humans'
rows stand side by side (``source``), corrected together across the table.
"""

from __future__ import annotations

import pandas as pd

from psychoface.analyses.inference import correct_p, correction_label
from psychoface.analyses.properties.association import share_significant
from psychoface.analyses.properties.paired import paired_rows
from psychoface.errors import PsychofaceError


def pair_changes(values: pd.DataFrame, metadata: pd.DataFrame, identity: str, condition: str, levels=None):
    """Within-identity changes (condition b minus a) of every column of ``values`` (index stimulus)."""
    for col in (identity, condition):
        if col not in metadata.columns:
            raise PsychofaceError(f"metadata: no column {col!r} for the paired conditions; name an existing column")
    meta = metadata[[identity, condition]].dropna()
    found = sorted(meta[condition].astype(str).unique())
    levels = list(levels) if levels else found
    if len(levels) != 2 or any(lev not in found for lev in levels):
        raise PsychofaceError(
            f"metadata column {condition!r} has levels {', '.join(found)}; name exactly two of them as the "
            "paired conditions"
        )
    meta = meta[meta[condition].astype(str).isin(levels)]
    dup = meta.duplicated([identity, condition])
    if dup.any():
        row = meta[dup].iloc[0]
        raise PsychofaceError(
            f"metadata: identity {row[identity]!r} has more than one face in condition {row[condition]!r}; "
            "keep one face per identity and condition"
        )
    a = meta[meta[condition].astype(str) == levels[0]].reset_index().set_index(identity)["stimulus"]
    b = meta[meta[condition].astype(str) == levels[1]].reset_index().set_index(identity)["stimulus"]
    both = a.index.intersection(b.index)
    if len(both) < 3:
        raise PsychofaceError(
            f"metadata: {len(both)} identities have a face in both {levels[0]!r} and {levels[1]!r}; a paired "
            "test needs at least 3"
        )
    vb = values.reindex(b[both].to_numpy()).to_numpy()
    va = values.reindex(a[both].to_numpy()).to_numpy()
    return pd.DataFrame(vb - va, index=pd.Index(both, name=identity), columns=values.columns), levels


def paired_conditions(outputs: pd.DataFrame, humans: pd.DataFrame | None, metadata: pd.DataFrame, identity: str,
                      condition: str, levels=None, *, n_permutations=10_000, ci_level=0.95, correction="holm",
                      family="outputs and ratings", seed=0) -> pd.DataFrame:
    """Paired tests of the condition change of each output and each human rating."""
    correction_name = correction_label(correction)
    frames = []
    for source, values in (("network", outputs), ("humans", humans)):
        if values is None or values.empty:
            continue
        diffs, levels_used = pair_changes(values, metadata, identity, condition, levels)
        diffs = diffs.dropna(axis=1, how="all")
        res = paired_rows(diffs, n_permutations=n_permutations, ci_level=ci_level, seed=seed)
        res.insert(0, "source", source)
        frames.append(res.rename(columns={"comparison": "output"}))
    df = pd.concat(frames, ignore_index=True)
    df.insert(1, "contrast", f"{levels_used[1]} - {levels_used[0]}")
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": "paired_conditions",
        "seed": seed,
        "ci_level": ci_level,
        "ci_method": "t interval of the mean change",
        "p_method": "paired sign-flip permutation test over identities (two-sided); Wilcoxon signed-rank test "
        "beside it",
        "correction": correction_name,
        "family": family,
        "n_permutations": n_permutations,
        "identity": identity,
        "condition": condition,
        "share_significant": share_significant(df["p_corr"]),
    }
    return df
