"""The shape kind: face shape from landmarks on Kendall's shape space (geomstats) and its relation to the
ratings and to the network: the mean shape and its principal warps, averageness (distinctiveness against
each attribute), shape regressed on the ratings (RRPP), symmetry, group mean shapes with a dimorphism
score, and the face-shape RDM in RSA (layers and ratings against it, partial RSA controlling for it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from psychoface import workflows
from psychoface.errors import PsychofaceError
from psychoface.kinds import options as common
from psychoface.kinds import shape_figures as figs
from psychoface.kinds import shape_words as words
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports.apa import Text
from psychoface.reports.section import Section, figure, result_table

_BIB = Path(__file__).with_name("shape.bib")


def _landmarks(config, ids, template, pairs):
    from psychoface.data.landmarks import parse_pairs, study_landmarks

    mirror = parse_pairs(",".join(pairs)) if pairs else None
    found = study_landmarks(config, template=template, mirror=mirror, require_all=False)
    keep = [i for i in found.ids if i in set(ids)]
    if not keep:
        raise PsychofaceError(f"no rated face has landmarks in {found.source}; check that the landmark ids are the "
                              "image names and the ratings' stimulus ids")
    return found.subset(keep), len(found.ids) - len(keep)


def _covariates(ratings, ids, covariates):
    if not covariates:
        return None
    unknown = [c for c in covariates if c not in ratings.means.columns]
    if unknown:
        raise PsychofaceError(f"covariate {unknown[0]!r} is not an attribute of {ratings.source}; use one of "
                              f"{', '.join(ratings.means.columns)}")
    return ratings.means.reindex(ids)[list(covariates)]


def _groups(ratings, ids, groups, threshold):
    if groups not in ratings.means.columns:
        raise PsychofaceError(f"groups {groups!r} is not an attribute of {ratings.source}; name the attribute "
                              f"whose high and low faces form the groups (one of {', '.join(ratings.means.columns)})")
    values = ratings.means.reindex(ids)[groups]
    if values.isna().any():
        raise PsychofaceError(f"{int(values.isna().sum())} faces have no {groups} rating; the groups need every "
                              "face's rating")
    cut = float(values.median()) if threshold is None else float(threshold)
    labels = np.where(values.to_numpy() > cut, f"high {groups}", f"low {groups}")
    return labels, cut


def _attrs(df, **extra):
    df.attrs["psychoface"] = {**df.attrs.get("psychoface", {}), **extra}
    return df


def study(config, *, attributes=None, covariates=(), predictors=None, ss_type: str = "I", groups=None,
          group_threshold=None, symmetry: bool = True, pairs=None, template=None, layers=()) -> dict:
    """Every shape analysis of the study's landmarks (module docstring), as a dict: ``tables`` (name ->
    (title, result DataFrame), in report order), ``faces`` (per-face scores), ``pca`` (variance per
    component) and what the figures draw (``fit``, ``landmarks``, ``means``, ``pca_fit``, ``group_means``,
    ``threshold``, ``change``: (term, displacement per SD))."""
    from psychoface.analyses.shape import kendall
    from psychoface.analyses.shape.averageness import averageness, distinctiveness
    from psychoface.analyses.shape.correlation import correlate_scores
    from psychoface.analyses.shape.groups import dimorphism, group_differences, group_means
    from psychoface.analyses.shape.regression import shape_change, shape_regression
    from psychoface.analyses.shape.symmetry import symmetry as symmetry_test

    ratings = workflows.load_ratings_from_config(config)
    landmarks, unrated = _landmarks(config, list(ratings.means.index), template, pairs)
    ids = landmarks.ids
    covariates = list(covariates or ())
    analysed = [a for a in (attributes or ratings.attributes) if a not in covariates]
    means = workflows.aligned_means(ratings, ids, analysed)
    cov = _covariates(ratings, ids, covariates)
    fit = kendall.fit_shapes(landmarks.coords, ids)
    setting = dict(n_permutations=config.n_permutations, ci_level=config.ci_level, correction=config.correction,
                   seed=config.seed)
    common_attrs = dict(landmark_source=landmarks.source, template=landmarks.template, n_landmarks=landmarks.k,
                        n_faces=len(ids), faces_without_ratings=unrated)
    out = {"fit": fit, "landmarks": landmarks, "means": means, "tables": {}}
    tables = out["tables"]
    faces = distinctiveness(fit)

    avg = averageness(fit, means, covariates=cov, n_bootstrap=config.n_bootstrap, **setting)
    tables["shape_averageness"] = ("Distinctiveness of face shape and the ratings", avg)

    names = list(predictors) if predictors else analysed
    unknown = [p for p in names if p not in ratings.means.columns]
    if unknown:
        raise PsychofaceError(f"predictor {unknown[0]!r} is not an attribute of {ratings.source}; use one of "
                              f"{', '.join(ratings.means.columns)}")
    pred = ratings.means.reindex(ids)[names]
    complete = pred.notna().all(axis=1).to_numpy()
    reg = shape_regression(fit.tangent_matrix[complete], pred[complete], ss_type=ss_type,
                           n_permutations=config.n_permutations, correction=config.correction, seed=config.seed)
    tables["shape_regression"] = ("Face shape regressed on the ratings", _attrs(reg, rated=names))
    top = reg.loc[reg["r2"].idxmax(), "term"]
    out["change"] = (top, shape_change(fit.tangent_matrix[complete], pred[complete], top))

    if symmetry:
        asym_faces, directional = symmetry_test(fit, landmarks.mirror, n_permutations=config.n_permutations,
                                                seed=config.seed)
        faces = faces.merge(asym_faces, on="stimulus")
        asym = correlate_scores(asym_faces["asymmetry"].to_numpy(), means, covariates=cov,
                                n_bootstrap=config.n_bootstrap, **setting)
        tables["shape_asymmetry"] = ("Asymmetry of face shape and the ratings", _attrs(
            asym, **{**avg.attrs["psychoface"], "analysis": words.ASYMMETRY,
                     "ci_method": "percentile bootstrap over faces",
                     "score": "asymmetry: Kendall distance to the relabelled mirror image"}))
        tables["shape_directional_asymmetry"] = ("Directional asymmetry of face shape", directional)

    if groups:
        labels, cut = _groups(ratings, ids, groups, group_threshold)
        diff = group_differences(fit, labels, n_permutations=config.n_permutations, correction=config.correction,
                                 seed=config.seed)
        tables["shape_groups"] = (f"Mean face shapes of high and low {groups} faces",
                                  _attrs(diff, grouping=groups, threshold=cut))
        order = (f"low {groups}", f"high {groups}")
        dim, score = dimorphism(fit, labels, means, groups=order, covariates=cov, n_bootstrap=config.n_bootstrap,
                                **setting)
        tables["shape_dimorphism"] = (f"Position between the low and high {groups} mean shapes and the ratings", dim)
        faces[f"dimorphism_{groups}"] = score
        out["group_means"], out["threshold"] = group_means(fit, labels), cut

    if layers:
        rsa_table, partial = _shape_rsa(config, ratings, fit, analysed, list(layers))
        tables["shape_rsa"] = ("Layer and rating RDMs against the face-shape RDM", rsa_table)
        tables["shape_partial_rsa"] = ("Partial RSA controlling for face shape", partial)

    for name, (_, df) in tables.items():
        if name != "shape_partial_rsa":
            _attrs(df, **common_attrs)
    pca = kendall.tangent_pca(fit.preshapes, fit.mean)
    out["pca_fit"] = pca
    out["pca"] = pd.DataFrame({"component": np.arange(1, len(pca.explained_variance_) + 1),
                               "variance": pca.explained_variance_, "proportion": pca.explained_variance_ratio_})
    out["faces"] = faces
    return out


def build(config, *, components: int = 3, figures_dir=None, figure_prefix: str = "", progress=None,
          **options) -> Section:
    """The shape section: :func:`study`'s tables, their words, and the figures (mean shape with its principal
    warps, distinctiveness against the ratings, group means overlaid, the shape change along the predictor
    that explains the most shape variation)."""
    res = study(config, **options)
    fit, template = res["fit"], res["landmarks"].template
    tables, described, data, figures = [], [], {}, []
    for name, (title, df) in res["tables"].items():
        tables.append(result_table(df, title=title))
        described.append((df, len(tables) - 1))
        data[name] = df
    data["shape_pca"], data["shape_faces"] = res["pca"], res["faces"]
    if "group_means" in res:
        groups = options["groups"]
        figures += figure(figs.group_means_overlay(res["group_means"], template, magnify=3.0), figures_dir,
                          f"{figure_prefix}shape_groups", f"Mean Face Shapes of Low and High {groups.title()} Faces",
                          Text(f"Fréchet mean shapes of the faces rated above and at or below {res['threshold']:.1f} "
                               f"on {groups}; differences from their midpoint magnified three times."))
    pca = res["pca_fit"]
    figures += figure(figs.mean_shape_warps(fit.mean, pca.components_, pca.explained_variance_,
                                            pca.explained_variance_ratio_, template, components),
                      figures_dir, f"{figure_prefix}shape_mean", "Mean Face Shape and Its Principal Warps",
                      Text(f"Fréchet mean shape of {len(fit.ids):,} faces (grey) and the shapes 2 SD either way "
                           "along each principal component of the tangent coordinates; percentages: shape variance "
                           "explained."))
    figures += figure(figs.distinctiveness_scatter(fit.rho, res["means"], res["tables"]["shape_averageness"][1]),
                      figures_dir, f"{figure_prefix}shape_distinctiveness",
                      "Distinctiveness of Face Shape and the Ratings",
                      Text("Each face's Kendall distance from the mean shape against its mean rating, with the "
                           "least-squares line; the attributes with the largest |r|."))
    top, change = res["change"]
    figures += figure(figs.shape_change_arrows(fit.mean, change, template, top), figures_dir,
                      f"{figure_prefix}shape_change", f"Shape Change With Mean {top.title()} Ratings",
                      Text(f"Landmark displacements from the mean shape over 2 SD of mean {top} ratings, from the "
                           "regression with every term (tangent coordinates)."))
    return Section("shape", "Face Shape", tables, described, figures, data)


def _shape_rsa(config, ratings, fit, attributes, layers):
    """Layer and rating RDMs against the face-shape RDM, and partial RSA of layers and ratings given shape."""
    from psychoface.analyses import rsa as rsa_mod
    from psychoface.analyses.rdm import align, layer_rdm, rating_rdm
    from psychoface.analyses.shape.rdm import shape_rdm
    from psychoface.features.store import load_features

    store = workflows.open_store(config)
    names = workflows.store_layers(store, layers)
    in_store = set(store.stimulus_ids)
    means = workflows.aligned_means(ratings, [i for i in fit.ids if i in in_store], attributes).dropna(how="any")
    if len(means) < 3:
        raise PsychofaceError(f"{len(means)} faces have landmarks, features in {store.path} and every rating; "
                              "the face-shape RSA needs at least 3: extract the features of these images")
    rating_rdms = {a: rating_rdm(means, a) for a in means.columns}
    ids = list(means.index)
    shape = shape_rdm(fit).reindex(ids)
    layer_rdms = {}
    for name in names:
        X, ids_ = load_features(store, name)
        layer_rdms[name] = align(layer_rdm(X, ids_, name=name), ids)
    both = {**layer_rdms, **{f"{a} ratings": r for a, r in rating_rdms.items()}}
    common_ = dict(n_permutations=config.n_permutations, n_bootstrap=config.n_bootstrap, ci_level=config.ci_level,
                   correction=config.correction, seed=config.seed)
    table = rsa_mod.rsa(both, {"face shape": shape}, **common_)
    table = table.rename(columns={"layer": "rdm"}).drop(columns=["attribute", "noise_ceiling", "r_normalized"],
                                                          errors="ignore")
    table.attrs["psychoface"] = {**table.attrs["psychoface"], "analysis": words.SHAPE_RSA, "family": "RDMs"}
    partial = rsa_mod.partial_rsa(layer_rdms, rating_rdms, {"face shape": shape}, **common_)
    return table, partial


def _ensure_bibliography():
    from psychoface.reports.references import add_bibliography

    add_bibliography(_BIB)


_ensure_bibliography()

KIND = register(AnalysisKind(
    name="shape",
    help=("Face shape from landmarks on Kendall's shape space, against the ratings and the network.\n\n"
          "Needs landmarks (landmarks = ... in psychoface.toml, .tem/.pts files beside the images, or `psychoface "
          "landmarks` to detect dlib's 68 points). Mean shape (Fréchet mean, geomstats) and tangent PCA; "
          "distinctiveness against each attribute with the mean re-estimated in every bootstrap resample; shape "
          "regressed on the ratings with residual randomisation (RRPP: R², F, Z); asymmetry and directional "
          "asymmetry; high/low groups of an attribute with their mean shapes and a dimorphism score; with --layer, "
          "the face-shape RDM against layer and rating RDMs and partial RSA controlling for it."),
    build=build,
    options=(
        common.ATTRIBUTES,
        Option("covariates", (), "Attributes partialled out of the correlations (Freedman-Lane).", ("--control",),
               list),
        Option("predictors", None, "Attributes the shape is regressed on, in model order (default: the attributes).",
               ("--predictors",), list),
        Option("ss_type", "I", "Sums of squares of the shape regression: I (sequential) or II.", ("--ss-type",)),
        Option("groups", None, "Attribute whose high and low faces (median split) form two groups.", ("--groups",)),
        Option("group_threshold", None, "Rating that splits the groups (default: the median).",
               ("--group-threshold",), float),
        Option("symmetry", True, "Asymmetry analyses (need a left-right pairing of the points).",
               ("--symmetry/--no-symmetry",), bool),
        Option("pairs", None, "Left-right point pairs of a custom template, e.g. 0-16,1-15.", ("--pairs",), list),
        Option("template", None, "Landmark template: dlib68, webmorph189 or custom (default: from the points).",
               ("--template",)),
        Option("layers", (), "Layers whose RDMs are compared with the face-shape RDM (partial RSA too).",
               ("--layer", "-l"), list),
        Option("components", 3, "Principal warps drawn in the mean-shape figure.", ("--components",), int),
        common.PERMUTATIONS, common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=(
        Words((words.AVERAGENESS, words.ASYMMETRY, words.DIMORPHISM), words.score_sentence, words.score_summary,
              words.methods, title="Face shape scores and the ratings"),
        Words((words.REGRESSION,), words.regression_sentence, words.regression_summary, words.methods,
              title="Face shape regressed on the ratings"),
        Words((words.GROUPS,), words.group_sentence, None, words.methods, title="Group mean shapes"),
        Words((words.DIRECTIONAL,), words.directional_sentence, None, words.methods,
              title="Directional asymmetry of face shape"),
        Words((words.SHAPE_RSA,), words.rsa_sentence, None, words.methods,
              title="Layer and rating RDMs against the face-shape RDM"),
    ),
    citations=("kendall1984", "dryden2016", "miolane2020", "karcher1977", "fletcher2004", "goodall1991",
               "collyer2015", "adams2013", "freedman1983", "klingenberg2002", "langlois1990", "rhodes2006",
               "king2009", "kazemi2014", "sagonas2016", "dalal2005"),
    demo={"groups": "dominant", "layers": ["fc7"]},
))
