"""The one exception type users see: a clear message, no traceback (the CLI prints it in red, exit 1)."""


class NerwinError(Exception):
    """A problem with the user's input, files or environment, worded for the user."""
