"""How an error becomes the one line people read in a log, a metadata value, an alert or the CLI's output."""

from __future__ import annotations

from collections.abc import Callable


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the variable and never holds a password."""


def headline(text: str | None) -> str:
    """The first non-blank line of a message, with the next one when the first announces it ('... failed:')."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {lines[1]}"
    return lines[0] if lines else ""


def first_line(exc: BaseException, clean: Callable[[str], str] | None = None) -> str:
    """The headline of the error's message (its type's name when it has none).

    `clean` is applied to the whole message before it is cut, e.g. scrub_secrets: the first line could
    end inside a password that holds a line break.
    """
    text = str(exc)
    return headline(clean(text) if clean else text) or type(exc).__name__
