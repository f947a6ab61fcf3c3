"""Interventions: edit every face, run the edited image through the same preprocessing, network and
readout, and test the change of each output with paired tests; a dose-response slope where the edit has a
strength.

Streaming: faces are read, edited and scored in batches of ``batch_size``; the original images are scored
once, so an intervention costs one extra forward pass per face and strength, and memory holds one batch.

Dose-response: for an edit with several strengths, each face's change is regressed on the strength through
the origin (strength 0 is the unedited face, change 0): slope_f = sum(s * change_s) / sum(s^2). The mean
slope over faces is tested with the paired sign-flip permutation test and its t interval (the faces are
the units, as in the paired tests).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.analyses.properties.paired import paired_rows
from psychoface.analyses.inference import correct_p, correction_label
from psychoface.analyses.properties.association import share_significant


def run_interventions(load, ids, respond, edits, *, landmarks=None, output_names=None, batch_size=16,
                      progress=None) -> pd.DataFrame:
    """Output changes of every face under every edit and strength.

    ``load(i)`` returns face i's PIL image; ``respond(images)`` returns an (n_images, n_outputs) array of the
    network's outputs; ``edits``: :class:`~psychoface.analyses.properties.edits.Edit` objects; ``landmarks``:
    (n, 68, 2) or None (a face whose landmarks are NaN gets missing changes under edits that need them).
    Returns a long DataFrame ``stimulus, intervention, strength, output, original,
    edited, change``.
    """
    ids = [str(i) for i in ids]
    for edit in edits:  # fail before any work when landmarks are missing
        if edit.needs_landmarks and landmarks is None:
            edit.apply(None, None, None)
    frames = []
    for b0 in range(0, len(ids), batch_size):
        idx = list(range(b0, min(b0 + batch_size, len(ids))))
        images = [load(i).convert("RGB") for i in idx]
        base = np.asarray(respond(images), dtype=float)
        names = output_names or [f"output_{j}" for j in range(base.shape[1])]
        for edit in edits:
            usable = [not (edit.needs_landmarks and np.isnan(landmarks[i]).any()) for i in idx]
            for s in edit.strengths:
                edited = [edit.apply(img, None if landmarks is None else landmarks[i], s)
                          for img, i, ok in zip(images, idx, usable) if ok]
                out = np.full(base.shape, np.nan)  # faces without landmarks: no edit that needs them
                if edited:
                    out[np.flatnonzero(usable)] = np.asarray(respond(edited), dtype=float)
                for j, name in enumerate(names):
                    frames.append(pd.DataFrame({
                        "stimulus": [ids[i] for i in idx], "intervention": edit.name,
                        "strength": np.nan if s is None else s, "output": name,
                        "original": base[:, j], "edited": out[:, j], "change": out[:, j] - base[:, j]}))
        if progress is not None:
            progress(len(idx))
    return pd.concat(frames, ignore_index=True)


def _key(output, intervention, strength):
    return f"{output} | {intervention}" + ("" if pd.isna(strength) else f" {strength:g}")


def intervention_tests(changes: pd.DataFrame, *, n_permutations=10_000, ci_level=0.95, correction="holm",
                       family="outputs x interventions x strengths", seed=0) -> pd.DataFrame:
    """Paired tests of the change per output, intervention and strength (one row each)."""
    correction_name = correction_label(correction)
    keys = changes[["output", "intervention", "strength"]].drop_duplicates().reset_index(drop=True)
    key = [_key(*k) for k in zip(changes["output"], changes["intervention"], changes["strength"])]
    wide = changes.assign(key=key).pivot(index="stimulus", columns="key", values="change")
    cols = [_key(k.output, k.intervention, k.strength) for k in keys.itertuples()]
    res = paired_rows(wide[cols], n_permutations=n_permutations, ci_level=ci_level, seed=seed)
    out = pd.concat([keys, res.drop(columns="comparison")], axis=1)
    out["p_corr"] = correct_p(out["p"].to_numpy(), correction)
    out.attrs["psychoface"] = _attrs("intervention_tests", seed, ci_level, correction_name, family, n_permutations,
                                     "t interval of the mean change", out)
    return out


def dose_response(changes: pd.DataFrame, *, n_permutations=10_000, ci_level=0.95, correction="holm",
                  family="outputs x graded interventions", seed=0) -> pd.DataFrame:
    """Per output and graded edit: the mean over faces of each face's slope of change on strength."""
    correction_name = correction_label(correction)
    graded = changes.dropna(subset=["strength"])
    slopes = {}
    for (out, edit), part in graded.groupby(["output", "intervention"], sort=False):
        if part["strength"].nunique() < 2:
            continue
        s = part["strength"].to_numpy(float)
        num = pd.Series(s * part["change"].to_numpy(float)).groupby(part["stimulus"].to_numpy()).sum()
        den = pd.Series(s * s).groupby(part["stimulus"].to_numpy()).sum()
        slopes[(out, edit)] = num / den
    if not slopes:
        return pd.DataFrame()
    wide = pd.DataFrame(slopes)
    res = paired_rows(wide, n_permutations=n_permutations, ci_level=ci_level, seed=seed)
    res.insert(0, "output", [k[0] for k in slopes])
    res.insert(1, "intervention", [k[1] for k in slopes])
    res = res.drop(columns="comparison").rename(columns={
        "mean_change": "slope", "median_change": "median_slope", "sd_change": "sd_slope"})
    res["p_corr"] = correct_p(res["p"].to_numpy(), correction)
    res.attrs["psychoface"] = _attrs("intervention_dose_response", seed, ci_level, correction_name, family,
                                     n_permutations, "t interval of the mean per-face slope", res)
    res.attrs["psychoface"]["slope"] = "per face: change regressed on strength through the origin"
    return res


def _attrs(analysis, seed, ci_level, correction_name, family, n_permutations, ci_method, df):
    return {
        "analysis": analysis,
        "seed": seed,
        "ci_level": ci_level,
        "ci_method": ci_method,
        "p_method": "paired sign-flip permutation test (two-sided); Wilcoxon signed-rank test beside it",
        "correction": correction_name,
        "family": family,
        "n_permutations": n_permutations,
        "share_significant": share_significant(df["p_corr"]),
    }
