"""The predict kind: cross-validated ridge prediction of each attribute's mean ratings from each layer,
against the noise ceiling; layer profile and scatter figures."""

from __future__ import annotations

import pandas as pd

from psychoface import workflows
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.apa import Text, italic
from psychoface.reports.section import Section, figure, result_table, titled
from psychoface.reports.tables import title_case


def ceilings_drawn(table: pd.DataFrame) -> str:
    """What a layer profile's dashed lines are, when it draws them."""
    has = "noise_ceiling" in table.columns and table["noise_ceiling"].notna().any()
    return "; dashed lines: noise ceilings" if has else ""


def build(config, *, layers=("all",), attributes=None, folds: int = 10, repeats: int = 1,
          n_permutations: int = 1000, figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Cross-validated ridge prediction of each attribute from each layer."""
    from psychoface.reports.figures import layer_profile, scatter_predicted

    table, predictions = workflows.predict(
        config, layers, attributes, folds=folds, repeats=repeats, n_permutations=n_permutations,
        progress=progress,
    )
    level = round(100 * config.ci_level)
    figures = []
    if table["layer"].nunique() > 1:
        figures += figure(
            layer_profile(table, x="layer", y="r", hue="attribute"), figures_dir,
            f"{figure_prefix}predict_profile", title_case("Cross-validated prediction accuracy across layers"),
            Text("Pearson ", italic("r"), " between out-of-fold predictions and mean ratings, with "
                 f"{level}% bootstrap confidence intervals", ceilings_drawn(table), "."),
        )
    best = text.best_per_attribute(table, "r")
    for row in best.nlargest(6, "r").itertuples():  # the six best-predicted attributes, each at its best layer
        pred = predictions[row.layer]
        pred = pred[pred["attribute"] == row.attribute].groupby("stimulus")[["observed", "predicted"]].mean()
        figures += figure(
            scatter_predicted(pred["observed"], pred["predicted"], title=f"{row.attribute} ({row.layer})"),
            figures_dir, f"{figure_prefix}predict_scatter_{row.attribute}",
            titled("Out-of-fold predictions of mean {} ratings from {}", title_case(row.attribute), row.layer),
            Text("Each point is a stimulus; dashed line: identity; solid line: least-squares fit."),
        )
    data = {"predict": table, "predictions": pd.concat(
        [p.assign(layer=name) for name, p in predictions.items()], ignore_index=True)}
    return Section("predict", "Predicting Ratings From Layers", [result_table(table)], [(table, 0)], figures,
                   data)


def _best(df):
    return text.best_per_attribute(df, "r") if "r" in df.columns else df


def _summary(df, attrs, where):
    if "r" not in df.columns:
        return text.sentences(df)
    return text._summary_predict(df, _best(df), attrs, where)


KIND = register(AnalysisKind(
    name="predict",
    help=("Predict each attribute from a layer (cross-validated ridge), against the noise ceiling.\n\n"
          "Out-of-fold r and R², bootstrap CI, refitting permutation p, Holm across attributes, noise ceiling "
          "and normalised r.\n\n"
          "Penalties are chosen by leave-one-out inside each training fold; centring is fitted on training "
          "folds only. Out-of-fold predictions are saved with the results."),
    build=build,
    options=(
        Option("layers", ("all",), "Layer(s), comma-separated, or all (a layer profile).", ("--layer", "-l"), list),
        common.ATTRIBUTES,
        Option("folds", 10, "Outer cross-validation folds.", type=int),
        Option("repeats", 1, "Repetitions of the cross-validation with new random folds.", type=int),
        Option("n_permutations", 1000, "Refitting permutations for p.", ("--permutations",), int),
        common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=(Words(("predict", "prediction"),
                 lambda row, attrs, n_tests: [text.prediction_sentence(row, attrs, n_tests=n_tests)],
                 _summary,
                 lambda attrs, cites, written: text._describe(attrs, "predict", cites, cites.paragraph, written),
                 select=_best, title="Cross-validated ridge prediction of the mean ratings"),),
    citations=("hoerl1970",),
    demo={"layers": ["all"]},
))
