"""How an error becomes the one line people read in a log, a metadata value or the CLI's output."""

from __future__ import annotations

from collections.abc import Callable


def first_line(exc: BaseException, clean: Callable[[str], str] | None = None) -> str:
    """The first line of the error's message (its type's name when it has none).

    `clean` is applied to the whole message before it is cut, e.g. scrub_secrets: the first line could
    end inside a password that holds a line break.
    """
    text = str(exc)
    text = (clean(text) if clean else text).strip()
    return text.splitlines()[0] if text else type(exc).__name__
