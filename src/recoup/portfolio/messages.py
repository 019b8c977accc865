"""What an import error may quote: values clipped to :data:`ECHO_CHARS` characters, lists cut to
:data:`ECHO_ITEMS` items, so that a hostile cell or header never floods a message."""

from __future__ import annotations

from collections.abc import Iterable

#: Longest value quoted in an error message, in characters.
ECHO_CHARS = 80
#: Most items (headers, columns) listed in one error message.
ECHO_ITEMS = 20


def clip(value: object, limit: int = ECHO_CHARS) -> str:
    """``value`` as text of at most ``limit`` characters, cut with "…": what an error may quote."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: object) -> str:
    """``repr`` of the clipped value: one line, at most :data:`ECHO_CHARS` characters plus quotes."""
    return repr(clip(value))


def quote_list(values: Iterable[object], limit: int = ECHO_ITEMS) -> str:
    """Clipped values, comma-separated, at most ``limit`` of them."""
    items = list(values)
    shown = ", ".join(quote(v) for v in items[:limit])
    return shown + (f", … and {len(items) - limit} more" if len(items) > limit else "")
