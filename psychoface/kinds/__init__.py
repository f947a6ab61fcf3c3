"""Analysis kinds: one module per analysis (its study workflow, section, words, options), each
registering one :class:`~psychoface.kinds.registry.AnalysisKind` at import. The order of the imports is
the order of the CLI commands and of the methods paragraphs."""

from psychoface.kinds import reliability, predict, correlate, rsa, compare, shape, geometry, explain  # noqa: F401  (registration)
from psychoface.kinds import properties  # noqa: F401,E402  (registration)
