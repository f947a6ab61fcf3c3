"""The method section, written from the parameters actually used: the stimuli and ratings, the network
and its features, one paragraph per topic of analysis (each analysis kind's methods text, with the CIs,
p values and corrections the engine adds from its attrs), the seed and software; and the reference list
of the works it cites (:mod:`psychoface.reports.references`). Names no analysis: the kinds' texts come
from the registry (:mod:`psychoface.kinds`)."""

from __future__ import annotations

import math
import re
from pathlib import PurePath
from typing import Mapping

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import EN_DASH, MINUS, Text, fmt_int, fmt_level, fmt_number, italic, sup
from psychoface.reports.references import Citations, LatexCitations, citations, latex_citations, reference_list
from psychoface.reports.text import (and_list, correction_of, correction_phrase, is_permutation, level_of,
                                     method_text, registry, with_details)


_MODEL_CITATIONS = (("vgg", "simonyan2015"), ("mobilenet_v2", "sandler2018"), ("resnet", "he2016"))
_MODEL_NAMES = {"mobilenet_v2": "MobileNetV2", "mobilenet_v3_large": "MobileNetV3-Large",
                "mobilenet_v3_small": "MobileNetV3-Small", "alexnet": "AlexNet"}
_LIBRARIES = (("psychoface", "psychoface", None), ("python", "Python", None),
              ("torch", "PyTorch", "paszke2019"), ("torchvision", "torchvision", None),
              ("numpy", "NumPy", "harris2020"), ("scipy", "SciPy", "virtanen2020"),
              ("scikit-learn", "scikit-learn", "pedregosa2011"),
              ("statsmodels", "statsmodels", "seabold2010"), ("pandas", "pandas", None))
_CORRECTION_CITATIONS = {"holm": "holm1979", "fdr_bh": "benjamini1995"}


def _model_name(model: str) -> str:
    key = model.lower()
    if key in _MODEL_NAMES:
        return _MODEL_NAMES[key]
    m = re.fullmatch(r"vgg(\d+)(_bn)?", key)
    if m:
        return f"VGG{m.group(1)}" + (" with batch normalization" if m.group(2) else "")
    m = re.fullmatch(r"resnet(\d+)", key)
    if m:
        return f"ResNet-{m.group(1)}"
    return model


def param_number(x) -> Text:
    """A parameter value: integers with separators, powers of ten as 10ⁿ, others in shortest form."""
    value = float(x)
    if value > 0:
        exponent = math.log10(value)
        if abs(exponent) >= 3 and exponent == round(exponent):
            return Text("10", sup(str(int(round(exponent))).replace("-", MINUS)))
    if value == int(value) and abs(value) < 1e15:
        return fmt_int(value)
    return Text(f"{value:.6g}".replace("-", MINUS))


def series(parts: list) -> Text:
    """Texts joined with APA's serial comma."""
    if len(parts) <= 2:
        return Text(" and ").join(parts)
    return Text(Text(", ").join(parts[:-1]), ", and ", parts[-1])


def param_values(values) -> Text:
    values = list(values)
    if len(values) > 4:
        return Text(f"{len(values)} values from ", param_number(min(values)), " to ",
                    param_number(max(values)))
    return series([param_number(v) for v in values])


def _stimuli(params: Mapping, cites: Citations) -> list:
    n, dataset = params.get("n_images"), params.get("dataset")
    if n is None and isinstance(params.get("stimuli"), (list, tuple)):  # a store manifest
        n = len(params["stimuli"])
    attributes = params.get("attributes")
    k = len(attributes) if isinstance(attributes, (list, tuple)) else attributes
    if n is None and dataset is None and not k:
        return []
    parts = ["The stimuli were ", Text(fmt_int(n), " face images") if n is not None else "face images"]
    if dataset:
        if str(dataset).lower() in ("omi", "one million impressions"):
            parts.append(f" from the One Million Impressions dataset {cites.paren('peterson2022')}")
        else:
            parts.append(f" from {dataset}")
    if k:
        parts.append(Text(", rated on ", fmt_int(k), f" attribute{'s' if k != 1 else ''}"))
        scale = params.get("rating_scale")
        if scale:
            parts.append(" on a " + re.sub(r"(?<=\d)-(?=\d)", EN_DASH, str(scale)) + " scale")
    counts = []
    if params.get("n_ratings"):
        counts.append(Text(fmt_int(params["n_ratings"]), " ratings"))
    if params.get("n_raters"):
        counts.append(Text(fmt_int(params["n_raters"]), " raters"))
    if counts:
        parts.append(Text(" (", Text(" from ").join(counts), ")"))
    out = [Text(*parts, ".")]
    if params.get("trials_where"):
        out.append(Text(f"Only the rating rows with {params['trials_where']} were analysed; mean ratings, "
                        "reliabilities and noise ceilings come from those rows."))
    return out


def _weights_phrase(params: Mapping, cites: Citations) -> str:
    weights = params.get("weights")
    if weights is None:
        return ""
    description = None
    digest = params.get("weights_sha256")
    if isinstance(weights, Mapping):  # a store manifest: {"spec", "description", "sha256"}
        description, digest = weights.get("description"), weights.get("sha256") or digest
        weights = weights.get("spec")
    w = str(weights)
    if w.lower() in ("none", "random"):
        seed = params.get("seed")
        return " with random, untrained weights" + (f" drawn with seed {seed}" if seed is not None else "")
    if w.upper() == "DEFAULT" or "IMAGENET" in w.upper():
        which = description or ("torchvision's default weights" if w.upper() == "DEFAULT"
                                else f"torchvision weights {w}")
        hash_txt = f", SHA-256 {digest[:12]}…" if digest else ""
        return f" pretrained on ImageNet ({cites.inner('russakovsky2015')}; {which}{hash_txt})"
    hash_txt = f" (SHA-256 {digest[:12]}…)" if digest else ""
    return f" with weights from the checkpoint file {PurePath(w).name}{hash_txt}"


def _preprocessing(pre) -> list:
    if not pre:
        return []
    if isinstance(pre, str):
        return [Text(f"Preprocessing: {pre.rstrip('.')}.")]
    steps = []
    resize = pre.get("resize")
    if isinstance(resize, (list, tuple)) and len(resize) == 1:
        resize = resize[0]
    if isinstance(resize, (list, tuple)) and len(resize) == 2:
        steps.append(Text("resized to ", fmt_int(resize[0]), " × ", fmt_int(resize[1]), " pixels"))
    elif isinstance(resize, (int, float)):
        steps.append(Text("resized to ", fmt_int(resize), " pixels on the shorter side"))
    if steps and pre.get("interpolation"):
        steps[-1] = Text(steps[-1], f" ({str(pre['interpolation']).lower()} interpolation)")
    crop = pre.get("crop")
    if crop:
        h, w = (crop, crop) if isinstance(crop, (int, float)) else tuple(crop)
        steps.append(Text("center-cropped to ", fmt_int(h), " × ", fmt_int(w), " pixels"))
    if pre.get("mean") is not None and pre.get("std") is not None:
        def triple(values):
            return Text("(", Text(", ").join(fmt_number(v, 3) for v in values), ")")
        steps.append(Text("normalized with channel means ", triple(pre["mean"]),
                          " and standard deviations ", triple(pre["std"])))
    return [Text("Each image was ", series(steps), ".")] if steps else []


_POOLED = {"avg": "averaged", "average": "averaged", "mean": "averaged", "max": "max-pooled"}


def _features(params: Mapping, cites: Citations) -> list:
    model = params.get("model")
    if not model:
        return []
    cite = next((k for prefix, k in _MODEL_CITATIONS if str(model).lower().startswith(prefix)), None)
    head = f"Features were extracted with {_model_name(str(model))}"
    head += (f" {cites.paren(cite)}" if cite else "") + _weights_phrase(params, cites)
    layers = params.get("layers")
    poolings = set()
    if layers:
        if isinstance(layers, Mapping):  # alias -> module name, or a store manifest's layer specs
            specs = {alias: spec if isinstance(spec, Mapping) else {"module": spec}
                     for alias, spec in layers.items()}
            poolings = {str(spec.get("pooling") or "").lower() for spec in specs.values()}
            names = []
            for alias, spec in specs.items():
                notes = [str(spec["module"])] if spec.get("module") and spec["module"] != alias else []
                pooled = _POOLED.get(str(spec.get("pooling") or "").lower())
                if len(poolings) > 1 and pooled:  # pooling differs between layers: say which
                    notes.append(f"{pooled} over space")
                names.append(f"{alias} ({'; '.join(notes)})" if notes else str(alias))
        else:
            names = [str(x) for x in ([layers] if isinstance(layers, str) else layers)]
        head += f", from layer{'s' if len(names) > 1 else ''} {and_list(names)}"
        head += " in one forward pass per image" if len(names) > 1 else ""
    out = [Text(head, ".")]
    out += _preprocessing(params.get("preprocessing"))
    pooling = str(params.get("pooling") or (poolings.pop() if len(poolings) == 1 else "")).lower()
    if pooling in _POOLED:
        out.append(Text(f"Convolutional feature maps were {_POOLED[pooling]} over spatial positions."))
    elif pooling == "none":
        out.append(Text("Convolutional feature maps were kept at full spatial resolution "
                        "(no pooling)."))
    return out


def _ci_clause(attrs: Mapping, cites: Citations, written: set) -> Text | None:
    """``Confidence intervals (95%) came from <method> (<resamples>; <citation>)``, or None when the
    analysis has no CI or the paragraph already stated the same CI method with the same parameters."""
    ci_method, n_boot = method_text(attrs.get("ci_method")), attrs.get("n_bootstrap")
    level = level_of(attrs)
    if not ci_method or ("ci", ci_method, level, n_boot) in written:
        return None
    written.add(("ci", ci_method, level, n_boot))
    extra = []
    if n_boot and "resampl" not in ci_method:
        extra.append(Text(fmt_int(n_boot), " resamples"))
    if "bootstrap" in ci_method.lower() and "efron1993" not in cites.keys:
        extra.append(cites.inner("efron1993"))
    return Text(f"Confidence intervals ({fmt_level(level)}) came from ", with_details(ci_method, extra))


def _p_group(attrs: Mapping) -> tuple:
    """What a p-value sentence says apart from the correction family: analyses of one paragraph with the
    same key share one sentence, which lists their families."""
    phrase = correction_phrase(attrs)
    return (method_text(attrs.get("p_method")), attrs.get("n_permutations"),
            correction_of(attrs)[0] if phrase else None, phrase is None)


def _families(phrases: list[str], key: str | None, cites: Citations) -> str:
    """``Holm-corrected (Holm, 1979) across A and, separately, across B``: the corrections of analyses
    that share a p-value method, the correction cited where first named."""
    out = []
    for i, phrase in enumerate(phrases):
        head, _, tail = phrase.partition(" across ")
        cite = _CORRECTION_CITATIONS.get(key) if i == 0 else None
        if cite and cite not in cites.keys:
            head = f"{head} {cites.paren(cite)}"
        out.append(f"across {tail}" if i and tail and head == phrases[0].partition(" across ")[0]
                   else head + (f" across {tail}" if tail else ""))
    return " and, separately, ".join(out)


def _p_clause(attrs: Mapping, phrases: list[str], cites: Citations, alone: bool) -> Text:
    """``p values from <method> (<permutations>; <citation>), <corrections>`` (``The p values came from
    ...`` when the sentence starts with it); ``phrases``: the correction of every analysis sharing it."""
    p_method, n_perm = method_text(attrs.get("p_method")), attrs.get("n_permutations")
    families = _families(phrases, correction_of(attrs)[0], cites) if phrases else ""
    if not p_method:
        return Text("The " if alone else "", italic("p"), f" values were {families}")
    extra = []
    formula = Text()
    if is_permutation(attrs):
        if n_perm and "permutations" not in p_method:
            extra.append(Text(fmt_int(n_perm), " permutations"))
        if "(b" not in p_method.replace(" ", ""):  # outside the parentheses: no nesting
            formula = Text(", computed as (", italic("b"), " + 1)/(", italic("N"), " + 1)")
        if "phipson2010" not in cites.keys:
            extra.append(cites.inner("phipson2010"))
    return Text("The " if alone else "", italic("p"), " values came from " if alone else " values from ",
                with_details(p_method, extra), formula, f", {families}" if families else "")


def _families_of(group: list[Mapping], written: set) -> dict:
    """The p-value sentences of one paragraph: :func:`_p_group` key -> the correction phrases of the
    analyses sharing it (a method and correction the text already stated are left out)."""
    families: dict = {}
    for attrs in group:
        key = _p_group(attrs)
        phrase = correction_phrase(attrs)
        if (key[0] or phrase) and ("p", key, phrase) not in written:
            phrases = families.setdefault(key, [])
            if phrase and phrase not in phrases:
                phrases.append(phrase)
            written.add(("p", key, phrase))
    return families


def _inference(attrs: Mapping, families: dict, cites: Citations, written: set) -> Text | None:
    """The sentence on an analysis's CIs and p values, or None: a CI method already stated (identical
    parameters) is not repeated, and the p values of analyses that share a method (``families``, from
    :func:`_families_of`, emptied as written) are said once, at the first, with each one's family."""
    ci = _ci_clause(attrs, cites, written)
    key = _p_group(attrs)
    p = _p_clause(attrs, families.pop(key), cites, alone=ci is None) if key in families else None
    if ci is not None and p is not None:
        return Text(ci, "; ", p, ".")
    if ci is not None or p is not None:
        return Text(ci if ci is not None else p, ".")
    return None


def _software(params: Mapping, cites: Citations) -> list:
    out = []
    seed = params.get("seed")
    if seed is not None:
        weights = ", random weights" if str(params.get("weights", "")).lower() == "none" else ""
        out.append(Text(f"Every random step (splits, permutations, bootstrap resamples{weights}) "
                        f"used seed {seed}."))
    versions = params.get("versions") or {}
    libs = [f"{name} {versions[key]}" + (f" {cites.paren(cite)}" if cite else "")
            for key, name, cite in _LIBRARIES if key in versions]
    if libs:
        out.append(Text(f"Analyses were run with {and_list(libs)}."))
    return out


def _build(params: Mapping, cites: Citations | None = None) -> tuple[list[Text], list[str]]:
    cites = cites if cites is not None else Citations()
    paragraphs: list[list] = [_stimuli(params, cites), _features(params, cites)]
    written: set = set()
    analyses = list(params.get("analyses") or [])
    kind_for = registry().kind_for
    for attrs in analyses:
        if kind_for(attrs.get("analysis")) is None:
            raise PsychofaceError(
                f"methods paragraph: analysis {attrs.get('analysis')!r} is unknown; "
                f"use one of {', '.join(registry().analyses())}"
            )
    # one paragraph per topic, in the order the kinds were registered
    for topic in dict.fromkeys(kind.paragraph for kind in registry().kinds()):
        group = [a for a in analyses if kind_for(a.get("analysis"))[0].paragraph == topic]
        cites.paragraph = group
        parts: list = []
        families = _families_of(group, written)
        for attrs in group:
            # a description identical to one already written (the same RSA twice) is not repeated
            methods = kind_for(attrs.get("analysis"))[1].methods
            described = methods(attrs, cites, written) if methods is not None else []
            parts += [t for t in described if t.plain not in written]
            written.update(t.plain for t in parts)
            inference = _inference(attrs, families, cites, written)
            if inference is not None:
                parts.append(inference)
        paragraphs.append(parts)
    paragraphs.append(_software(params, cites))
    paragraphs = [Text(" ").join(parts) for parts in paragraphs if parts]
    if not paragraphs:
        raise PsychofaceError(
            "methods paragraph: params hold none of n_images, dataset, attributes, model, analyses, "
            "seed or versions; pass the feature store manifest and the analyses' attrs"
        )
    return paragraphs, cites.keys


def methods_paragraphs(params: Mapping) -> list[Text]:
    """The method section as paragraphs, one per topic: the stimuli and ratings; the network and its
    features (model, weights, layers, preprocessing); one per kind of analysis present (reliability,
    prediction, unit-wise correlations, RSA with partial RSA and layer comparisons, comparisons of
    correlations), each with its CIs, p values and corrections; the seed and software. ``params`` as
    in :func:`methods_paragraph`."""
    return _build(params)[0]


def methods_paragraph(params: Mapping) -> Text:
    """A methods paragraph written from the parameters actually used, citing the methods.

    ``params`` keys (all optional, but at least one must be present):

    - ``n_images`` (int), ``dataset`` (``"omi"`` cites Peterson et al., 2022; any other string is
      named as is), ``attributes`` (list of names or their number), ``n_ratings``, ``n_raters``,
      ``rating_scale`` (e.g. ``"0-100"``), ``trials_where`` (the condition that selected the rating rows);
    - from the feature store manifest (the manifest dict itself can be merged in): ``model``
      (torchvision name), ``weights`` (``"DEFAULT"``, a torchvision weights name such as
      ``"IMAGENET1K_V1"``, ``"none"`` or a checkpoint path; or the manifest's dict with ``spec``,
      ``description``, ``sha256``), ``weights_sha256``, ``layers`` (list of names, a dict alias ->
      module name, or the manifest's dict alias -> {``module``, ``pooling``, ...}), ``stimuli`` (the
      manifest's list: its length is ``n_images`` when that is absent), ``pooling`` (``"none"``,
      ``"avg"``, ``"max"``), ``preprocessing`` (a description string, or a dict with ``resize`` (int:
      shorter side, or [h, w]), ``crop`` (int or [h, w]), ``interpolation``, ``mean``, ``std``);
    - ``analyses``: a list of analysis parameter dicts (each an ``df.attrs["psychoface"]``, keys in this
      module's docstring), each described in its own sentences with its CIs, p values and correction;
    - ``seed`` (int) and ``versions`` (:func:`psychoface.provenance.versions`).

    Methods cited where used: Spearman-Brown (Brown, 1910; Spearman, 1910), ICC (Shrout & Fleiss,
    1979), ridge regression (Hoerl & Kennard, 1970), RSA (Kriegeskorte et al., 2008), Kendall's tau-a
    (Nili et al., 2014), Mantel (1967), permutation p = (b + 1)/(N + 1) (Phipson & Smyth, 2010),
    bootstrap (Efron & Tibshirani, 1993), Holm (1979), Benjamini & Hochberg (1995), Williams (1959),
    Steiger (1980), the network (VGG: Simonyan & Zisserman, 2015; MobileNetV2: Sandler et al., 2018;
    ResNet: He et al., 2016), ImageNet (Russakovsky et al., 2015) and the software (PyTorch, NumPy,
    SciPy, scikit-learn, statsmodels). :func:`references` lists the works cited.
    """
    return Text(" ").join(_build(params)[0])


def references(params: Mapping, texts=()) -> list[Text]:
    """The APA reference list (alphabetical) of the works cited in the methods paragraph written for
    ``params`` (by the paragraph itself and by the method descriptions it quotes) and in ``texts``
    (table notes, result sentences, figure notes: str or :class:`Text`), found by :func:`citations`."""
    paragraphs, keys = _build(params)
    keys = list(dict.fromkeys(keys + citations(*paragraphs, *texts)[0]))
    return reference_list(keys)


def methods_latex(params: Mapping, texts=()) -> tuple[list[str], list[str]]:
    """(the method section's paragraphs in LaTeX citing by key, ``\\citep{holm1979}``; the keys of every
    work cited there and in ``texts``, for the ``.bib`` beside it and ``\\nocite``)."""
    paragraphs, keys = _build(params, LatexCitations())
    latex = [latex_citations(p.render("latex")) for p in paragraphs]
    keys = list(dict.fromkeys(keys + citations(*paragraphs, *texts)[0]))
    return latex, keys
