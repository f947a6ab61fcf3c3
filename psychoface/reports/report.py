"""Declarative analysis files and the reports they produce.

``psychoface run analyses/NAME.toml`` reads an analysis file, extracts features when the store is not
complete, runs each ``[[analysis]]`` in order and writes ``reports/NAME/``: a self-contained
``report.html`` (figures embedded), ``report.docx``, every table as Markdown, LaTeX, HTML, Word and CSV
(``tables/``), the figures as PNG (300 dpi) and PDF (``figures/``), and ``provenance.json`` (the analysis
file, every parameter and seed, library versions and hashes of the inputs).

An analysis file::

    title = "One Million Impressions: MobileNetV2"
    [study]                       # any psychoface.toml key; paths relative to this file;
    images = "${PSYCHOFACE_OMI:-../../shared/data/omi}/images"   # ${VAR} and ${VAR:-default} expand
    ratings = "${PSYCHOFACE_OMI:-../../shared/data/omi}/attribute_ratings.csv.gz"
    model = "mobilenet_v2"
    # synthetic = { n_faces = 48, n_raters = 20 }   # instead of images/ratings: the built-in study

    [[analysis]]
    kind = "reliability"          # reliability | predict | correlate | compare | rsa
    [[analysis]]
    kind = "rsa"
    layers = ["all"]              # options are the keyword arguments of the section builders

The feature store defaults to ``<report folder>/features``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from psychoface.config import CONFIG_NAME, StudyConfig, parse_config, render_template
from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_json, atomic_write_text, now, sha256_file, versions
from psychoface.reports.apa import Text, add_runs
from psychoface.reports.sections import BUILDERS, Section, build_section, save_section
from psychoface.reports.text import methods_paragraph, references

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class AnalysisFile:
    """A parsed analysis file."""

    path: Path
    name: str
    title: str
    study: dict
    analyses: list[dict]
    synthetic: dict | None = None
    text: str = field(default="", repr=False)


def expand_env(value: str, where: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def repl(match):
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise PsychofaceError(f"{where}: environment variable {name} is not set; set it or write ${{{name}:-default}}")

    return _ENV.sub(repl, value)


def load_analysis_file(path: str | Path) -> AnalysisFile:
    """Read and validate an analysis file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise PsychofaceError(f"{path}: analysis file not found; see the analyses/ folder for examples")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PsychofaceError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"title", "study", "analysis"})
    if unknown:
        raise PsychofaceError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; use title, [study], [[analysis]]")
    study = dict(data.get("study", {}))
    synthetic = study.pop("synthetic", None)
    study = {k: expand_env(v, str(path)) if isinstance(v, str) else v for k, v in study.items()}
    analyses = data.get("analysis", [])
    if not analyses:
        raise PsychofaceError(f"{path}: no [[analysis]] tables; add at least one, e.g. kind = \"rsa\"")
    for i, item in enumerate(analyses, start=1):
        if item.get("kind") not in BUILDERS:
            raise PsychofaceError(
                f"{path}: analysis {i} has kind {item.get('kind')!r}; use one of {', '.join(BUILDERS)}"
            )
    return AnalysisFile(path, path.stem, str(data.get("title", path.stem)), study, analyses, synthetic, text)


def _study_config(spec: AnalysisFile, out: Path, study_dir: Path | None) -> StudyConfig:
    """The study settings of an analysis file; a synthetic study is generated into ``study_dir``."""
    from psychoface.data.synthetic import generate_study

    values = dict(spec.study)
    values.setdefault("store", str((out / "features").resolve()))
    root = spec.path.resolve().parent
    if spec.synthetic is not None:
        study_dir = Path(study_dir or out / "study").resolve()
        options = dict(spec.synthetic)
        options.setdefault("seed", values.get("seed", 0))
        if not (study_dir / "ratings.csv").is_file():
            try:
                generate_study(study_dir, **options)
            except TypeError as exc:
                raise PsychofaceError(f"{spec.path}: [study] synthetic: {exc}") from None
        values.update(images=str(study_dir / "images"), ratings=str(study_dir / "ratings.csv"))
        if not (study_dir / CONFIG_NAME).exists():
            local = dict(values, images="images", ratings="ratings.csv",
                         store=os.path.relpath(values["store"], study_dir))
            atomic_write_text(study_dir / CONFIG_NAME, render_template(**local))
    toml_lines = [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return parse_config("\n".join(toml_lines) + "\n", root=root, source=spec.path)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_analysis_file(path: str | Path, *, out: str | Path | None = None, study_dir: str | Path | None = None,
                      progress=None) -> Path:
    """Run an analysis file end to end and write its report folder; returns the folder.

    ``out`` defaults to ``reports/<file stem>``; ``progress(message)`` is called before each step.
    """
    from psychoface.workflows import extract_features

    spec = load_analysis_file(path)
    out = Path(out) if out is not None else Path("reports") / spec.name
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    started = time.time()
    config = _study_config(spec, out, Path(study_dir) if study_dir else None)
    say(f"extracting {', '.join(config.layers)} from {config.model} ({config.weights})")
    store = extract_features(config)
    sections, timings = [], {}
    for i, item in enumerate(spec.analyses, start=1):
        options = {k: v for k, v in item.items() if k != "kind"}
        say(f"analysis {i} of {len(spec.analyses)}: {item['kind']}")
        t0 = time.time()
        section = build_section(item["kind"], config, figures_dir=out / "figures", **options)
        timings[f"{i}:{item['kind']}"] = round(time.time() - t0, 2)
        save_section(section, out / "tables" / f"{i:02d}_{section.kind}", config=config)
        sections.append(section)
    _number(sections)
    params = methods_params(config, store, sections)
    say("writing report.html and report.docx")
    write_html(out / "report.html", spec.title, sections, params)
    write_docx(out / "report.docx", spec.title, sections, params)
    provenance = {
        "analysis_file": {"path": str(spec.path), "sha256": hashlib.sha256(spec.text.encode()).hexdigest(),
                          "text": spec.text},
        "study": config.to_dict(),
        "inputs": {"ratings": {"path": str(config.ratings_path), "sha256": sha256_file(config.ratings_path)},
                   "images": store.manifest.get("stimuli")},
        "store": {k: store.manifest.get(k) for k in ("model", "weights", "preprocessing", "layers", "seed")},
        "analyses": [s.params for s in sections],
        "seed": config.seed,
        "versions": versions(),
        "created": now(),
        "seconds": {"total": round(time.time() - started, 1), **timings},
    }
    atomic_write_json(out / "provenance.json", provenance)
    return out


def _number(sections: list[Section]) -> None:
    n = 0
    for section in sections:
        for table in section.tables:
            n += 1
            table.number = n


def methods_params(config: StudyConfig, store, sections: list[Section]) -> dict:
    """The parameters :func:`~psychoface.reports.text.methods_paragraph` describes, from what was used."""
    from psychoface.workflows import load_ratings_from_config

    ratings = load_ratings_from_config(config)
    manifest = store.manifest
    weights = manifest.get("weights", {})
    params = {
        "n_images": len(store.stimulus_ids),
        "attributes": ratings.attributes,
        "model": manifest.get("model"),
        "weights": weights.get("spec"),
        "weights_sha256": weights.get("sha256"),
        "layers": {name: info.get("module") for name, info in manifest.get("layers", {}).items()},
        "pooling": sorted({info.get("pooling") for info in manifest.get("layers", {}).values()})[0]
        if manifest.get("layers") else "none",
        "preprocessing": manifest.get("preprocessing"),
        "analyses": [s.params for s in sections],
        "seed": config.seed,
        "versions": versions(),
    }
    if "omi" in str(config.ratings_path).lower() or "attribute_ratings" in str(config.ratings_path):
        params["dataset"] = "omi"
    if ratings.has_trials:
        params["n_ratings"] = int(len(ratings.trials))
        if ratings.has_raters:
            params["n_raters"] = int(ratings.trials["rater"].nunique())
    return params


# -- HTML --------------------------------------------------------------------------------------------
_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: "Times New Roman", Times, serif; font-size: 12pt; line-height: 1.5; max-width: 52em;
       margin: 2em auto; padding: 0 1em; color: #111; }
h1 { font-size: 16pt; text-align: center; } h2 { font-size: 13pt; } h3 { font-size: 12pt; font-style: italic; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; }
figcaption .num { font-weight: bold; display: block; } figcaption .cap { font-style: italic; }
.refs p { padding-left: 2em; text-indent: -2em; margin: 0.3em 0; }
.prov { font-size: 10pt; color: #444; }
</style>{{ table_css }}</head><body>
<h1>{{ title }}</h1>
<h2>Method</h2>
<p>{{ methods }}</p>
<h2>Results</h2>
{% for s in sections %}
<h3>{{ s.title }}</h3>
{% if s.sentences %}<p>{{ s.sentences }}</p>{% endif %}
{% for t in s.tables %}{{ t }}{% endfor %}
{% for f in s.figures %}
<figure><img alt="{{ f.caption }}" src="data:image/png;base64,{{ f.data }}">
<figcaption><span class="num">Figure {{ f.number }}</span><span class="cap">{{ f.caption }}</span></figcaption></figure>
{% endfor %}
{% endfor %}
<h2>References</h2>
<div class="refs">{% for r in refs %}<p>{{ r }}</p>{% endfor %}</div>
<p class="prov">Produced by psychoface {{ version }} on {{ created }}; seed {{ seed }}. Every parameter, seed, library
version and input hash is in provenance.json beside this file.</p>
</body></html>
"""


def write_html(path: Path, title: str, sections: list[Section], params: dict) -> Path:
    """A self-contained HTML report: methods, results (sentences, APA tables, embedded figures), references."""
    import jinja2
    from markupsafe import Markup

    css = ""
    if sections and sections[0].tables:
        page = sections[0].tables[0].to_html(standalone=True)
        match = re.search(r"<style>.*?</style>", page, re.S)
        css = match.group(0) if match else ""
    number = 0
    rendered = []
    for s in sections:
        figures = []
        for f in s.figures:
            number += 1
            figures.append({"number": number, "caption": f.caption,
                            "data": base64.b64encode(Path(f.png).read_bytes()).decode("ascii")})
        rendered.append({
            "title": s.title,
            "sentences": Markup(" ".join(t.render("html") for t in s.sentences)),
            "tables": [Markup(t.to_html(standalone=False)) for t in s.tables],
            "figures": figures,
        })
    html = jinja2.Environment(autoescape=True).from_string(_HTML).render(
        title=title, methods=Markup(methods_paragraph(params).render("html")), sections=rendered,
        refs=[Markup(r.render("html")) for r in references(params)], table_css=Markup(css),
        version=params["versions"].get("psychoface", ""), created=now(), seed=params.get("seed"),
    )
    atomic_write_text(path, html)
    return path


# -- Word --------------------------------------------------------------------------------------------
def write_docx(path: Path, title: str, sections: list[Section], params: dict) -> Path:
    """The report as a Word document in APA style (Times New Roman 12 pt, APA headings, tables, figures)."""
    import io

    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Inches, Pt

    from psychoface.provenance import atomic_write_bytes

    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(12)
    heading = document.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(title)
    run.bold = True
    _heading(document, "Method", level=1)
    add_runs(document.add_paragraph(), methods_paragraph(params))
    _heading(document, "Results", level=1)
    number = 0
    for s in sections:
        _heading(document, s.title, level=2)
        if s.sentences:
            add_runs(document.add_paragraph(), Text(" ").join(s.sentences))
        for table in s.tables:
            table.to_docx(document)
            document.add_paragraph()
        for f in s.figures:
            number += 1
            p = document.add_paragraph()
            p.add_run(f"Figure {number}").bold = True
            p2 = document.add_paragraph()
            p2.add_run(f.caption).italic = True
            document.add_picture(str(f.png), width=Inches(6))
    _heading(document, "References", level=1)
    for ref in references(params):
        p = document.add_paragraph()
        p.paragraph_format.left_indent = Inches(0.5)
        p.paragraph_format.first_line_indent = Inches(-0.5)
        add_runs(p, ref)
    buffer = io.BytesIO()
    document.save(buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _heading(document, text: str, level: int) -> None:
    """APA 7 headings: level 1 centred bold, level 2 flush-left bold."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    p = document.add_paragraph()
    if level == 1:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.add_run(text).bold = True
