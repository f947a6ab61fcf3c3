"""Analysis commands: reliability, predict, correlate, compare, rsa.

Each builds a :class:`~psychoface.reports.sections.Section` (the same code path as ``psychoface run``),
prints its APA tables and sentences, and saves tables, raw results, figures and provenance to
``--save`` (default ``results/<command>/`` in the study folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from psychoface.cli.common import ConfigOption, SeedOption, StoreOption, console, handle_errors, split_list
from psychoface.config import load_config

AttributesOption = typer.Option(None, "--attributes", "-a", help="Comma-separated attributes (default: all).")
PermutationsOption = typer.Option(None, "--permutations", help="Permutations (psychoface.toml: n_permutations).")
BootstrapOption = typer.Option(None, "--bootstrap", help="Bootstrap resamples (psychoface.toml: n_bootstrap).")
CorrectionOption = typer.Option(None, "--correction", help="holm or fdr_bh (psychoface.toml: correction).")
SaveOption = typer.Option(None, "--save", help="Folder for tables, figures and provenance [default: results/COMMAND].")
NoSaveOption = typer.Option(False, "--no-save", help="Print only; write no files.")


def _run(kind: str, config, overrides: dict, save: Optional[Path], no_save: bool, **options):
    from psychoface.reports.apa import to_rich
    from psychoface.reports.sections import build_section, save_section

    cfg = load_config(config, **overrides)
    folder = None if no_save else (save or cfg.root / "results" / kind)
    section = build_section(kind, cfg, figures_dir=folder, **options)
    for i, table in enumerate(section.tables, start=1):
        table.number = i
        console.print(table.to_terminal())
        console.print()
    for sentence in section.sentences:
        console.print(to_rich(sentence), highlight=False)
    if folder is not None:
        written = save_section(section, folder, config=cfg)
        console.print(f"\nwrote {len(written)} files to {folder}", highlight=False)


@handle_errors
def reliability(
    attributes: Optional[str] = AttributesOption,
    splits: int = typer.Option(100, "--splits", help="Random split-halves averaged per attribute."),
    bootstrap: Optional[int] = BootstrapOption,
    seed: Optional[int] = SeedOption,
    config: Optional[Path] = ConfigOption,
    ratings: Optional[str] = typer.Option(None, help="Trial-level ratings file (psychoface.toml: ratings)."),
    save: Optional[Path] = SaveOption,
    no_save: bool = NoSaveOption,
):
    """Reliability of the ratings: split-half, ICC and noise ceilings.

    Split-half reliability of each attribute's mean rating (the split-half correlation averaged over
    random splits, then Spearman-Brown corrected; bootstrap CI over stimuli), its noise ceiling, and
    ICCs when the ratings carry rater ids. Needs trial-level ratings.
    """
    _run("reliability", config, dict(ratings=ratings, n_bootstrap=bootstrap, seed=seed), save, no_save,
         attributes=split_list(attributes), n_splits=splits)


@handle_errors
def predict(
    layer: str = typer.Option("all", "--layer", "-l", help="Layer(s), comma-separated, or all (a layer profile)."),
    attributes: Optional[str] = AttributesOption,
    folds: int = typer.Option(10, help="Outer cross-validation folds."),
    repeats: int = typer.Option(1, help="Repetitions of the cross-validation with new random folds."),
    permutations: int = typer.Option(1000, "--permutations", help="Refitting permutations for p."),
    bootstrap: Optional[int] = BootstrapOption,
    correction: Optional[str] = CorrectionOption,
    seed: Optional[int] = SeedOption,
    config: Optional[Path] = ConfigOption,
    store: Optional[str] = StoreOption,
    save: Optional[Path] = SaveOption,
    no_save: bool = NoSaveOption,
):
    """Predict each attribute from a layer (cross-validated ridge), against the noise ceiling.

    Out-of-fold r and R², bootstrap CI, refitting permutation p, Holm across attributes, noise ceiling
    and normalised r.

    Penalties are chosen by leave-one-out inside each training fold; centring is fitted on training
    folds only. Out-of-fold predictions are saved with the results.
    """
    _run("predict", config, dict(n_bootstrap=bootstrap, correction=correction, seed=seed, store=store), save,
         no_save, layers=split_list(layer), attributes=split_list(attributes), folds=folds, repeats=repeats,
         n_permutations=permutations)


@handle_errors
def correlate(
    layer: str = typer.Option(..., "--layer", "-l", help="Layer whose units are correlated."),
    attributes: Optional[str] = AttributesOption,
    correction: str = typer.Option("maxt", help="maxt (max-statistic permutation), holm, fdr_bh or bonferroni."),
    permutations: Optional[int] = typer.Option(None, "--permutations", help="Permutations for maxt [10,000; 1,000 above 10,000 units]."),
    seed: Optional[int] = SeedOption,
    config: Optional[Path] = ConfigOption,
    store: Optional[str] = StoreOption,
    save: Optional[Path] = SaveOption,
    no_save: bool = NoSaveOption,
):
    """Correlate every unit of a layer with every attribute.

    How many units, which ones and how strongly, with family-wise control over units by the
    max-statistic permutation test (or FDR).
    """
    _run("correlate", config, dict(seed=seed, store=store), save, no_save, layer=layer,
         attributes=split_list(attributes), correction=correction, n_permutations=permutations)


@handle_errors
def compare(
    layer_a: str = typer.Argument(..., help="First layer."),
    layer_b: str = typer.Argument(..., help="Second layer (of --store-b when comparing models)."),
    attribute: str = typer.Option(..., "--attribute", "-a", help="The attribute both layers predict."),
    store_b: Optional[str] = typer.Option(None, "--store-b", help="Feature store of a second model."),
    folds: int = typer.Option(10, help="Cross-validation folds."),
    bootstrap: Optional[int] = BootstrapOption,
    seed: Optional[int] = SeedOption,
    config: Optional[Path] = ConfigOption,
    store: Optional[str] = StoreOption,
    save: Optional[Path] = SaveOption,
    no_save: bool = NoSaveOption,
):
    """Compare two layers or models for one attribute (paired, same stimuli).

    Williams' t and Steiger's Z for dependent correlations, and a paired bootstrap CI of the difference
    in out-of-fold r.
    """
    _run("compare", config, dict(n_bootstrap=bootstrap, seed=seed, store=store), save, no_save,
         layer_a=layer_a, layer_b=layer_b, attribute=attribute, store_b=store_b, folds=folds)


@handle_errors
def rsa(
    layer: str = typer.Option("all", "--layer", "-l", help="Layer(s), comma-separated, or all (an RSA profile)."),
    attributes: Optional[str] = AttributesOption,
    metric: str = typer.Option("correlation", help="Layer RDM distance: correlation, euclidean or cosine."),
    method: str = typer.Option("spearman", help="RDM comparison: spearman, pearson or tau-a."),
    combined: bool = typer.Option(False, "--combined", help="Add one RDM across the attributes (z-scored Euclidean)."),
    control: Optional[str] = typer.Option(None, "--control", help="Partial RSA covariates: pixels, layer:NAME, attribute:NAME."),
    compare_layers: Optional[str] = typer.Option(None, "--compare-layers", help="A,B: paired bootstrap test of the difference."),
    permutations: Optional[int] = PermutationsOption,
    bootstrap: Optional[int] = BootstrapOption,
    correction: Optional[str] = CorrectionOption,
    seed: Optional[int] = SeedOption,
    config: Optional[Path] = ConfigOption,
    store: Optional[str] = StoreOption,
    save: Optional[Path] = SaveOption,
    no_save: bool = NoSaveOption,
):
    """Representational similarity analysis of layers against rating RDMs.

    Mantel test (permuting stimulus labels), bootstrap CI over stimuli, Holm across layers x
    attributes, and the noise ceiling of each rating RDM from split halves of the ratings.
    """
    pair = split_list(compare_layers)
    if pair is not None and len(pair) != 2:
        from psychoface.errors import PsychofaceError

        raise PsychofaceError(f"--compare-layers {compare_layers!r}: give exactly two layers, e.g. conv5,fc7")
    _run("rsa", config, dict(n_permutations=permutations, n_bootstrap=bootstrap, correction=correction, seed=seed,
                             store=store), save, no_save,
         layers=split_list(layer), attributes=split_list(attributes), metric=metric, method=method,
         combined=combined, covariates=tuple(split_list(control) or ()), compare_layers=tuple(pair) if pair else None)
