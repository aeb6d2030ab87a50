"""The one exception type that workflow scripts turn into a one-line message and a non-zero exit."""


class InfonasError(Exception):
    """Bad input that the user can fix: the message names the thing and where (file, key, offset)."""
