"""The bridge from the policy engine to the content linter: findings become rule ids the preset owns."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from recoup.contact.policy.base import Ctx

__all__ = ["make_lint"]

LintFn = Callable[[Ctx], tuple[tuple[str, str], ...]]


def make_lint(linter_preset: str) -> LintFn | None:
    """A function giving ``(finding id, message)`` for a proposal's content; None without a linter."""
    if importlib.util.find_spec("recoup.contact.linter") is None:
        return None
    return None
