"""Contact-content compliance linter: catches what must never go out in a collection message (threats,
impersonation, false legal claims, insults, exaggerated consequences, third-party disclosure, private
payment channels, extra fees, pushing new borrowing, pretexts) and checks each channel's mandatory content.

>>> lint("后 果 自 負", preset="cn").findings[0].rule
'CN-CONTENT.threat'

See :mod:`.presets` for the rule ids and :mod:`.channels` for the channel rules.
"""

from __future__ import annotations

from recoup.contact.linter.engine import analyse, lint
from recoup.contact.linter.model import Finding, LintContext, LintFileError, LintInputError, LintResult
from recoup.contact.linter.presets import PRESETS

__all__ = [
    "PRESETS",
    "Finding",
    "LintContext",
    "LintFileError",
    "LintInputError",
    "LintResult",
    "analyse",
    "lint",
]
