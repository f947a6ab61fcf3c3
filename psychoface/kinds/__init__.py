"""Analysis kinds: one module per analysis (its study workflow, section, words, options), each
registering one :class:`~psychoface.kinds.registry.AnalysisKind` at import. The order of the imports is
the order of the CLI commands and of the methods paragraphs."""

from psychoface.kinds import reliability, predict, correlate, rsa, compare, shape, geometry  # noqa: F401  (registration)
