"""The predict kind: cross-validated ridge prediction of each attribute's mean ratings from each layer,
against the noise ceiling; layer profile and scatter figures; its sentences, summary and methods text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping


from psychoface import workflows
from psychoface.config import StudyConfig
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.apa import Text, fmt_number, fmt_stat, italic
from psychoface.reports.columns import register_columns
from psychoface.reports.methods import param_values
from psychoface.reports.section import Section, figure, result_table, titled
from psychoface.reports.tables import title_case
from psychoface.reports.text import (ci_of, cell, level_of, p_and_note, parenthetical, r_df,
                                     ratings_phrase, stat_clause)

if TYPE_CHECKING:  # annotations only: pandas is imported where it is used (fast CLI start-up)
    import pandas as pd


register_columns({"alpha_relative_median": {"hidden": True}})


def ceilings_drawn(table: pd.DataFrame) -> str:
    """What a layer profile's dashed lines are, when it draws them."""
    has = "noise_ceiling" in table.columns and table["noise_ceiling"].notna().any()
    return "; dashed lines: noise ceilings" if has else ""


def study(config: StudyConfig, layers=("all",), attributes=None, *, folds: int = 10, repeats: int = 1,
          n_permutations: int = 1000, progress=None, by: str | None = None):
    """Cross-validated ridge prediction of each attribute from each layer, beside the noise ceiling.

    Returns ``(table, predictions)``: one row per layer x attribute (the correction across the attributes
    of each layer, the family the issue names; a layer profile is descriptive), and the out-of-fold
    predictions per layer. With ``by`` (a rater-level column), each value's raters' mean ratings are predicted
    separately (a ``by`` column names the value) and ``(table, predictions, comparison)`` is returned: the
    paired bootstrap comparison of each two values' accuracies
    (:func:`~psychoface.analyses.compare_groups.compare_groups`).
    """
    import pandas as pd

    from psychoface.data.ratings import split_by_raters

    store = workflows.open_store(config)
    names = workflows.store_layers(store, layers)
    ratings = workflows.load_ratings_from_config(config)
    if by is None:
        return _predict_group(config, store, names, ratings, attributes, folds, repeats, n_permutations, progress)
    groups = split_by_raters(ratings, by)
    tables, predictions = [], {}
    for value, part in groups.items():
        names_ = attributes if attributes is None else [a for a in attributes if a in part.attributes]
        t, pred = _predict_group(config, store, names, part, names_, folds, repeats, n_permutations, None)
        t.insert(1, by, value)
        tables.append(t)
        predictions[value] = pred
    table = pd.concat(tables, ignore_index=True)
    table.attrs = dict(tables[0].attrs)
    table.attrs["psychoface"] = dict(table.attrs["psychoface"], by=[by],
                                     family=tables[0].attrs["psychoface"]["family"] + f", within each {by}")
    comparison = _compare_rater_groups(config, predictions, table, by)
    merged = {layer: pd.concat([predictions[v][layer].assign(**{by: v}) for v in predictions], ignore_index=True)
              for layer in names}
    return table, merged, comparison


def _predict_group(config, store, names, ratings, attributes, folds, repeats, n_permutations, progress):
    import pandas as pd

    from psychoface.analyses.predict import predict_ratings
    from psychoface.analyses.reliability import NOISE_CEILING_METHOD
    from psychoface.features.store import load_features

    ceilings = workflows.noise_ceilings(config, ratings, attributes, ids=store.stimulus_ids)
    tables, predictions = [], {}
    for i, layer in enumerate(names):
        X, ids = load_features(store, layer)
        Y = workflows.aligned_means(ratings, ids, attributes)
        df, pred = predict_ratings(
            X, Y, folds=folds, repeats=repeats, n_permutations=n_permutations, n_bootstrap=config.n_bootstrap,
            ci_level=config.ci_level, correction=config.correction, noise_ceiling=ceilings,
            noise_ceiling_method=NOISE_CEILING_METHOD if ceilings is not None else None, seed=config.seed,
            return_predictions=True,
        )
        df.insert(0, "layer", layer)
        tables.append(df)
        predictions[layer] = pred
        if progress:
            progress(i + 1, len(names))
    table = pd.concat(tables, ignore_index=True)
    table.attrs = dict(tables[0].attrs)
    meta = dict(table.attrs.get("psychoface", {}))
    if len(names) > 1:  # Holm stays across the attributes of each layer; say so
        meta["family"] = f"{table['attribute'].nunique()} attributes, within each layer"
    # stimuli without a rating on one attribute are left out of that attribute only (its n says so)
    meta.update(layers=names, store=str(store.path), network=store.manifest.get("model"),
                exclusions=workflows.not_extracted(ratings, store.stimulus_ids) + list(ratings.notes))
    table.attrs["psychoface"] = meta
    return table, predictions


def mean_predictions(predictions, attribute: str):
    """Out-of-fold predictions of ``attribute`` averaged per stimulus over repeats: ``observed``, ``predicted``."""
    frame = predictions[predictions["attribute"] == attribute]
    return frame.groupby("stimulus", sort=False)[["observed", "predicted"]].mean()


def _compare_rater_groups(config, predictions, table, by):
    """Each two values of ``by``: their raters' prediction accuracies compared per layer and attribute."""
    import itertools

    import pandas as pd

    from psychoface.analyses.compare_groups import compare_groups

    rows = []
    for a, b in itertools.combinations(list(predictions), 2):
        for layer in predictions[a]:
            for attribute in table.loc[(table[by] == a) & (table["layer"] == layer), "attribute"]:
                pa = mean_predictions(predictions[a][layer], attribute)
                pb = mean_predictions(predictions[b][layer], attribute)
                ids = pa.index.intersection(pb.index)
                if not len(ids):
                    continue
                rows.append({"layer": layer, "attribute": attribute, "label_a": a, "label_b": b,
                             "y_a": pa.loc[ids, "observed"].to_numpy(), "pred_a": pa.loc[ids, "predicted"].to_numpy(),
                             "y_b": pb.loc[ids, "observed"].to_numpy(), "pred_b": pb.loc[ids, "predicted"].to_numpy()})
    if not rows:
        return None
    comparison = compare_groups(pd.DataFrame(rows), n_bootstrap=config.n_bootstrap, ci_level=config.ci_level,
                                correction=config.correction, seed=config.seed)
    comparison.attrs["psychoface"]["by"] = [by]
    return comparison


def build(config, *, layers=("all",), attributes=None, folds: int = 10, repeats: int = 1,
          n_permutations: int = 1000, by: str | None = None, figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Cross-validated ridge prediction of each attribute from each layer."""
    import pandas as pd
    from psychoface.reports.figures import layer_profile, scatter_predicted

    out = study(
        config, layers, attributes, folds=folds, repeats=repeats, n_permutations=n_permutations,
        progress=progress, by=by,
    )
    table, predictions = out[:2]
    comparison = out[2] if by else None
    level = round(100 * config.ci_level)
    figures = []
    if table["layer"].nunique() > 1 and by is None:
        figures += figure(
            layer_profile(table, x="layer", y="r", hue="attribute"), figures_dir,
            f"{figure_prefix}predict_profile", title_case("Cross-validated prediction accuracy across layers"),
            Text("Pearson ", italic("r"), " between out-of-fold predictions and mean ratings, with "
                 f"{level}% bootstrap confidence intervals", ceilings_drawn(table), "."),
        )
    best = text.best_per_attribute(table, "r") if by is None else table.iloc[0:0]
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
    tables = [result_table(table)]
    if comparison is not None:
        tables.append(result_table(comparison, title=f"Prediction accuracy compared between values of {by}",
                                   identifiers=(by,)))
        data["predict_by"] = comparison
    return Section("predict", "Predicting Ratings From Layers", tables, [(table, 0)], figures, data)


def _best(df):
    return text.best_per_attribute(df, "r") if "r" in df.columns else df


# -- words ---------------------------------------------------------------------------------------
def prediction_sentence(row: Mapping, attrs: Mapping | None = None, *,
                        n_tests: int | None = None) -> Text:
    """"Cross-validated ridge predictions from fc7 correlated with mean trustworthy ratings, r(498) = .34,
    95% CI [.28, .40], p < .001 (Holm-corrected across 34 attributes); the noise ceiling was .76, and
    the noise-normalized correlation was r_norm = 0.45.\""""
    attrs = attrs or {}
    layer, model = cell(row, "layer"), cell(row, "model")
    source = (f" from {layer} of {model}" if layer is not None and model is not None
              else f" from {layer}" if layer is not None else "")
    p, note = p_and_note(row, attrs, n_tests)
    clause = stat_clause("r", cell(row, "r"), df=r_df(row), ci=ci_of(row), ci_level=level_of(attrs), p=p)
    parts = [f"Cross-validated ridge predictions{source} correlated with {ratings_phrase(row, attrs)}, ", clause,
             parenthetical(note)]
    ceiling = cell(row, "noise_ceiling")
    if ceiling is not None:
        parts += ["; the noise ceiling was ", fmt_number(ceiling, 2, leading_zero=False)]
        normalized = cell(row, "r_normalized")
        if normalized is not None:
            parts += [", and the noise-normalized correlation was ", fmt_stat("r_norm", normalized)]
    return Text(*parts, ".")


def summary(df, attrs, where: str) -> list[Text]:
    """The best- and worst-predicted attributes (a profile: each at its most accurate layer), the median
    accuracy and how many predictions were significant."""
    if "r" not in df.columns:
        return text.sentences(df)
    profile = text.is_profile(df)
    best = _best(df)
    layer = cell(df.iloc[0], "layer")
    source = (" from each attribute's most accurate layer" if profile
              else f" from {layer}" if layer is not None else "")
    return text.correlations_summary(
        df, best, attrs, where, column="r",
        subject=f"Across the {len(best):,} attributes, cross-validated ridge predictions{source}",
        target=ratings_phrase,
        clause=lambda row, p: stat_clause("r", cell(row, "r"), df=r_df(row), ci=ci_of(row), ci_level=level_of(attrs),
                                          p=p),
        tests="layer–attribute correlations" if profile else "correlations")


def methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """Ridge regression in cross-validation: folds, repeats, the penalty grid and how it was chosen."""
    folds, repeats = attrs.get("folds"), attrs.get("repeats")
    inner, alphas = attrs.get("inner_folds"), attrs.get("alphas")
    cv = f" in {int(folds)}-fold cross-validation" if folds else " with cross-validation"
    if repeats and int(repeats) > 1:
        cv += f" repeated {int(repeats)} times"
    sentence = [f"Each attribute's mean ratings were predicted from each layer by ridge regression "
                f"{cites.paren('hoerl1970')}{cv}"]
    if alphas is not None:
        alphas = [alphas] if isinstance(alphas, (int, float)) else list(alphas)
        sentence += ["; the penalty was chosen from ", param_values(alphas)]
        scale = str(attrs.get("alpha_scale") or "").split(";")[0].strip()
        if scale:
            sentence.append(f", in {scale}" if scale.startswith("multiples") else f" ({scale})")
        if inner:
            inner_cv = f"{int(inner)}-fold" if isinstance(inner, (int, float)) else str(inner)
            sentence.append(f"{',' if scale.startswith('multiples') else ''} by {inner_cv} "
                            "cross-validation within each training set")
    if attrs.get("standardize"):
        sentence.append(", and features were standardized with statistics of the training folds only")
    return [Text(*sentence, ". Accuracy was the Pearson correlation between cross-validated "
                 "predictions and mean ratings.")]


KIND = register(AnalysisKind(
    name="predict",
    help=("Predict each attribute from a layer (cross-validated ridge), against the noise ceiling.\n\n"
          "Out-of-fold r and R², bootstrap CI, refitting permutation p, Holm across attributes, noise ceiling "
          "and normalised r.\n\n"
          "Penalties are chosen by leave-one-out inside each training fold; centring is fitted on training "
          "folds only. Out-of-fold predictions are saved with the results."),
    build=build,
    options=(
        common.LAYERS,
        common.ATTRIBUTES,
        Option("folds", 10, "Outer cross-validation folds.", type=int),
        Option("repeats", 1, "Repetitions of the cross-validation with new random folds.", type=int),
        Option("n_permutations", 1000, "Refitting permutations for p.", ("--permutations",), int),
        Option("by", None, "A rater-level column (e.g. rater_sex): predict each of its values' raters' mean "
                           "ratings separately and compare them (paired bootstrap over stimuli)."),
        common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=(Words(("predict", "prediction"),
                 lambda row, attrs, n_tests: [prediction_sentence(row, attrs, n_tests=n_tests)], summary, methods,
                 select=_best, title="Cross-validated ridge prediction of the mean ratings"),),
    citations=("hoerl1970",),
    demo={"layers": ["all"]},
))
