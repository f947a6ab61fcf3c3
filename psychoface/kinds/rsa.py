"""The rsa kind: representational similarity of layers and rating RDMs (Mantel test, bootstrap CI,
noise ceiling), partial RSA with covariate RDMs, a paired bootstrap comparison of two layers; layer
profile and RDM heatmaps."""

from __future__ import annotations

import numpy as np

from psychoface import workflows
from psychoface.errors import PsychofaceError
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.apa import Text, greek, italic, symbol
from psychoface.reports.section import Section, figure, result_table, titled
from psychoface.reports.tables import title_case

_RDM_STATISTICS = {"spearman": Text("Spearman's ", greek("ρ")), "pearson": Text("Pearson's ", italic("r")),
                   "tau-a": Text("Kendall's ", symbol("tau_a").text)}


def build(config, *, layers=("all",), attributes=None, metric: str = "correlation", method: str = "spearman",
          combined: bool = False, covariates=(), compare_layers=None, figures_dir=None, figure_prefix: str = "",
          progress=None) -> Section:
    """RSA of layers against rating RDMs (partial RSA with covariates, a paired comparison of two
    layers); profile figure and RDM heatmaps."""
    from psychoface.reports.figures import layer_profile, rdm_heatmap

    if compare_layers is not None and len(compare_layers) != 2:
        raise PsychofaceError(f"compare_layers {','.join(map(str, compare_layers))!r}: give exactly two layers, "
                              "e.g. --compare-layers conv5,fc7 (compare_layers = [\"conv5\", \"fc7\"] in a file)")
    compare_layers = tuple(compare_layers) if compare_layers else None
    table, partial, comparison, rdms = workflows.rsa(
        config, layers, attributes, metric=metric, method=method, combined=combined,
        covariates=tuple(covariates or ()), compare_layers=compare_layers,
    )
    estimate = text._rsa_column(table)
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
    order = np.argsort(rdms["means"][first_attr].to_numpy())
    last_layer = list(rdms["layers"])[-1]
    ordered = f"; stimuli ordered by their mean {first_attr} rating."
    layer_rdm, rating_rdm = rdms["layers"][last_layer], rdms["ratings"][first_attr]
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


def _best(df):
    column = text._rsa_column(df)
    return text.best_per_attribute(df, column) if column else df


def _summary(df, attrs, where):
    if not text._rsa_column(df):
        return text.sentences(df)
    return text._summary_rsa(df, _best(df), attrs, where)


def _compare_summary(df, attrs, where):
    from psychoface.kinds.compare import differences_summary

    return differences_summary(df, attrs, where)


KIND = register(AnalysisKind(
    name="rsa",
    help=("Representational similarity analysis of layers against rating RDMs.\n\n"
          "Mantel test (permuting stimulus labels), bootstrap CI over stimuli, Holm across layers x attributes, "
          "and the noise ceiling of each rating RDM from split halves of the ratings."),
    build=build,
    options=(
        Option("layers", ("all",), "Layer(s), comma-separated, or all (an RSA profile).", ("--layer", "-l"), list),
        common.ATTRIBUTES,
        Option("metric", "correlation", "Layer RDM distance: correlation, euclidean or cosine."),
        Option("method", "spearman", "RDM comparison: spearman, pearson or tau-a."),
        Option("combined", False, "Add one RDM across the attributes (z-scored Euclidean).", ("--combined",), bool),
        Option("covariates", (), "Partial RSA covariates: pixels, layer:NAME, attribute:NAME.", ("--control",), list),
        Option("compare_layers", None, "A,B: paired bootstrap test of the difference.", ("--compare-layers",), list),
        common.PERMUTATIONS, common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=(
        Words(("rsa", "partial_rsa"), lambda row, attrs, n_tests: [text.rsa_sentence(row, attrs, n_tests=n_tests)],
              _summary, lambda attrs, cites, written: text._describe(attrs, "rsa", cites, cites.paragraph, written),
              select=_best, title="Representational similarity between layers and ratings"),
        Words(("compare_layers",),
              lambda row, attrs, n_tests: [text.paired_difference_sentence(row, attrs, n_tests=n_tests)],
              _compare_summary,
              lambda attrs, cites, written: text._describe(attrs, "rsa_compare", cites, cites.paragraph, written),
              title="Comparison of two layers' representational similarity with the ratings"),
    ),
    citations=("kriegeskorte2008", "nili2014", "mantel1967", "smouse1986"),
    demo={"layers": ["all"], "combined": True},
))
