"""The registry of analysis kinds: one :class:`AnalysisKind` per analysis, registered at import.

A kind holds everything of one analysis that is not the pure computation (``psychoface.analyses``):
its study workflow and section (``build``), its options (CLI options of its command and keys of its
``[[analysis]]`` table), its words (a sentence per result row, a summary of a long table, its methods
text), the works its methods text cites and whether the demo runs it. The report engine
(:mod:`psychoface.reports`) and the CLI frame (:mod:`psychoface.cli`) ask the registry; they name no
analysis. The built-in kinds live in :mod:`psychoface.kinds` and register when it is imported, which
the registry does on first use; a kind registered later (a plug-in, a test) joins them.

Design after scikit-learn's estimator registry (one object per method over shared utilities) and
statsmodels' results classes (the result knows how to summarise itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from psychoface.errors import PsychofaceError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from psychoface.reports.apa import Text
    from psychoface.reports.references import Citations
    from psychoface.reports.section import Section

#: Option types: how a value is read from the command line and checked in an analysis file.
OPTION_TYPES = (str, int, float, bool, list)
#: StudyConfig fields an option may override (``Option.study_key``).
STUDY_KEYS = ("seed", "store", "ratings", "n_permutations", "n_bootstrap", "correction", "ci_level")


@dataclass(frozen=True)
class Option:
    """One option of an analysis: a CLI option of its command and a key of its ``[[analysis]]`` table.

    ``name`` is the keyword passed to ``build()`` and the analysis-file key; ``flags`` the CLI flags
    (default ``--name-with-dashes``); ``type`` one of str, int, float, bool or list (comma-separated on
    the command line, a TOML list in a file). With ``study_key`` the value overrides that field of the
    study configuration (seed, store, ...) instead of going to ``build()``. ``required``: the command
    needs it (no default); ``argument``: a positional argument of the command instead of a flag."""

    name: str
    default: object = None
    help: str = ""
    flags: tuple[str, ...] = ()
    type: object = str
    study_key: str | None = None
    required: bool = False
    argument: bool = False

    def __post_init__(self):
        if self.type not in OPTION_TYPES:
            raise PsychofaceError(f"option {self.name!r}: type {self.type!r} is not one of str, int, float, "
                                  "bool, list")
        if self.study_key is not None and self.study_key not in STUDY_KEYS:
            raise PsychofaceError(f"option {self.name!r}: study_key {self.study_key!r} is not one of "
                                  f"{', '.join(STUDY_KEYS)}")

    @property
    def cli_flags(self) -> tuple[str, ...]:
        return self.flags or ("--" + self.name.replace("_", "-"),)


@dataclass(frozen=True)
class Words:
    """How result tables whose ``df.attrs["psychoface"]["analysis"]`` is in ``analyses`` are put in words.

    ``sentence(row, attrs, n_tests)`` -> the sentences of one row; ``summary(df, attrs, where)`` ->
    words for a table longer than :data:`~psychoface.reports.text.MAX_SENTENCES` rows (``where``:
    "Table 3"); ``methods(attrs, cites, written)`` -> its methods sentences (``cites.paren(key)``,
    ``cites.narrative(key)`` record the works cited; ``cites.paragraph`` holds the attrs of every
    analysis of the same methods paragraph; ``written`` the plain text already said). CIs, p values
    and corrections are added by the engine from the attrs.

    Added to the fixed interface: ``select(df)`` -> the rows put in words (a layer profile: each
    attribute at its best layer; default all rows), counted against the sentence limit; ``title``:
    the default title of its table."""

    analyses: tuple[str, ...]
    sentence: "Callable[[Mapping, Mapping, int | None], list[Text]]"
    summary: "Callable[[pd.DataFrame, Mapping, str], list[Text]] | None" = None
    methods: "Callable[[Mapping, Citations, set], list[Text]] | None" = None
    select: "Callable[[pd.DataFrame], pd.DataFrame] | None" = None
    title: str | None = None


@dataclass(frozen=True)
class AnalysisKind:
    """One analysis: ``name`` (CLI command, analysis-file ``kind``, ``results/<name>/``), ``help`` (its
    ``--help``: a short first line, then paragraphs), ``build(config, *, figures_dir=None,
    figure_prefix="", progress=None, **options) -> Section``, its ``options``, ``words``,
    ``citations`` (bib keys its methods may cite), ``topic`` (the methods paragraph it joins; default
    its name) and ``demo`` (options of its run in the demo; None: not in the demo)."""

    name: str
    help: str
    build: "Callable[..., Section]"
    options: tuple[Option, ...] = ()
    words: tuple[Words, ...] = ()
    citations: tuple[str, ...] = ()
    topic: str | None = None
    demo: "Mapping | None" = None

    @property
    def paragraph(self) -> str:
        """The methods paragraph this kind's analyses join."""
        return self.topic or self.name

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


_KINDS: dict[str, AnalysisKind] = {}
_WORDS: dict[str, tuple[AnalysisKind, Words]] = {}
_state = {"builtins": False}


def _load_builtins() -> None:
    """Import :mod:`psychoface.kinds` once so that the built-in kinds are registered first."""
    if not _state["builtins"]:
        _state["builtins"] = True
        try:
            import psychoface.kinds  # noqa: F401  (registers the built-in kinds)
        except BaseException:
            _state["builtins"] = False  # a failed import is retried, not taken for an empty registry
            raise


def register(kind: AnalysisKind) -> AnalysisKind:
    """Register ``kind`` (replacing a kind of the same name, which keeps its place) and return it.
    Its citation keys must be in the bibliography."""
    _load_builtins()
    from psychoface.reports.references import bibliography_keys

    known = bibliography_keys()
    missing = [key for key in kind.citations if key not in known]
    if missing:
        raise PsychofaceError(f"analysis kind {kind.name!r}: citation key(s) {', '.join(missing)} are not in the "
                              "bibliography; add them to a .bib file (add_bibliography)")
    old = _KINDS.get(kind.name)
    if old is not None:
        for words in old.words:
            for analysis in words.analyses:
                _WORDS.pop(analysis.lower(), None)
    for words in kind.words:
        for analysis in words.analyses:
            owner = _WORDS.get(analysis.lower())
            if owner is not None and owner[0].name != kind.name:
                raise PsychofaceError(f"analysis kind {kind.name!r}: analysis {analysis!r} is already put in "
                                      f"words by kind {owner[0].name!r}; name its results differently")
            _WORDS[analysis.lower()] = (kind, words)
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> AnalysisKind:
    """The kind called ``name``; a :class:`PsychofaceError` naming the known kinds otherwise."""
    _load_builtins()
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise PsychofaceError(f"unknown analysis {name!r}; use one of {', '.join(_KINDS)}") from None


def kinds() -> list[AnalysisKind]:
    """Every registered kind, in registration order (built-in kinds first)."""
    _load_builtins()
    return list(_KINDS.values())


def words_for(analysis: str) -> Words | None:
    """The words of results whose ``attrs["psychoface"]["analysis"]`` is ``analysis``; None when no
    kind puts it in words."""
    found = kind_for(analysis)
    return None if found is None else found[1]


def kind_for(analysis: str) -> "tuple[AnalysisKind, Words] | None":
    """(kind, words) of results whose ``attrs["psychoface"]["analysis"]`` is ``analysis``, or None."""
    _load_builtins()
    return _WORDS.get(str(analysis or "").lower())


def analyses() -> list[str]:
    """Every analysis name some kind puts in words (for error messages)."""
    _load_builtins()
    return list(_WORDS)
