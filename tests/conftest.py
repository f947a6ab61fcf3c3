"""Test isolation: a test that adds a bibliography or registers an analysis kind leaves the process as
it found it, so that no later test sees its works or its kind."""

import pytest


@pytest.fixture(autouse=True)
def _restore_bibliography_and_registry():
    from psychoface.kinds import registry
    from psychoface.reports import references

    registry.kinds()  # the built-in kinds registered before the snapshot
    files, kinds, words = list(references._FILES), dict(registry._KINDS), dict(registry._WORDS)
    yield
    if references._FILES != files:
        references._FILES[:] = files
        references._CACHE.clear()
    registry._KINDS.clear()
    registry._KINDS.update(kinds)
    registry._WORDS.clear()
    registry._WORDS.update(words)
