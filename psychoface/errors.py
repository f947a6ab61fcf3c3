"""User-facing errors.

Every problem caused by the user's input (a file, a row, a value, a name) is raised as
:class:`PsychofaceError` with a one-line message that names the culprit and says what to do.
The CLI prints it without a traceback and exits with status 2.
"""


class PsychofaceError(Exception):
    """A problem with the user's input, explained in one line."""
