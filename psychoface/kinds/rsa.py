"""The rsa kind: representational similarity of layers and rating RDMs (Mantel test, bootstrap CI,
noise ceiling), partial RSA with covariate RDMs, a paired bootstrap comparison of two layers; layer
profile and RDM heatmaps; its sentences, summary and methods text."""

from __future__ import annotations

from typing import Mapping


from psychoface import workflows
from psychoface.config import StudyConfig
from psychoface.errors import PsychofaceError
from psychoface.kinds import options as common
from psychoface.kinds.differences import differences_summary, paired_difference_sentence
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.apa import Text, greek, italic, symbol
from psychoface.reports.columns import register_columns, subscripted
from psychoface.reports.methods import series
from psychoface.reports.section import Section, figure, result_table, titled
from psychoface.reports.tables import title_case
from psychoface.reports.text import and_list, cell, ci_of, level_of, p_and_note, stat_clause, with_note

#: The estimate columns of an RSA result, one per RDM comparison (Spearman, Kendall's tau-a, Pearson),
#: and those of a partial RSA: the one list every part of this kind reads.
ESTIMATES = ("rho", "tau", "r")
PARTIAL_ESTIMATES = tuple(f"partial_{name}" for name in ESTIMATES)
#: The analyses (attrs["psychoface"]["analysis"]) of RDM correlations.
RSA_ANALYSES = ("rsa", "partial_rsa")
register_columns({
    **{f"partial_{name}": {"header": Text("Partial ", symbol(name).text), "kind": "bounded", "ci_owner": True}
       for name in ESTIMATES},
    **{f"{name}_{layer.lower()}": ("bounded", subscripted(name, layer)) for name in ("rho", "tau") for layer in "AB"},
    "layer_a": ("text", "Layer A"), "layer_b": ("text", "Layer B"), "covariates": ("text", "Covariates"),
})

_RDM_STATISTICS = {"spearman": Text("Spearman's ", greek("ρ")), "pearson": Text("Pearson's ", italic("r")),
                   "tau-a": Text("Kendall's ", symbol("tau_a").text)}


def estimate_column(df) -> str | None:
    """The estimate column of an RSA table (``rho``, ..., ``partial_rho``, ...)."""
    return next((c for c in ESTIMATES + PARTIAL_ESTIMATES if c in df.columns), None)


def _too_few(what: str, n: int, n_store: int, fix: str) -> str:
    from psychoface.analyses.rdm import MIN_STIMULI

    return (f"{what}: {n} of the {n_store:,} stimuli in the feature store are rated on it; an RDM needs at least "
            f"{MIN_STIMULI} stimuli: {fix}")


def rating_rdms_for(config, ratings, ids, attributes, combined: bool):
    """Rating RDMs over the stimuli each one can use: an attribute's RDM over the store's stimuli rated on
    it, the combined RDM over those rated on all its attributes. Returns the RDMs and the mean ratings (store
    order, NaN where not rated; ``attrs["exclusions"]`` says what each RDM left out and why)."""
    from psychoface.analyses.rdm import MIN_STIMULI, rating_rdm

    means = workflows.aligned_means(ratings, ids, attributes)
    means = means[means.notna().any(axis=1)]
    rdms, exclusions = {}, []
    for attribute in means.columns:
        rated = means.index[means[attribute].notna()]
        if len(rated) < MIN_STIMULI:
            raise PsychofaceError(_too_few(
                f"attribute {attribute!r}", len(rated), len(ids),
                f"rate more stimuli on {attribute!r}, or leave it out (--attributes naming the others)"))
        rdms[attribute] = rating_rdm(means.loc[rated], attribute)
        if len(rated) < len(ids):
            exclusions.append(f"the {attribute} RDM covers the {len(rated):,} of {len(ids):,} stimuli rated on "
                              f"{attribute}")
    if combined and len(means.columns) > 1:
        common = means.dropna(how="any")
        names = list(means.columns)
        limiting = [a for a in names if means[a].isna().any()]
        if len(common) < MIN_STIMULI:
            raise PsychofaceError(_too_few(
                f"the combined rating RDM of {', '.join(names)}", len(common), len(ids),
                f"{', '.join(limiting)} {'is' if len(limiting) == 1 else 'are'} rated on other stimuli than the "
                f"rest; leave out --combined, or combine attributes rated on the same stimuli (--attributes)"
            ).replace("are rated on it", "are rated on all of them"))
        joint = rating_rdm(common, names)
        rdms[joint.name] = joint
        if limiting:
            exclusions.append(
                f"the combined rating RDM covers the {len(common):,} stimuli rated on all {len(names)} attributes, "
                f"limited by {', '.join(limiting)} ({len(means) - len(common):,} stimuli lack "
                f"{'this attribute' if len(limiting) == 1 else 'one of these'})")
    means.attrs["exclusions"] = exclusions + workflows.not_extracted(ratings, ids)
    return rdms, means


def _rsa_by_stimuli(layer_rdms, rating_rdms, ceilings, common, correction):
    """:func:`~psychoface.analyses.rsa.rsa` of every layer against rating RDMs that cover different stimuli:
    one call per set of stimuli (layer RDMs restricted to it), rows in layer x attribute order, the correction
    applied across the whole family (a row does not depend on the other rows of its call)."""
    import pandas as pd

    from psychoface.analyses import rsa as rsa_mod
    from psychoface.analyses.inference import correct_p

    groups: dict[tuple, list[str]] = {}
    for name, rdm in rating_rdms.items():
        groups.setdefault(tuple(rdm.ids), []).append(name)
    parts = []
    for ids, names in groups.items():
        ceiling = None if ceilings is None else ceilings[ceilings["attribute"].isin(names)]
        parts.append(rsa_mod.rsa({n: r.reindex(ids) for n, r in layer_rdms.items()},
                                 {n: rating_rdms[n] for n in names}, noise_ceiling=ceiling,
                                 correction=correction, **common))
    table = pd.concat(parts, ignore_index=True)
    layer_order, rating_order = list(layer_rdms), list(rating_rdms)
    table = table.sort_values(["layer", "attribute"], key=lambda c: c.map(
        {n: i for i, n in enumerate(layer_order if c.name == "layer" else rating_order)}), kind="stable")
    table = table.reset_index(drop=True)
    table["p_corr"] = correct_p(table["p"].to_numpy(), correction)
    meta = dict(parts[0].attrs["psychoface"])
    meta["n_bootstrap_undefined"] = max(p.attrs["psychoface"]["n_bootstrap_undefined"] for p in parts)
    meta["family"] = (f"{len(layer_order)} layer{'s' * (len(layer_order) != 1)} x {len(rating_order)} rating "
                      f"RDM{'s' * (len(rating_order) != 1)}")
    meta["rating_metric"] = {b: rating_rdms[b].metric for b in rating_order}
    table.attrs["psychoface"] = meta
    return table


def study(config: StudyConfig, layers=("all",), attributes=None, *, metric: str = "correlation",
        method: str = "spearman", combined: bool = False, covariates=(), compare_layers=None,
        pixel_size: int = 64):
    """RSA of layer RDMs against rating RDMs, with Mantel p, bootstrap CI, noise ceiling and Holm.

    Each attribute's RDM covers the store's stimuli rated on it (``n`` per row), the combined RDM those
    rated on all its attributes; partial RSA and the layer comparison use the stimuli rated on every
    analysed attribute. ``covariates`` (partial RSA): ``"pixels"`` (a grayscale pixel-space RDM),
    ``"layer:NAME"`` or ``"attribute:NAME"``. ``compare_layers``: ``(A, B)`` for the paired bootstrap of
    the difference. Returns ``(table, partial or None, comparison or None, rdms)``; ``rdms`` holds the
    layer (over every rated stimulus), rating and covariate RDMs and the mean ratings (``"means"``).
    """
    import pandas as pd

    from psychoface.analyses import rsa as rsa_mod
    from psychoface.analyses.rdm import MIN_STIMULI, layer_rdm, pixel_rdm, rating_rdm
    from psychoface.data.images import grayscale_pixels
    from psychoface.features.store import load_features

    store = workflows.open_store(config)
    names = workflows.store_layers(store, layers)
    ratings = workflows.load_ratings_from_config(config)
    ids = list(store.stimulus_ids)
    rating_rdms_, means = rating_rdms_for(config, ratings, ids, attributes, combined)
    rated = list(means.index)
    needed = set(names) | set(compare_layers or ())
    needed |= {c.split(":", 1)[1] for c in covariates if c.startswith("layer:")}
    layer_rdms = {}
    for name in [n for n in store.layers if n in needed] + [n for n in needed if n not in store.layers]:
        X, ids_ = load_features(store, name)
        layer_rdms[name] = layer_rdm(X, ids_, metric=metric, name=name).reindex(rated)
    ceilings = None
    if ratings.has_trials:
        parts = []
        for key, rdm in rating_rdms_.items():
            if key in ratings.attributes:
                parts.append(rsa_mod.rating_rdm_noise_ceiling(ratings.trials, [key], method=method, ids=rdm.ids,
                                                              seed=config.seed))
            else:
                parts.append(rsa_mod.rating_rdm_noise_ceiling(ratings.trials, list(means.columns), combine=True,
                                                              method=method, ids=rdm.ids, seed=config.seed))
        ceilings = pd.concat(parts, ignore_index=True)
        ceilings.attrs = parts[0].attrs
    common = dict(method=method, n_permutations=config.n_permutations, n_bootstrap=config.n_bootstrap,
                  ci_level=config.ci_level, seed=config.seed)
    context = dict(metric=metric, store=str(store.path), network=store.manifest.get("model"),
                   exclusions=means.attrs["exclusions"])
    table = _rsa_by_stimuli({n: layer_rdms[n] for n in names}, rating_rdms_, ceilings, common, config.correction)
    table.attrs["psychoface"].update(context)
    # partial RSA and the layer comparison: the stimuli rated on every analysed attribute
    shared = list(means.dropna(how="any").index)
    if (covariates or compare_layers) and len(shared) < MIN_STIMULI:
        raise PsychofaceError(_too_few(
            f"partial RSA and layer comparisons over {', '.join(means.columns)}", len(shared), len(ids),
            "analyse attributes rated on the same stimuli (--attributes)").replace("are rated on it",
                                                                                    "are rated on all of them"))
    shared_note = ([f"partial RSA and layer comparisons use the {len(shared):,} stimuli rated on every analysed "
                    f"attribute"] if len(shared) < len(rated) else [])
    shared_ratings = {k: v.reindex(shared) for k, v in rating_rdms_.items()} if (covariates or compare_layers) else {}
    covariate_rdms = {}
    for cov in covariates:
        kind, _, value = cov.partition(":")
        if cov == "pixels":
            where = {s["id"]: s["path"] for s in store.manifest["stimuli"]}
            paths = [where[i] for i in shared]
            covariate_rdms["pixels"] = pixel_rdm(grayscale_pixels(paths, pixel_size), shared, metric=metric)
        elif kind == "layer":
            covariate_rdms[value] = layer_rdms[value].reindex(shared)
        elif kind == "attribute":
            covariate_rdms[value] = rating_rdm(workflows.aligned_means(ratings, shared, [value]), value)
        else:
            raise PsychofaceError(f"unknown covariate {cov!r}: use pixels, layer:NAME or attribute:NAME")
    partial = None
    if covariate_rdms:
        # an RDM cannot be tested controlling for itself: a covariate layer or attribute leaves the partial family
        tested_layers = [n for n in names if n not in covariate_rdms]
        tested_ratings = {k: v for k, v in shared_ratings.items() if k not in covariate_rdms}
        if not tested_layers or not tested_ratings:
            raise PsychofaceError(
                "partial RSA: every analysed layer or attribute is itself a covariate; control for a different "
                "layer or attribute"
            )
        partial = rsa_mod.partial_rsa({n: layer_rdms[n].reindex(shared) for n in tested_layers}, tested_ratings,
                                      covariate_rdms, correction=config.correction, **common)
        left_out = [n for n in names if n not in tested_layers] + [k for k in rating_rdms_ if k not in tested_ratings]
        partial_context = dict(context, exclusions=context["exclusions"] + shared_note)
        if left_out:
            partial_context["exclusions"] = partial_context["exclusions"] + [
                f"{', '.join(left_out)} not tested in the partial RSA, being a covariate itself"
            ]
        partial.attrs["psychoface"].update(partial_context)
    comparison = None
    if compare_layers:
        a, b = compare_layers
        comparison = rsa_mod.compare_layers(layer_rdms[a].reindex(shared), layer_rdms[b].reindex(shared),
                                            shared_ratings, method=method, n_bootstrap=config.n_bootstrap,
                                            ci_level=config.ci_level, correction=config.correction,
                                            seed=config.seed)
        comparison.attrs["psychoface"]["exclusions"] = context["exclusions"] + shared_note
    rdms = {"layers": layer_rdms, "ratings": rating_rdms_, "covariates": covariate_rdms, "means": means}
    return table, partial, comparison, rdms


def build(config, *, layers=("all",), attributes=None, metric: str = "correlation", method: str = "spearman",
          combined: bool = False, covariates=(), compare_layers=None, figures_dir=None, figure_prefix: str = "",
          progress=None) -> Section:
    """RSA of layers against rating RDMs (partial RSA with covariates, a paired comparison of two
    layers); profile figure and RDM heatmaps."""
    import numpy as np
    from psychoface.reports.figures import layer_profile, rdm_heatmap

    if compare_layers is not None and len(compare_layers) != 2:
        raise PsychofaceError(f"compare_layers {','.join(map(str, compare_layers))!r}: give exactly two layers, "
                              "e.g. --compare-layers conv5,fc7 (compare_layers = [\"conv5\", \"fc7\"] in a file)")
    compare_layers = tuple(compare_layers) if compare_layers else None
    table, partial, comparison, rdms = study(
        config, layers, attributes, metric=metric, method=method, combined=combined,
        covariates=tuple(covariates or ()), compare_layers=compare_layers,
    )
    estimate = estimate_column(table)
    statistic = _RDM_STATISTICS.get(method, Text(method))
    figures = []
    profile = table["layer"].nunique() > 1
    if profile:
        has = "noise_ceiling" in table.columns and table["noise_ceiling"].notna().any()
        figures += figure(
            layer_profile(table, x="layer", y=estimate, hue="attribute"), figures_dir,
            f"{figure_prefix}rsa_profile", title_case("Representational similarity of layers and ratings"),
            Text(statistic, " between each layer's RDM and each rating RDM, with "
                 f"{round(100 * config.ci_level)}% bootstrap confidence intervals",
                 "; dashed lines: noise ceilings" if has else "", "."),
        )
    first_attr = next(iter(rdms["ratings"]))
    rating_rdm = rdms["ratings"][first_attr]  # over the stimuli rated on first_attr
    order = np.argsort(rdms["means"][first_attr].reindex(rating_rdm.ids).to_numpy())
    last_layer = list(rdms["layers"])[-1]
    ordered = f"; stimuli ordered by their mean {first_attr} rating."
    layer_rdm = rdms["layers"][last_layer].reindex(rating_rdm.ids)
    for what, name, rdm, title in (
        ("layer", last_layer, layer_rdm, titled("RDM of layer {}", last_layer)),
        ("rating", first_attr, rating_rdm, titled("RDM of mean {} ratings", title_case(first_attr))),
    ):
        figures += figure(
            rdm_heatmap(rdm.dissimilarities, order=order, title=name), figures_dir,
            f"{figure_prefix}rsa_rdm_{what}_{name}", title,
            Text(f"Dissimilarity: {rdm.metric}" + (" distance between the stimuli's activation patterns"
                                                   if what == "layer" else " of the mean ratings") + ordered),
        )
    tables = [result_table(table)]
    described = [(table, 0)]
    data = {"rsa": table}
    if partial is not None:
        tables.append(result_table(partial, title="Partial RSA controlling for " + ", ".join(rdms["covariates"])))
        described.append((partial, len(tables) - 1))
        data["rsa_partial"] = partial
    if comparison is not None:
        tables.append(result_table(comparison, title=f"Paired bootstrap comparison of {compare_layers[0]} and "
                                                     f"{compare_layers[1]}"))
        described.append((comparison, len(tables) - 1))
        data["rsa_compare_layers"] = comparison
    title = ("Representational Similarity Across Layers" if profile
             else f"Representational Similarity of {table['layer'].iloc[0]}")
    return Section("rsa", title, tables, described, figures, data)


# -- words ---------------------------------------------------------------------------------------
def _statistic(attrs: Mapping, column: str) -> str:
    """Symbol name of an RDM comparison statistic (Kendall's tau-a written τ_A)."""
    comparison = str(attrs.get("comparison") or attrs.get("method") or "").lower()
    name = text.STATISTICS.get(column, "r")
    return "tau_a" if name == "tau" and ("tau_a" in comparison or "tau-a" in comparison) else name


def _control(partial: bool, covariates) -> str:
    """`` controlling for the pixels RDM`` (``RDMs`` for several covariates)."""
    if not (partial and covariates):
        return ""
    several = "," in str(covariates) or " and " in str(covariates)
    return f" controlling for the {covariates} RDM" + ("s" if several else "")


def _note(attrs: Mapping, p, correction: str | None, tests: str = "test") -> str | None:
    """``Mantel test, 10,000 permutations; Holm-corrected across ...`` for a permutation p value."""
    pieces = []
    p_method = str(attrs.get("p_method") or "").lower()
    if p is not None and ("mantel" in p_method or "permut" in p_method):
        k = attrs.get("n_permutations")
        pieces.append(f"Mantel {tests}, {int(k):,} permutations" if k else f"Mantel {tests}")
    return "; ".join(pieces + ([correction] if correction else [])) or None


def _rating_rdm(row, with_n: bool = False) -> str:
    """"the trustworthy rating RDM"; ``with_n``: over its stimuli when the row says how many ("... over 50
    faces": attributes rated on different subsets of the faces have RDMs of different sizes)."""
    attribute = cell(row, "attribute")
    n = cell(row, "n") if with_n else None
    over = f" over {int(n):,} faces" if n is not None else ""
    return f"the {attribute} rating RDM{over}" if attribute is not None else f"the rating RDM{over}"


def rsa_sentence(row: Mapping, attrs: Mapping | None = None, *, n_tests: int | None = None) -> Text:
    """"The fc7 RDM correlated with the trustworthy rating RDM, ρ = .21, 95% CI [.15, .27], p = .003
    (Mantel test, 10,000 permutations; Holm-corrected across 34 attributes)." Partial RSA
    (``partial_rho``, ...) reads "... controlling for the pixel RDM, partial ρ = ..."."""
    attrs = attrs or {}
    column, estimate = text.first_cell(row, *ESTIMATES, *PARTIAL_ESTIMATES)
    if column is None:
        raise PsychofaceError(
            "RSA result has no rho, tau or r value; pass a row of an rsa() result table"
        )
    partial = column.startswith("partial_")
    name = _statistic(attrs, column.removeprefix("partial_"))
    layer = cell(row, "layer")
    model_rdm = f"The {layer} RDM" if layer is not None else "The model RDM"
    p, correction = p_and_note(row, attrs, n_tests)
    clause = stat_clause(name, estimate, ci=ci_of(row), ci_level=level_of(attrs), p=p)
    return with_note(f"{model_rdm} correlated with {_rating_rdm(row, with_n=True)}{_control(partial, cell(row, 'covariates'))}, ",
                     "partial " if partial else "", clause, note=_note(attrs, p, correction))


def _best(df):
    column = estimate_column(df)
    return text.best_per_attribute(df, column) if column else df


def summary(df, attrs, where: str) -> list[Text]:
    """The rating RDMs most and least similar to the layers (a profile: each at its most similar
    layer), the median RDM correlation and how many were significant."""
    column = estimate_column(df)
    if column is None:
        return text.sentences(df)
    partial = column.startswith("partial_")
    name = _statistic(attrs, column.removeprefix("partial_"))
    profile = text.is_profile(df)
    best = _best(df)
    layer = cell(df.iloc[0], "layer")
    model = "the most similar layer's RDM" if profile else (f"the {layer} RDM" if layer is not None
                                                              else "the model RDM")
    control = _control(partial, cell(df.iloc[0], "covariates"))
    return text.correlations_summary(
        df, best, attrs, where, column=column,
        subject=f"Across the {len(best):,} rating RDMs{' and' if control else ''}{control}, {model}",
        target=_rating_rdm,
        clause=lambda row, p: Text("partial " if partial else "", stat_clause(
            name, cell(row, column), ci=ci_of(row), ci_level=level_of(attrs), p=p)),
        note=lambda p, correction: _note(attrs, p, correction, "tests"),
        tests="layer–rating RDM correlations" if profile else "RDM correlations")


def _comparison_phrase(comparisons: list[str], cites) -> list:
    """"Spearman's ρ", "Kendall's τ_A (Nili et al., 2014)", ... for the RDM comparison statistics used."""
    out = []
    for comparison in comparisons:
        if "tau" in comparison:
            out.append(Text("Kendall's ", symbol("tau_a").text, f" {cites.paren('nili2014')}"))
        elif "pearson" in comparison:
            out.append(Text("Pearson's ", italic("r")))
        elif "spearman" in comparison:
            out.append(Text("Spearman's ", greek("ρ")))
    return out


def _covariate_name(name: str) -> str:
    return "a pixel RDM (grayscale pixel values)" if name == "pixels" else f"the {name} RDM"


def _metric_values(attrs: Mapping, *keys: str) -> list[str]:
    """The distinct distance names of ``metric``/``distance`` (a string or a dict per RDM)."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, Mapping):
            return list(dict.fromkeys(str(v) for v in value.values() if v))
        if value:
            return [str(value)]
    return []


def _methods(attrs: Mapping, kind: str, cites, written: set) -> list[Text]:
    """RSA methods, each said once in the paragraph: how the RDMs were built and compared (over every
    RSA of the paragraph), the Mantel test, the covariates of a partial RSA, the layer comparison."""
    out = []
    if "rsa: rdms" not in written:
        written.add("rsa: rdms")
        distances = [d for a in cites.paragraph for d in _metric_values(a, "distance", "metric")]
        rating = [d for a in cites.paragraph for d in _metric_values(a, "rating_distance", "rating_metric")]
        comparisons = [str(a.get("comparison") or a.get("method") or "").lower() for a in cites.paragraph
                       if str(a.get("analysis", "")).lower() in RSA_ANALYSES]
        sentence = ["Representational dissimilarity matrices "
                    f"(RDMs; {cites.inner('kriegeskorte2008')}) of each layer were computed"]
        if distances:
            sentence.append(f" with {and_list(dict.fromkeys(distances))} distance between stimuli")
        if rating:
            sentence.append(f", rating RDMs with {and_list(dict.fromkeys(rating))} distance")
        compared = _comparison_phrase(list(dict.fromkeys(comparisons)), cites)
        if compared:
            sentence += [", and model and rating RDMs were compared with ", series(compared)]
        out.append(Text(*sentence, "."))
    if kind == "rsa" and text.is_permutation(attrs) and "rsa: mantel" not in written:
        written.add("rsa: mantel")
        out.append(Text(f"Mantel tests {cites.paren('mantel1967')} permuted the stimulus labels of "
                        "one RDM."))
    covariates = attrs.get("covariates")
    if covariates:
        names = [covariates] if isinstance(covariates, str) else list(covariates)
        comparison = str(attrs.get("comparison") or attrs.get("method") or "").lower()
        ranked = " of the rank-transformed dissimilarities" if "spearman" in comparison else ""
        out.append(Text(f"Partial RSA controlled for {and_list(_covariate_name(c) for c in names)}: each layer "
                        "RDM was correlated with each rating RDM after both were regressed on the covariate "
                        f"RDM{'s' if len(names) > 1 else ''} (a partial correlation{ranked})."))
    if kind == "rsa_compare":
        metric = attrs.get("metric")
        pair = f" ({and_list(metric)})" if isinstance(metric, Mapping) and len(metric) == 2 else ""
        out.append(Text(f"The RDM correlations of two layers{pair} with each rating RDM were compared by "
                        "a paired bootstrap over stimuli, the same resamples for both layers."))
    return out


KIND = register(AnalysisKind(
    name="rsa",
    help=("Representational similarity analysis of layers against rating RDMs.\n\n"
          "Mantel test (permuting stimulus labels), bootstrap CI over stimuli, Holm across layers x attributes, "
          "and the noise ceiling of each rating RDM from split halves of the ratings."),
    build=build,
    options=(
        common.LAYERS,
        common.ATTRIBUTES,
        Option("metric", "correlation", "Layer RDM distance: correlation, euclidean or cosine."),
        Option("method", "spearman", "RDM comparison: spearman, pearson or tau-a."),
        Option("combined", False, "Add one RDM across the attributes (z-scored Euclidean).", ("--combined",), bool),
        Option("covariates", (), "Partial RSA covariates: pixels, layer:NAME, attribute:NAME.", ("--control",), list),
        Option("compare_layers", None, "A,B: paired bootstrap test of the difference.", ("--compare-layers",), list),
        common.PERMUTATIONS, common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=(
        Words(RSA_ANALYSES, lambda row, attrs, n_tests: [rsa_sentence(row, attrs, n_tests=n_tests)], summary,
              lambda attrs, cites, written: _methods(attrs, "rsa", cites, written),
              select=_best, title="Representational similarity between layers and ratings"),
        Words(("compare_layers",),
              lambda row, attrs, n_tests: [paired_difference_sentence(row, attrs, n_tests=n_tests)],
              differences_summary, lambda attrs, cites, written: _methods(attrs, "rsa_compare", cites, written),
              title="Comparison of two layers' representational similarity with the ratings"),
    ),
    citations=("kriegeskorte2008", "nili2014", "mantel1967", "smouse1986"),
    demo={"layers": ["all"], "combined": True},
))
