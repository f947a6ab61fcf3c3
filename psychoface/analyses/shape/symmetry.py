"""Left-right symmetry of face shape: mirror images, symmetric and asymmetric components, asymmetry scores.

The mirror image of a configuration is its reflection (x -> -x) with the left and right points relabelled
(each point takes its partner's place; Mardia, Bookstein & Moreton, 2000; Klingenberg, Barluenga & Meyer,
2002). Then:

- asymmetry of a face: the Kendall shape distance rho between the configuration and its relabelled mirror
  image (0 for a perfectly symmetric face); a face property that later analyses use.
- symmetric component: the midpoint of the geodesic between the configuration and its aligned mirror
  image (exactly symmetric); asymmetric component: the configuration's log map at its symmetric component.
- directional asymmetry: the mean over faces of the asymmetric parts (t - t') / 2 of the tangent
  coordinates t of the faces and t' of their mirror images at the symmetric mean shape (the Fréchet mean of
  all faces and their mirror images, by the Karcher iteration of :func:`.kendall.batched_means`); tested
  with p = (b + 1)/(N + 1) by randomly swapping each face with
  its mirror image (sign flips of its asymmetric part), which is exact when faces and mirror images are
  exchangeable. Fluctuating asymmetry of a face: the norm of its asymmetric part minus the directional
  asymmetry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.analyses.inference import permutation_p
from psychoface.analyses.shape.correlation import check_options
from psychoface.analyses.shape.kendall import (
    log_rows,
    MEAN_TOLERANCE,
    ShapeFit,
    align,
    batched_means,
    exp_map,
    log_map,
    rho,
    to_complex,
    to_real,
)
from psychoface.data.landmarks import check_mirror
from psychoface.errors import PsychofaceError

ANALYSIS = "shape directional asymmetry"
P_METHOD = "random swaps of each face with its mirror image (sign flips), p = (b + 1)/(N + 1)"


def _mirror_map(mirror, k: int) -> np.ndarray:
    if mirror is None:
        raise PsychofaceError(
            "symmetry needs a left-right pairing of the landmarks; it is built in for the dlib68 and webmorph189 "
            "templates, give it for others as pairs (e.g. --pairs 0-16,1-15)")
    mirror = check_mirror(mirror, k)
    if np.array_equal(mirror, np.arange(k)):
        raise PsychofaceError("the left-right pairing pairs no points; give at least one pair (e.g. 0-16)")
    return mirror


def mirror_images(P: np.ndarray, mirror) -> np.ndarray:
    """Reflected (x -> -x) and relabelled pre-shapes (n, k, 2)."""
    m = _mirror_map(mirror, P.shape[1])
    Q = P[:, m].copy()
    Q[..., 0] *= -1
    return Q



def components(P: np.ndarray, mirror) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(asymmetry rho per face, symmetric components (n, k, 2), asymmetric components (n, k, 2) as the log
    map of each face at its symmetric component)."""
    M = mirror_images(P, mirror)
    asym = rho(P, M)
    Z, Zm = to_complex(P), to_complex(M)
    half = to_complex(exp_map(0.5 * to_real(log_rows(Z, Zm)), P))
    anti = log_rows(half, Z)
    return asym, to_real(half), to_real(anti)


def symmetry(fit: ShapeFit, mirror, *, n_permutations: int = 10_000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Asymmetry of every face and the test of directional asymmetry.

    Returns (per-face table: stimulus, asymmetry (rho to the relabelled mirror image), fluctuating_asymmetry;
    one-row test table: n, directional_asymmetry (norm of the mean asymmetric part, rad), share_directional
    (its square over the mean squared asymmetric part), mean_asymmetry, p).
    """
    check_options(n_permutations, 0, 0.95, "holm")
    P = fit.preshapes
    mirror = _mirror_map(mirror, P.shape[1])
    asym, _, _ = components(P, mirror)
    M = mirror_images(P, mirror)
    both = to_complex(np.concatenate([P, M]))
    start = to_complex(fit.mean)
    m, _, _ = batched_means(both, np.full((1, len(both)), 1.0 / len(both)), start, tol=MEAN_TOLERANCE)
    sym_mean = to_real(m[0])
    T = log_map(align(P, sym_mean), sym_mean).reshape(len(P), -1)
    Tm = log_map(align(M, sym_mean), sym_mean).reshape(len(P), -1)
    A = (T - Tm) / 2
    da = A.mean(axis=0)
    fa = np.sqrt(((A - da) ** 2).sum(axis=1))
    observed = float(np.sqrt((da**2).sum()))
    p = np.nan
    if n_permutations:
        rng = np.random.default_rng(seed)
        null = np.empty(n_permutations)
        for start in range(0, n_permutations, 1000):
            signs = rng.choice([-1.0, 1.0], size=(min(1000, n_permutations - start), len(P)))
            null[start:start + len(signs)] = np.sqrt((((signs @ A) / len(P)) ** 2).sum(axis=1))
        p = float(permutation_p(observed, null, alternative="greater"))
    faces = pd.DataFrame({"stimulus": fit.ids, "asymmetry": asym, "fluctuating_asymmetry": fa})
    test = pd.DataFrame([{
        "n": len(P), "directional_asymmetry": observed,
        "share_directional": observed**2 / float((A**2).sum(axis=1).mean()),
        "mean_asymmetry": float(asym.mean()), "p": p,
    }])
    test.attrs["psychoface"] = {
        "analysis": ANALYSIS, "seed": seed, "ci_level": None, "ci_method": None, "p_method": P_METHOD,
        "correction": "none", "family": "directional asymmetry", "n_permutations": n_permutations,
        "pairs": [(i, int(j)) for i, j in enumerate(mirror) if i < j],
    }
    return faces, test
