"""The linter's public data types and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recoup.contact.linter.normalize import Normalized
from recoup.errors import RecoupError

__all__ = ["Doc", "Finding", "LintContext", "LintFileError", "LintInputError", "LintResult"]


class LintInputError(RecoupError):
    """Bad input to the linter: unknown preset, locale, channel or party; no text."""

    code = "linter.bad_input"
    exit_code = 64  # EX_USAGE: an option has a value the linter does not know


class LintFileError(LintInputError):
    """The template file cannot be read."""

    code = "linter.bad_file"
    exit_code = 66  # EX_NOINPUT


@dataclass(frozen=True)
class Finding:
    """One problem: a stable rule id, the offending span of the ORIGINAL text, and a bilingual message.

    A missing mandatory element (no opt-out line, no 【签名】) spans the whole message, and so does a finding
    of the learned check (``….abuse_model``), which carries its ``score`` (a probability, 0–1).
    """

    rule: str
    span: tuple[int, int]
    excerpt: str
    message: str  # "中文 · English"
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "span": [self.span[0], self.span[1]],
            "excerpt": self.excerpt,
            "message": self.message,
        }
        if self.score is not None:
            out["score"] = self.score
        return out


@dataclass(frozen=True)
class LintResult:
    """``ok`` is true when there are no findings."""

    ok: bool
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"ok": bool, "findings": [{"rule", "span": [a, b], "excerpt", "message"}]}``."""
        return {"ok": self.ok, "findings": [f.to_json() for f in self.findings]}

    @property
    def rules(self) -> frozenset[str]:
        """The rule ids found."""
        return frozenset(f.rule for f in self.findings)


@dataclass(frozen=True)
class LintContext:
    """What the text alone cannot tell. Every field is optional.

    * ``sms_signatures`` — the registered 【签名】s. Empty (the default) means none were registered with the
      linter, so any 【…】 signature is accepted; a Chinese SMS must still carry one. When not empty, the
      message must carry one of them.
    * ``allowed_domains`` — whitelisted link domains (a subdomain of one is allowed too). A Chinese SMS may
      link only to these (empty: no link is allowed). On other channels, and without a channel, links are
      checked only when the set is not empty.
    * ``time_barred`` — the debt is past the limitation period: any threat of suit is flagged (US-TBD).
    * ``consent_ai_voice`` — prior express consent to artificial-voice calls is recorded (US robot calls).
    * ``first_contact`` — the first communication: a US written message needs the full mini-Miranda.
    * ``party`` — who receives the message (:class:`recoup.contact.vocab.Party`): a message to an
      emergency contact or a third party must not mention the debt at all.
    """

    sms_signatures: frozenset[str] = field(default_factory=frozenset)
    allowed_domains: frozenset[str] = field(default_factory=frozenset)
    time_barred: bool = False
    consent_ai_voice: bool = False
    first_contact: bool = False
    party: str = "debtor"


@dataclass(frozen=True)
class Doc:
    """A message under analysis: the original text, its normalisation, and the normalised text with
    homophones rewritten (``canon``, the same length as ``norm.text``)."""

    text: str
    norm: Normalized
    canon: str

    def finding(self, rule: str, i: int, j: int, message: str) -> Finding:
        """A finding over normalised ``[i, j)``."""
        a, b = self.norm.original_span(i, j)
        return Finding(rule, (a, b), self.text[a:b], message)

    def whole(self, rule: str, message: str) -> Finding:
        """A finding about the message as a whole (something mandatory is missing)."""
        excerpt = self.text if len(self.text) <= 60 else self.text[:59] + "…"
        return Finding(rule, (0, len(self.text)), excerpt, message)
