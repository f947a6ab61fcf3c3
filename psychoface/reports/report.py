"""Declarative analysis files and the reports they produce.

``psychoface run analyses/NAME.toml`` reads an analysis file, extracts features when the store is not
complete, runs each ``[[analysis]]`` in order and writes ``reports/NAME/``: a self-contained
``report.html`` (figures embedded), ``report.docx``, every table as Markdown, LaTeX, HTML, Word and CSV
(``tables/NN_<kind>/``, numbered as in the report), the figures as PNG (300 dpi) and PDF
(``figures/NN_<kind>_...``, named after their section so that no section overwrites another's), and
``provenance.json`` (the analysis file, every parameter and seed, library versions and hashes of the inputs),
and ``report.tex`` with ``references.bib`` beside it (the method section cites by key).

An analysis file::

    title = "One Million Impressions: MobileNetV2"
    bibliography = "my.bib"       # optional: BibTeX file(s) of works the texts cite, beside the package's
    dataset = "omi"               # optional: the data set, named in the methods ("omi": One Million
                                  # Impressions, cited); left out, the stimuli are not attributed
    [study]                       # any psychoface.toml key; paths relative to this file;
    images = "${PSYCHOFACE_OMI:-../../shared/data/omi}/images"   # ${VAR} and ${VAR:-default} expand
    ratings = "${PSYCHOFACE_OMI:-../../shared/data/omi}/attribute_ratings.csv.gz"
    model = "mobilenet_v2"
    # synthetic = { n_faces = 48, n_raters = 20 }   # instead of images/ratings: the built-in study

    [[analysis]]
    kind = "reliability"          # any registered analysis kind: reliability | predict | correlate | rsa | compare | ...
    [[analysis]]
    kind = "rsa"
    layers = ["all"]              # options are the kind's option names (psychoface rsa --help lists them)

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
from psychoface.reports.apa import Text, add_runs, italic
from psychoface.reports.section import Section, build_section, save_section
from psychoface.reports.methods import methods_paragraphs, references

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
    dataset: str | None = None
    bibliography: list[Path] = field(default_factory=list)


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
    unknown = sorted(set(data) - {"title", "dataset", "bibliography", "study", "analysis"})
    if unknown:
        raise PsychofaceError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)}; use title, dataset, bibliography, [study], "
            "[[analysis]]"
        )
    bib = data.get("bibliography", [])
    bib = [bib] if isinstance(bib, str) else bib
    if not isinstance(bib, list) or not all(isinstance(b, str) and b.strip() for b in bib):
        raise PsychofaceError(f"{path}: bibliography = {data['bibliography']!r} is not a file name; write e.g. "
                              "bibliography = \"my.bib\"")
    bibliography = [path.resolve().parent / expand_env(b, str(path)) for b in bib]
    for bib_path in bibliography:
        if not bib_path.is_file():
            raise PsychofaceError(f"{path}: bibliography {bib_path} not found; give a .bib file's path relative "
                                  "to the analysis file")
    dataset = data.get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or not dataset.strip()):
        raise PsychofaceError(f"{path}: dataset = {dataset!r} is not a name; write e.g. dataset = \"omi\"")
    study = dict(data.get("study", {}))
    synthetic = study.pop("synthetic", None)
    study = {k: expand_env(v, str(path)) if isinstance(v, str) else v for k, v in study.items()}
    analyses = data.get("analysis", [])
    if not analyses:
        raise PsychofaceError(f"{path}: no [[analysis]] tables; add at least one, e.g. kind = \"rsa\"")
    from psychoface.kinds.registry import kinds

    names = [kind.name for kind in kinds()]
    for i, item in enumerate(analyses, start=1):
        if item.get("kind") not in names:
            raise PsychofaceError(
                f"{path}: analysis {i} has kind {item.get('kind')!r}; use one of {', '.join(names)}"
            )
    return AnalysisFile(path, path.stem, str(data.get("title", path.stem)), study, analyses, synthetic, text,
                        dataset.strip() if dataset else None, bibliography)


def _study_config(spec: AnalysisFile, out: Path, study_dir: Path | None) -> StudyConfig:
    """The study settings of an analysis file; a synthetic study is generated into ``study_dir``."""
    from psychoface.data.synthetic import generate_study, ratings_keys_of

    values = dict(spec.study)
    values.setdefault("store", str((out / "features").resolve()))
    root = spec.path.resolve().parent
    if spec.synthetic is not None:
        study_dir = Path(study_dir or out / "study").resolve()
        options = dict(spec.synthetic)
        options.setdefault("seed", values.get("seed", 0))
        if not (study_dir / "synthetic_model.json").is_file():
            try:
                generate_study(study_dir, **options)
            except TypeError as exc:
                raise PsychofaceError(f"{spec.path}: [study] synthetic: {exc}") from None
        keys = ratings_keys_of(study_dir)  # ratings.csv, or per-rater files with their pooling keys
        values.update(keys, images=str(study_dir / "images"), ratings=str(study_dir / keys["ratings"]))
        has_landmarks = (study_dir / "landmarks.csv").is_file()
        if has_landmarks:
            values["landmarks"] = str(study_dir / "landmarks.csv")
        if not (study_dir / CONFIG_NAME).exists():
            local = dict(values, images="images", ratings=keys["ratings"],
                         store=os.path.relpath(values["store"], study_dir))
            if has_landmarks:
                local["landmarks"] = "landmarks.csv"
            extra = "".join(f"{k} = {_toml_value(v)}\n" for k, v in keys.items() if k != "ratings")
            atomic_write_text(study_dir / CONFIG_NAME, render_template(**local) + extra)
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
                      progress=None, advance=None) -> Path:
    """Run an analysis file end to end and write its report folder; returns the folder.

    ``out`` defaults to ``reports/<file stem>``. ``progress(message)`` is called before each step;
    ``advance(done, total)`` as a counted step moves on (images extracted, layers fitted), for a
    progress bar of the step last announced. Without ``advance``, counted steps are reported through
    ``progress`` at every tenth of the way.
    """
    from psychoface.workflows import extract_features

    from psychoface.reports.references import add_bibliography

    spec = load_analysis_file(path)
    for bib in spec.bibliography:  # the user's works join the reference list (and may be cited by kinds)
        add_bibliography(bib)
    out = Path(out) if out is not None else Path("reports") / spec.name
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)

    def counter(what: str):
        return advance if advance is not None else _tenths(say, what)

    started = time.time()
    config = _study_config(spec, out, Path(study_dir) if study_dir else None)
    say(f"extracting {', '.join(config.layers)} from {config.model} ({config.weights})")
    store = extract_features(config, progress=counter("images extracted"))
    sections, timings = [], {}
    numbered = 0
    for i, item in enumerate(spec.analyses, start=1):
        options = {k: v for k, v in item.items() if k != "kind"}
        say(f"analysis {i} of {len(spec.analyses)}: {item['kind']}")
        t0 = time.time()
        section = build_section(item["kind"], config, figures_dir=out / "figures", figure_prefix=f"{i:02d}_",
                                progress=counter("layers fitted"), **options)
        timings[f"{i}:{item['kind']}"] = round(time.time() - t0, 2)
        for table in section.tables:  # numbered before saving: a table file says its number in the report
            numbered += 1
            table.number = numbered
        save_section(section, out / "tables" / f"{i:02d}_{section.kind}", config=config)
        sections.append(section)
    params = methods_params(config, store, sections, dataset=spec.dataset)
    say("writing report.html and report.docx")
    write_html(out / "report.html", spec.title, sections, params)
    write_docx(out / "report.docx", spec.title, sections, params)
    write_latex(out / "report.tex", spec.title, sections, params)
    provenance = {
        "analysis_file": {"path": str(spec.path), "sha256": hashlib.sha256(spec.text.encode()).hexdigest(),
                          "text": spec.text},
        "study": config.to_dict(),
        "inputs": {"ratings": [{"path": str(f), "sha256": sha256_file(f)} for f in config.ratings_source.paths],
                   "images": store.manifest.get("stimuli")},
        "store": {k: store.manifest.get(k) for k in ("model", "weights", "preprocessing", "layers", "seed")},
        "analyses": params["analyses"],
        "seed": config.seed,
        "versions": versions(),
        "created": now(),
        "seconds": {"total": round(time.time() - started, 1), **timings},
    }
    atomic_write_json(out / "provenance.json", provenance)
    return out


def _tenths(say, what: str):
    """A ``(done, total)`` callback that reports ``what`` through ``say`` at every tenth of the way."""
    shown = [-1]

    def update(done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        if tenth > shown[0]:
            shown[0] = tenth
            say(f"  {done:,} of {total:,} {what}")

    return update


def methods_params(config: StudyConfig, store, sections: list[Section], dataset: str | None = None) -> dict:
    """The parameters :func:`~psychoface.reports.methods.methods_paragraphs` describe, from what was used;
    ``dataset`` is the analysis file's ``dataset`` key (the data set is never guessed from paths)."""
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
        "analyses": [attrs for s in sections for attrs in s.analyses],
        "seed": config.seed,
        "versions": versions(),
    }
    if dataset:
        params["dataset"] = dataset
    if ratings.has_trials:
        params["n_ratings"] = int(len(ratings.trials))
        if config.trials_where:
            params["trials_where"] = config.trials_where
        if ratings.has_raters:
            params["n_raters"] = int(ratings.trials["rater"].nunique())
    return params


def _cited_texts(sections: list[Section]) -> list[Text]:
    """Everything of the results that can cite a work: table notes, sentences, figure notes."""
    return [note for s in sections for t in s.tables for note in t.notes()] + \
        [t for s in sections for t in s.sentences] + [f.note for s in sections for f in s.figures]


# -- HTML --------------------------------------------------------------------------------------------
# APA 7 (Publication Manual, 2.27 and 7.22-7.26): the title and level-1 headings bold and centred,
# level-2 headings bold and flush left, all in the text's size; a figure's number (bold) and title
# (italic, title case) above the image, its note below.
_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: "Times New Roman", Times, serif; font-size: 12pt; line-height: 1.5; max-width: 52em;
       margin: 2em auto; padding: 0 1em; color: #111; }
h1, h2, h3 { font-size: 12pt; font-weight: bold; font-style: normal; }
h1, h2 { text-align: center; } h3 { text-align: left; }
figure.apa-figure { margin: 1.5em 0; } figure.apa-figure img { max-width: 100%; }
figure.apa-figure p { margin: 0; } figure.apa-figure .num { font-weight: bold; }
figure.apa-figure .title { font-style: italic; margin-bottom: 0.5em; }
figure.apa-figure .note { margin-top: 0.5em; }
.refs p { padding-left: 2em; text-indent: -2em; margin: 0.3em 0; }
.prov { font-size: 10pt; color: #444; }
</style>{{ table_css }}</head><body>
<h1>{{ title }}</h1>
<h2>Method</h2>
{% for m in methods %}<p>{{ m }}</p>
{% endfor %}<h2>Results</h2>
{% for s in sections %}
<h3>{{ s.title }}</h3>
{% if s.sentences %}<p>{{ s.sentences }}</p>{% endif %}
{% for t in s.tables %}{{ t }}{% endfor %}
{% for f in s.figures %}
<figure class="apa-figure">
<figcaption><p class="num">Figure {{ f.number }}</p><p class="title">{{ f.title }}</p></figcaption>
<img alt="{{ f.alt }}" src="data:image/png;base64,{{ f.data }}">
{% if f.note %}<p class="note"><i>Note.</i> {{ f.note }}</p>{% endif %}
</figure>
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
            figures.append({"number": number, "title": f.title, "alt": f"{f.title}. {f.note.plain}".strip(),
                            "note": Markup(f.note.render("html")) if f.note else "",
                            "data": base64.b64encode(Path(f.png).read_bytes()).decode("ascii")})
        rendered.append({
            "title": s.title,
            "sentences": Markup(" ".join(t.render("html") for t in s.sentences)),
            "tables": [Markup(t.to_html(standalone=False)) for t in s.tables],
            "figures": figures,
        })
    html = jinja2.Environment(autoescape=True).from_string(_HTML).render(
        title=title, methods=[Markup(m.render("html")) for m in methods_paragraphs(params)], sections=rendered,
        refs=[Markup(r.render("html")) for r in references(params, _cited_texts(sections))],
        table_css=Markup(css), version=params["versions"].get("psychoface", ""), created=now(),
        seed=params.get("seed"),
    )
    atomic_write_text(path, html)
    return path


# -- LaTeX -------------------------------------------------------------------------------------------
def write_latex(path: Path, title: str, sections: list[Section], params: dict) -> Path:
    """The report as LaTeX for the apa7 class with biblatex-apa: the method section cites by key
    (``\\citep{holm1979}``), ``references.bib`` beside it holds every work cited (those cited as text in
    table notes and sentences through ``\\nocite``), tables as :meth:`ApaTable.to_latex`, figures from
    ``figures/`` as PDF. Compile with ``pdflatex``, ``biber``, ``pdflatex``."""
    from psychoface.reports.apa import latex_escape
    from psychoface.reports.methods import methods_latex
    from psychoface.reports.references import write_bib
    from psychoface.reports.tables import LATEX_PREAMBLE

    paragraphs, keys = methods_latex(params, _cited_texts(sections))
    write_bib(path.parent / "references.bib", keys)
    lines = ["\\documentclass[stu,12pt]{apa7}", LATEX_PREAMBLE, "\\usepackage{graphicx}",
             "\\usepackage[style=apa,backend=biber,natbib=true]{biblatex}", "\\addbibresource{references.bib}",
             f"\\title{{{latex_escape(title)}}}", "\\begin{document}", "\\maketitle", "\\section{Method}",
             *[p + "\n" for p in paragraphs], "\\section{Results}"]
    for section in sections:
        lines.append(f"\\subsection{{{latex_escape(section.title)}}}")
        if section.sentences:
            lines.append(" ".join(t.render("latex") for t in section.sentences) + "\n")
        lines += [table.to_latex() for table in section.tables]
        for fig in section.figures:
            note = f"\\par\\smallskip{{\\small\\textit{{Note.}} {fig.note.render('latex')}}}" if fig.note else ""
            lines += ["\\begin{figure}[htbp]", f"\\caption{{{latex_escape(fig.title)}}}",
                      f"\\includegraphics[width=\\linewidth]{{{os.path.relpath(fig.pdf, path.parent)}}}{note}",
                      "\\end{figure}"]
    lines += [f"\\nocite{{{','.join(keys)}}}" if keys else "", "\\printbibliography", "\\end{document}", ""]
    atomic_write_text(path, "\n".join(lines))
    return path


# -- Word --------------------------------------------------------------------------------------------
def write_docx(path: Path, title: str, sections: list[Section], params: dict) -> Path:
    """The report as a Word document in APA style: Times New Roman 12 pt; the title and headings in
    Word's Title, Heading 1 and Heading 2 styles (so the navigation pane lists them) set to APA levels
    1 (bold, centred) and 2 (bold, flush left); tables; figures with number and title above the image
    and kept on its page, the note below."""
    import io

    import docx
    from docx.shared import Inches, Pt

    from psychoface.provenance import atomic_write_bytes

    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(12)
    _apa_heading_styles(document)
    document.add_paragraph(title, style="Title")
    document.add_heading("Method", level=1)
    for paragraph in methods_paragraphs(params):
        add_runs(document.add_paragraph(), paragraph)
    document.add_heading("Results", level=1)
    number = 0
    for s in sections:
        document.add_heading(s.title, level=2)
        if s.sentences:
            add_runs(document.add_paragraph(), Text(" ").join(s.sentences))
        for table in s.tables:
            table.to_docx(document)
            document.add_paragraph()
        for f in s.figures:
            number += 1
            label = document.add_paragraph()
            add_runs(label, f"Figure {number}", bold=True)
            caption = document.add_paragraph()
            add_runs(caption, f.title, italic=True)
            document.add_picture(str(f.png), width=Inches(6))
            picture = document.paragraphs[-1]
            for p in (label, caption, picture):
                p.paragraph_format.keep_with_next = True
                p.paragraph_format.space_after = Pt(0)
            caption.paragraph_format.space_after = Pt(6)
            note = document.add_paragraph()
            note.paragraph_format.space_before = Pt(6)
            if f.note:
                add_runs(note, Text(italic("Note."), " ", f.note))
            else:
                picture.paragraph_format.keep_with_next = False
    document.add_heading("References", level=1)
    for ref in references(params, _cited_texts(sections)):
        p = document.add_paragraph()
        p.paragraph_format.left_indent = Inches(0.5)
        p.paragraph_format.first_line_indent = Inches(-0.5)
        add_runs(p, ref)
    buffer = io.BytesIO()
    document.save(buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _apa_heading_styles(document) -> None:
    """Word's Title, Heading 1 and Heading 2 styles as APA 7 sets the title and heading levels 1 and 2:
    Times New Roman 12 pt bold, black, upright; title and level 1 centred, level 2 flush left (the
    template's theme fonts, colours and the title's rule removed)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    for name, centred in (("Title", True), ("Heading 1", True), ("Heading 2", False)):
        style = document.styles[name]
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        for theme in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
            fonts.attrib.pop(qn(f"w:{theme}"), None)
        for script in ("ascii", "hAnsi", "eastAsia", "cs"):
            fonts.set(qn(f"w:{script}"), "Times New Roman")
        r_pr = style.element.get_or_add_rPr()
        for tag in ("spacing", "kern", "szCs"):  # the title's letter spacing, kerning, script size
            for el in r_pr.findall(qn(f"w:{tag}")):
                r_pr.remove(el)
        style.font.size = Pt(12)
        style.font.bold = True
        style.font.italic = False
        style.font.color.rgb = RGBColor(0, 0, 0)
        p_pr = style.element.get_or_add_pPr()
        for rule in p_pr.findall(qn("w:pBdr")):
            p_pr.remove(rule)
        fmt = style.paragraph_format
        fmt.alignment = WD_ALIGN_PARAGRAPH.CENTER if centred else WD_ALIGN_PARAGRAPH.LEFT
        fmt.space_before = Pt(12)
        fmt.space_after = Pt(6)
        fmt.keep_with_next = True
