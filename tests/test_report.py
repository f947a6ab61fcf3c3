"""Analysis files and reports end to end: one tiny synthetic study, every output written and readable."""

import json
import os
import re
from html import unescape
from pathlib import Path

import docx
import pytest

from psychoface.errors import PsychofaceError
from psychoface.reports.report import expand_env, load_analysis_file, run_analysis_file

REPO = Path(__file__).resolve().parents[1]

TINY = """
title = "Tiny synthetic study"
[study]
synthetic = { n_faces = 12, n_raters = 6, image_size = 64 }
model = "mobilenet_v3_small"
weights = "none"
layers = ["features.1", "features.3"]
pooling = "avg"
seed = 3
n_permutations = 99
n_bootstrap = 50

[[analysis]]
kind = "reliability"
n_splits = 10

[[analysis]]
kind = "predict"
layers = ["all"]
folds = 3
n_permutations = 19

[[analysis]]
kind = "rsa"
layers = ["all"]
attributes = ["happy", "trustworthy"]
combined = true
compare_layers = ["features.1", "features.3"]

[[analysis]]
kind = "rsa"
layers = ["features.3"]
attributes = ["happy", "trustworthy"]
covariates = ["pixels"]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("naomi")  # "omi" in the path must not make it One Million Impressions
    spec = folder / "tiny.toml"
    spec.write_text(TINY)
    messages = []
    out = run_analysis_file(spec, out=folder / "out", progress=messages.append)
    return out, messages


def test_report_folder_holds_every_output(report):
    out, messages = report
    assert (out / "report.html").stat().st_size > 10_000  # figures are embedded
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<h2>Method</h2>" in html and "Table 1" in html
    assert "random" in html.lower()  # random weights are stated
    for kind in ("01_reliability", "02_predict", "03_rsa"):
        folder = out / "tables" / kind
        stem = kind.split("_", 1)[1]
        for suffix in (".md", ".tex", ".html", ".docx", ".json"):
            assert (folder / f"{stem}{suffix}").is_file(), (kind, suffix)
    assert list((out / "figures").glob("*.png")) and list((out / "figures").glob("*.pdf"))
    assert any("extracting" in m for m in messages)
    assert "  2 of 2 layers fitted" in messages  # predict reports each layer


def _body(out: Path) -> str:
    """The report's text before the reference list, tags stripped."""
    html = (out / "report.html").read_text()
    html = re.sub(r"<style>.*?</style>|data:image/png;base64,[^\"]+", "", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html.split("<h2>References</h2>")[0]))


def test_table_files_carry_the_report_numbers(report):
    out, _ = report
    html = (out / "report.html").read_text()
    in_report = re.findall(r'apa-table-number">Table (\d+)</p>\s*<p class="apa-table-title">([^<]+)<', html)
    files = []
    for folder in sorted((out / "tables").iterdir()):
        kind = folder.name.split("_", 1)[1]
        stems = sorted((p.stem for p in folder.glob(f"{kind}*.md")), key=lambda s: (len(s), s))
        for stem in stems:
            lines = (folder / f"{stem}.md").read_text().splitlines()
            files.append((lines[0].strip("*").removeprefix("Table "), lines[2].strip("*")))
    assert len(files) >= 6
    assert files == [(n, unescape(t)) for n, t in in_report]
    assert [int(n) for n, _ in files] == list(range(1, len(files) + 1))


def test_figures_are_unique_per_section_and_captioned_above(report):
    out, _ = report
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert all(re.match(r"\d\d_(predict|rsa)_", name) for name in pngs), pngs
    # both RSA sections draw the heatmap of their last layer and first rating RDM: two files each
    assert "03_rsa_rdm_layer_features.3.png" in pngs and "04_rsa_rdm_layer_features.3.png" in pngs
    assert "03_rsa_rdm_rating_happy.png" in pngs and "04_rsa_rdm_rating_happy.png" in pngs
    html = (out / "report.html").read_text()
    figures = re.findall(r'<figure class="apa-figure">(.*?)</figure>', html, re.S)
    assert len(figures) == len(pngs)  # none overwritten
    for n, figure in enumerate(figures, start=1):
        assert re.match(rf'\s*<figcaption><p class="num">Figure {n}</p><p class="title">[^<]+</p></figcaption>'
                        r'\s*<img ', figure), figure[:300]


def test_report_text_describes_every_table_and_method_once(report):
    out, _ = report
    body = _body(out)
    methods = body.split(" Results ")[0]
    assert methods.count("Representational dissimilarity matrices") == 1
    assert methods.count("Mantel tests (Mantel, 1967)") == 1
    assert "Partial RSA controlled for a pixel RDM" in methods
    assert "compared by a paired bootstrap over stimuli" in methods
    assert "The difference between features.1 and features.3 in their RDM correlation" in body
    assert "controlling for the pixels RDM, partial" in body
    assert "One Million Impressions" not in body and "Peterson" not in body
    # 19 permutations cannot give a Holm-corrected p below .05 over the attributes of a layer
    assert "no test can be significant at α = .05" in body
    # the method section in paragraphs, one per topic, in the HTML and in Word
    html = (out / "report.html").read_text()
    section = html.split("<h2>Method</h2>")[1].split("<h2>Results</h2>")[0]
    html_paragraphs = re.findall(r"<p>(.*?)</p>", section, re.S)
    assert len(html_paragraphs) >= 4 and html_paragraphs[-1].startswith("Every random step")
    assert any(p.startswith("Representational dissimilarity matrices") for p in html_paragraphs)
    document = docx.Document(str(out / "report.docx"))
    texts = [p.text for p in document.paragraphs]
    word = texts[texts.index("Method") + 1:texts.index("Results")]
    assert len(word) == len(html_paragraphs) and "Inference" not in " ".join(word)


def test_every_citation_in_the_report_is_in_its_reference_list(report):
    out, _ = report
    body = re.sub(r"\s+", " ", _body(out))
    html = (out / "report.html").read_text()
    refs = [unescape(re.sub(r"<[^>]+>", "", r)) for r in
            re.findall(r"<p>(.*?)</p>", html.split("<h2>References</h2>")[1].split("</div>")[0])]
    cited = set()
    for group in re.findall(r"[(\[]([^()\[\]]*\d{4}[^()\[\]]*)[)\]]", body):
        for piece in group.split(";"):
            m = re.match(r"\s*([A-Z][\w-]*)\b.*?,\s(\d{4})\s*$", piece)
            if m:
                cited.add(m.groups())
    cited |= set(re.findall(r"\b([A-Z][\w-]*)(?:'s|')? (?:and [A-Z][\w-]* )?\((\d{4})\)", body))
    assert ("Smouse", "1986") in cited and ("Spearman", "1904") in cited  # from table notes
    for author, year in cited:
        assert any(r.startswith(author + ",") and f"({year})" in r for r in refs), (author, year)
    assert len(refs) == len(set(refs)) and refs == sorted(refs, key=str.lower)


def test_provenance_records_seed_versions_parameters_and_hashes(report):
    out, _ = report
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 3
    assert prov["versions"]["torch"] and prov["versions"]["numpy"]
    assert len(prov["inputs"]["images"]) == 12 and all(len(s["sha256"]) == 64 for s in prov["inputs"]["images"])
    assert len(prov["inputs"]["ratings"][0]["sha256"]) == 64
    # every table's parameters: the RSA's layer comparison and partial RSA too (ICCs have no random step)
    assert [a["analysis"] for a in prov["analyses"]] == [
        "split_half_reliability", "icc", "predict", "rsa", "compare_layers", "rsa", "partial_rsa"]
    assert [a.get("seed") for a in prov["analyses"] if a["analysis"] != "icc"] == [3] * 6
    assert "random" in json.dumps(prov["store"]["weights"]).lower()


def test_word_report_opens_and_numbers_tables(report):
    out, _ = report
    document = docx.Document(str(out / "report.docx"))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Method" in text and "References" in text
    assert len(document.tables) >= 3
    numbers = [p.text for p in document.paragraphs if p.text.startswith("Table ")]
    assert numbers[:3] == ["Table 1", "Table 2", "Table 3"]


def test_word_report_uses_heading_styles_and_keeps_figures_together(report):
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt, RGBColor

    out, _ = report
    document = docx.Document(str(out / "report.docx"))
    paragraphs = document.paragraphs
    by_style = {}
    for p in paragraphs:
        by_style.setdefault(p.style.name, []).append(p.text)
    assert by_style["Heading 1"] == ["Method", "Results", "References"]
    assert by_style["Heading 2"][:2] == ["Reliability of the Ratings", "Predicting Ratings From Layers"]
    assert len(by_style["Title"]) == 1
    for name, alignment in (("Heading 1", WD_ALIGN_PARAGRAPH.CENTER), ("Heading 2", WD_ALIGN_PARAGRAPH.LEFT)):
        style = document.styles[name]
        assert style.font.bold and not style.font.italic and style.font.size == Pt(12)
        assert style.font.color.rgb == RGBColor(0, 0, 0) and style.font.name == "Times New Roman"
        assert style.paragraph_format.alignment == alignment
        assert "Theme" not in style.element.rPr.rFonts.xml  # no theme font overriding Times New Roman
    labels = [i for i, p in enumerate(paragraphs) if re.fullmatch(r"Figure \d+", p.text)]
    assert labels
    for i in labels:
        label, title, picture, note = paragraphs[i:i + 4]
        assert label.runs[0].bold and title.runs[0].italic and "graphicData" in picture._p.xml
        assert label.paragraph_format.keep_with_next and title.paragraph_format.keep_with_next
        assert picture.paragraph_format.keep_with_next and note.text.startswith("Note.")


def test_synthetic_study_folder_is_a_usable_study(report):
    out, _ = report
    study = out / "study"
    assert (study / "psychoface.toml").is_file() and (study / "ratings.csv").is_file()


def test_env_expansion():
    os.environ["PF_TEST_DIR"] = "/data"
    assert expand_env("${PF_TEST_DIR}/x", "f") == "/data/x"
    assert expand_env("${PF_TEST_UNSET_VAR:-fallback}/x", "f") == "fallback/x"
    with pytest.raises(PsychofaceError, match="PF_TEST_UNSET_VAR is not set"):
        expand_env("${PF_TEST_UNSET_VAR}", "f")


def test_dataset_is_an_explicit_top_level_key(tmp_path):
    spec = tmp_path / "omi_like.toml"
    spec.write_text('title = "x"\ndataset = "omi"\n[study]\nmodel = "vgg16"\n[[analysis]]\nkind = "rsa"\n')
    assert load_analysis_file(spec).dataset == "omi"
    spec.write_text('[study]\nratings = "/home/naomi/omi/ratings.csv"\n[[analysis]]\nkind = "rsa"\n')
    assert load_analysis_file(spec).dataset is None
    spec.write_text('dataset = 3\n[study]\n[[analysis]]\nkind = "rsa"\n')
    with pytest.raises(PsychofaceError, match="dataset = 3 is not a name"):
        load_analysis_file(spec)


def test_bad_analysis_files_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nmodel = "vgg16"\n[[analysis]]\nkind = "anova"\n')
    with pytest.raises(PsychofaceError, match="bad.toml: analysis 1 has kind 'anova'"):
        load_analysis_file(bad)
    bad.write_text('[study]\nmodel = "vgg16"\n')
    with pytest.raises(PsychofaceError, match="no \\[\\[analysis\\]\\]"):
        load_analysis_file(bad)


def test_shipped_analysis_files_parse():
    for name in ("demo.toml", "omi.toml"):
        spec = load_analysis_file(REPO / "analyses" / name)
        assert spec.analyses
    assert (REPO / "analyses" / "demo.toml").resolve() == (REPO / "psychoface" / "demo.toml").resolve()


def test_latex_report_cites_by_key_with_the_bib_beside_it(report):
    """report.tex cites the method section's works by key (\\citep{...}) and references.bib beside it
    holds exactly the works the HTML report lists, as BibTeX that parses."""
    from pybtex.database import parse_file

    from psychoface.reports.references import bibliography

    out, _ = report
    tex = (out / "report.tex").read_text()
    assert "\\addbibresource{references.bib}" in tex and "\\printbibliography" in tex
    assert re.search(r"\\citep\{[a-z]+\d{4}", tex) and "(Efron & Tibshirani, 1993" not in tex
    keys = set(parse_file(str(out / "references.bib")).entries)
    html = unescape((out / "report.html").read_text())
    listed = html.split("<h2>References</h2>", 1)[1]
    entries = {key for key, ref in bibliography().items() if re.sub(r"<[^>]+>", "", unescape(
        ref.entry.render("html"))) in re.sub(r"<[^>]+>", "", listed)}
    assert keys == entries and len(keys) > 5
    cited = set(re.findall(r"\\cite[a-z]*\{([^}]+)\}", tex))
    assert {k for group in cited for k in group.split(",")} <= keys
