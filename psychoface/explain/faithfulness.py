"""Is a map faithful to the model, and does it depend on the model at all?

* :func:`deletion_insertion`: deletion and insertion curves (Petsiuk et al., 2018). Pixels are ranked by
  their attribution (most positive first) or at random; in ``steps`` equal steps the top-ranked fraction is
  set to the grey baseline (deletion, starting from the image) or copied from the image onto the baseline
  (insertion, starting from the baseline), and the model's output is recorded after each step, the start
  included. A faithful map makes the output fall faster under deletion and rise faster under insertion than
  a random order; :func:`psychoface.analyses.explain.faithfulness` tests the AUCs.
* :func:`cascading_randomisation`: the cascading model-randomisation check (Adebayo et al., 2018): the
  readout's weights are replaced by Gaussian ones of the same norm, then the network's parameterised layers
  up to the explained layer are re-initialised (their ``reset_parameters``, torch's default
  initialisation, seeded) cumulatively from the top in ``stages`` groups; maps are recomputed at each stage.
  Maps that stay alike (similarity by :func:`psychoface.analyses.explain.spearman_maps`) do not depend on what
  the model learned. The data-randomisation check compares maps of the readout fitted on permuted ratings
  with the real ones (see :mod:`psychoface.explain.run`).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


def deletion_insertion(model, images: torch.Tensor, maps: np.ndarray, *, steps: int = 10, seed: int = 0,
                       batch_size: int = 32) -> dict:
    """Curves ``{"deletion": (attributed, random), "insertion": (attributed, random)}``, each (n, steps + 1).

    ``maps`` (n, H, W) at the images' resolution; the baseline is the grey image (0 after normalisation).
    """
    rng = np.random.default_rng(seed)
    n, _, H, W = images.shape
    npx = H * W
    cuts = np.round(np.linspace(0, npx, steps + 1)).astype(int)
    out = {k: (np.empty((n, steps + 1)), np.empty((n, steps + 1))) for k in ("deletion", "insertion")}
    for i in range(n):
        orders = (np.argsort(-maps[i].ravel(), kind="stable"), rng.permutation(npx))
        for j, order in enumerate(orders):
            rank = np.empty(npx, dtype=np.int64)
            rank[order] = np.arange(npx)
            keep = torch.from_numpy(rank[None, :] >= cuts[:, None]).view(steps + 1, 1, H, W)  # not yet removed
            x = images[i:i + 1]
            batch = torch.cat([x * keep, x * ~keep])  # deletion rows, then insertion rows
            with torch.no_grad():
                f = torch.cat([model(batch[s:s + batch_size]) for s in range(0, len(batch), batch_size)])
            f = f.double().numpy()
            out["deletion"][j][i] = f[: steps + 1]
            out["insertion"][j][i] = f[steps + 1:]
    return out


def randomisation_stages(model, stages: int = 4) -> list[tuple[str, list[str]]]:
    """Cumulative randomisation stages: ``[(label, module names), ...]`` from the readout down to the input."""
    names = [n for n, m in model.net.named_modules()
             if any(True for _ in m.parameters(recurse=False)) and hasattr(m, "reset_parameters")]
    upto = [n for n in names if _runs_before(n, model.module_name, names)]
    groups = np.array_split(np.arange(len(upto))[::-1], stages)
    out, done = [("readout", [])], []
    for g, idx in enumerate(groups, start=1):
        done = done + [upto[i] for i in idx]
        out.append((f"readout + top {g}/{stages} of the layers", list(done)))
    return out


def _runs_before(name, layer, names):
    """Whether module ``name`` belongs to the network up to the explained layer (module registration order)."""
    if name == layer or name.startswith(layer + "."):
        return True
    later = [n for n in names if n == layer or n.startswith(layer + ".")]
    if not later:  # the layer has no own parameters (an activation): everything registered before it
        return True
    return names.index(name) < names.index(later[0])


def randomised(model, readout: nn.Linear, modules: list[str], seed: int):
    """A deep copy of ``model`` with a Gaussian readout of ``readout``'s norm and ``modules`` re-initialised."""
    torch.manual_seed(seed)
    clone = copy.deepcopy(model)
    lin = copy.deepcopy(readout)
    with torch.no_grad():
        w = torch.randn_like(lin.weight)
        lin.weight.copy_(w * lin.weight.norm() / w.norm())
    clone.set_readout(lin)
    for name in modules:
        clone.net.get_submodule(name).reset_parameters()
    clone.net.requires_grad_(False)
    return clone


def cascading_randomisation(model, readout, images, method_fn, original_maps, *, stages: int = 4,
                            seed: int = 0) -> dict:
    """Per stage label: per-face Spearman similarity of the randomised model's maps to ``original_maps``.

    ``method_fn(model, images) -> (n, H, W)`` computes the maps with the method under test.
    """
    from psychoface.analyses.explain import spearman_maps

    out = {}
    for k, (label, modules) in enumerate(randomisation_stages(model, stages)):
        clone = randomised(model, readout, modules, seed + k)
        out[f"model randomisation: {label}"] = spearman_maps(method_fn(clone, images), original_maps)
    return out
