"""The one exception type that workflow scripts turn into a one-line message and a non-zero exit."""


class InfonasError(Exception):
    """Bad input that the user can fix: the message names the thing and where (file, key, offset)."""


def one_line(error: BaseException) -> str:
    """The first line of an exception's text (or its type name), for quoting inside a one-line message."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
