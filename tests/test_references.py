"""References as data: every entry of psychoface/references.bib set in APA 7 exactly as the
hand-written reference list had it (tests/data/apa_references.json), citations and user bibliographies."""

import json
from pathlib import Path

import pytest

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import Segment, Text
from psychoface.reports.references import Citations, add_bibliography, bibliography, citations, reference_list

EXPECTED = json.loads((Path(__file__).parent / "data" / "apa_references.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_entry_is_set_as_the_apa_reference(key):
    ref = bibliography()[key]
    expected = EXPECTED[key]
    assert ref.entry == Text(*(Segment(text, style) for text, style in expected["entry"])), ref.entry.render("markdown")
    assert ref.cite == expected["cite"]
    assert ref.narrative == expected["narrative"]


def test_the_bibliography_holds_exactly_the_cited_works():
    assert set(EXPECTED) <= set(bibliography())


def test_citations_and_reference_list():
    cites = Citations()
    assert cites.paren("spearman1910", "brown1910") == "(Brown, 1910; Spearman, 1910)"
    assert cites.narrative("williams1959", possessive=True) == "Williams's (1959)"
    assert cites.keys == ["spearman1910", "brown1910", "williams1959"]
    listed = [t.plain[:12] for t in reference_list(cites.keys)]
    assert listed == ["Brown, W. (1", "Spearman, C.", "Williams, E."]
    with pytest.raises(PsychofaceError, match="'doe2001' is not in the bibliography"):
        cites.paren("doe2001")


def test_a_user_bibliography_joins(tmp_path):
    bib = tmp_path / "mine.bib"
    bib.write_text("@book{doe2001, author = {Doe, Jane and Roe, R.}, year = {2001}, "
                   "title = {A book on \\textit{faces}}, publisher = {Press}}\n", encoding="utf-8")
    add_bibliography(bib)
    ref = bibliography()["doe2001"]
    assert ref.entry.render("markdown") == "Doe, J., & Roe, R. (2001). *A book on faces*. Press."
    assert ref.cite == "Doe & Roe, 2001" and ref.narrative == "Doe and Roe (2001)"
    assert citations("as shown (Doe & Roe, 2001)") == (["doe2001"], [])
    bad = tmp_path / "bad.bib"
    bad.write_text("@book{x, author = {A, B}", encoding="utf-8")
    with pytest.raises(PsychofaceError, match="bad.bib: not a readable BibTeX file"):
        add_bibliography(bad)


def test_the_keys_read_without_parsing_are_the_parsed_keys():
    from psychoface.reports.references import bibliography_keys

    assert bibliography_keys() == set(bibliography())
