"""Options many analysis kinds share (a kind lists the ones it takes in its ``options``)."""

from __future__ import annotations

from psychoface.kinds.registry import Option

LAYERS = Option("layers", ("all",), "Layer(s), comma-separated, or all (a layer profile).", ("--layer", "-l"),
                list)
ATTRIBUTES = Option("attributes", None, "Comma-separated attributes (default: all).", ("--attributes", "-a"), list)
SEED = Option("seed", None, "Seed of every stochastic step (psychoface.toml: seed).", type=int, study_key="seed")
STORE = Option("store", None, "Feature store folder (psychoface.toml: store).", study_key="store")
RATINGS = Option("ratings", None, "Trial-level ratings file (psychoface.toml: ratings).", study_key="ratings")
BOOTSTRAP = Option("n_bootstrap", None, "Bootstrap resamples (psychoface.toml: n_bootstrap).", ("--bootstrap",), int,
                   study_key="n_bootstrap")
PERMUTATIONS = Option("n_permutations", None, "Permutations (psychoface.toml: n_permutations).", ("--permutations",),
                      int, study_key="n_permutations")
CORRECTION = Option("correction", None, "holm or fdr_bh (psychoface.toml: correction).", study_key="correction")
