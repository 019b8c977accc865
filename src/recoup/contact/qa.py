"""Quality inspection of calls (录音质检): every transcript machine-checked, a human sample, appeals.

Checks on a transcript (both speakers, times in seconds from the start):

- the collector's words go through the content linter (threats, insults, false legal claims, disclosure,
  private channels …); a finding in a red-line category stands the collector down and counts against
  their agency;
- ``CN-ID``: the collector names the institution in the opening (the first collector turn, within
  ``opening_seconds``);
- ``QA-PTP-UNHEARD``: the contact log says the borrower promised to pay but no promise is heard from
  the borrower in the transcript;
- ``CN-REC`` (by :func:`do_sweep_recordings`): a connected call without a recording.

A configurable share of calls (stable per call: a hash, not a random draw) goes to a human review queue;
a reviewer passes or fails it; the collector may appeal a failed review, and the appeal is decided by a
different reviewer. Services take ``session`` and never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from recoup.contact.models import CallTranscript, ContactAttempt, QaFinding, QaReview, StandDown
from recoup.contact.vocab import VOICE_CHANNELS, AttemptOutcome, Disposition
from recoup.db import utcnow
from recoup.errors import ConflictError, NotFoundError, RecoupError

__all__ = [
    "RED_LINE",
    "ImportReport",
    "Issue",
    "QaConfig",
    "QaError",
    "Segment",
    "TranscriptIn",
    "agency_scores",
    "check_transcript",
    "do_appeal",
    "do_decide_appeal",
    "do_import_transcripts",
    "do_review",
    "do_sweep_recordings",
    "in_sample",
    "stood_down",
]

#: Linter categories that are red lines: one breach stands the collector down.
RED_LINE = ("threat", "impersonation", "insult", "disclosure", "private_channel", "pretext")


class QaError(RecoupError):
    code = "qa.invalid"
    http_status = 422
    exit_code = 65


class Segment(BaseModel):
    """One turn of a call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speaker: str = Field(pattern="^(agent|customer)$")
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str


class TranscriptIn(BaseModel):
    """One line of a dialer's transcript export."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str  # the attempt's external id in the contact log
    source: str = "collector"
    segments: list[Segment]


@dataclass(frozen=True)
class QaConfig:
    """Inspection parameters (an operator sets them per lender)."""

    institution_names: tuple[str, ...]
    preset: str = "cn"
    opening_seconds: float = 30.0
    sample_rate: float = 0.05  # share of calls sent to a human reviewer


@dataclass(frozen=True)
class Issue:
    rule: str
    severity: str
    excerpt: str
    at_seconds: float | None
    message: str


# A promise heard from the borrower: a commitment verb with a time, or an explicit promise.
_PROMISE = re.compile(
    r"(我|俺).{0,6}(会|就|马上|尽快|一定|保证|争取).{0,6}(还|转|付|处理)"
    r"|(今天|明天|后天|下周|周[一二三四五六日天]|\d+\s*[号日]|月底|月初|发工资).{0,8}(还|转|付)"
    r"|承诺|保证还|答应还"
    r"|\bI(?:'ll| will| can| am going to|'m going to)\b.{0,30}\b(pay|send|transfer|settle)\b"
    r"|\bpromise\b|\b(pay|send)\b.{0,20}\b(tomorrow|today|friday|monday|tuesday|wednesday|thursday|"
    r"saturday|sunday|next week|by the \d+)",
    re.IGNORECASE,
)


def _linter_issues(text: str, preset: str) -> list[Issue]:
    try:
        from recoup.contact.linter import lint
    except ImportError:  # pragma: no cover - the linter ships with the package
        return []
    locale = "zh_CN" if re.search(r"[\u4e00-\u9fff]", text) else "en"
    out = []
    for f in lint(text, preset=preset, locale=locale).findings:
        category = f.rule.partition(".")[2]
        out.append(Issue(f.rule, "red_line" if category in RED_LINE else "major", f.excerpt, None, f.message))
    return out


def check_transcript(
    segments: Sequence[Segment], *, disposition: str | None, config: QaConfig
) -> list[Issue]:
    """Every issue in one call's transcript (pure: no database)."""
    issues: list[Issue] = []
    agent = [s for s in segments if s.speaker == "agent"]
    for s in agent:
        for issue in _linter_issues(s.text, config.preset):
            issues.append(Issue(issue.rule, issue.severity, issue.excerpt, s.start, issue.message))
    opening = [s for s in agent if s.start <= config.opening_seconds][:1]
    names = [n.lower() for n in config.institution_names]
    if not opening or not any(n in opening[0].text.lower() for n in names):
        excerpt = opening[0].text[:80] if opening else ""
        issues.append(
            Issue(
                "CN-ID",
                "major",
                excerpt,
                opening[0].start if opening else None,
                "开场未表明机构名称 · the institution was not named at the start of the call",
            )
        )
    if disposition == Disposition.PROMISE_TO_PAY.value:
        heard = any(_PROMISE.search(s.text) for s in segments if s.speaker == "customer")
        if not heard:
            issues.append(
                Issue(
                    "QA-PTP-UNHEARD",
                    "major",
                    "",
                    None,
                    "记录了承诺还款但录音中未听到 · a promise is logged but not heard in the call",
                )
            )
    return issues


def in_sample(call_id: str, rate: float) -> bool:
    """Whether a call is in the human-review sample (stable: the same call always gets the same answer)."""
    h = int.from_bytes(hashlib.sha256(f"qa-sample:{call_id}".encode()).digest()[:8], "big")
    return h < rate * 2**64


def _record(session: Session, attempt: ContactAttempt, issue: Issue) -> QaFinding | None:
    exists = session.scalars(
        select(QaFinding).where(
            QaFinding.attempt_id == attempt.id,
            QaFinding.rule == issue.rule,
            QaFinding.excerpt == issue.excerpt[:300],
        )
    ).first()
    if exists is not None:
        return None
    row = QaFinding(
        attempt_id=attempt.id,
        rule=issue.rule,
        severity=issue.severity,
        excerpt=issue.excerpt[:300],
        at_seconds=issue.at_seconds,
        message=issue.message[:500],
        made_by=attempt.made_by,
        agency=attempt.agency,
    )
    session.add(row)
    session.flush()
    if issue.severity == "red_line":
        if not stood_down(attempt.made_by, session=session):
            session.add(StandDown(collector=attempt.made_by, agency=attempt.agency, finding_id=row.id))
        _queue(session, attempt, "red_line")
    return row


def _queue(session: Session, attempt: ContactAttempt, reason: str) -> None:
    if session.scalars(select(QaReview).where(QaReview.attempt_id == attempt.id)).first() is None:
        session.add(QaReview(attempt_id=attempt.id, reason=reason))
        session.flush()


@dataclass
class ImportReport:
    transcripts: int = 0
    findings: int = 0
    red_lines: int = 0
    sampled: int = 0
    unknown_calls: int = 0


def _read(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise QaError(f"cannot read {path}: {exc.strerror} · 无法读取文件") from exc
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise QaError(f"{path.name} line {n}: not JSON ({exc.msg}) · 第{n}行不是 JSON") from exc


def do_import_transcripts(
    path: Path,
    *,
    session: Session,
    config: QaConfig,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a dialer's JSON-lines transcripts, check each, and queue the sample for review.

    Every line is validated first: a bad line names its line number and field, and nothing is written.
    """
    parsed: list[TranscriptIn] = []
    for n, raw in _read(path):
        try:
            parsed.append(TranscriptIn.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise QaError(f"{path.name} line {n}: {where}: {first['msg']} · 第{n}行字段无效") from exc
    report = ImportReport()
    for i, t in enumerate(parsed):
        attempt = session.scalars(
            select(ContactAttempt).where(
                ContactAttempt.source == t.source, ContactAttempt.external_id == t.call_id
            )
        ).first()
        if attempt is None:
            report.unknown_calls += 1
            continue
        if session.scalars(select(CallTranscript).where(CallTranscript.attempt_id == attempt.id)).first():
            continue  # imported before: importing the same file again changes nothing
        session.add(CallTranscript(attempt_id=attempt.id, segments=[s.model_dump() for s in t.segments]))
        report.transcripts += 1
        for issue in check_transcript(t.segments, disposition=attempt.disposition, config=config):
            if _record(session, attempt, issue) is not None:
                report.findings += 1
                report.red_lines += issue.severity == "red_line"
        if in_sample(f"{t.source}:{t.call_id}", config.sample_rate):
            _queue(session, attempt, "sample")
            report.sampled += 1
        if progress is not None:
            progress(i + 1)
    session.flush()
    return report


def do_sweep_recordings(*, session: Session, start: dt.datetime, end: dt.datetime) -> int:
    """Flag every connected call in ``[start, end)`` that has no recording (CN-REC); returns how many."""
    rows = session.scalars(
        select(ContactAttempt).where(
            ContactAttempt.at >= start,
            ContactAttempt.at < end,
            ContactAttempt.channel.in_([c.value for c in VOICE_CHANNELS]),
            ContactAttempt.outcome.in_([AttemptOutcome.CONVERSATION.value, AttemptOutcome.CONNECTED.value]),
            ContactAttempt.recording_ref.is_(None),
        )
    ).all()
    n = 0
    for attempt in rows:
        issue = Issue("CN-REC", "major", "", None, "已接通通话无录音 · a connected call has no recording")
        n += _record(session, attempt, issue) is not None
    return n


def stood_down(collector: str, *, session: Session) -> bool:
    """Whether ``collector`` is stood down now (case management must not assign them work)."""
    row = session.scalars(
        select(StandDown.id).where(StandDown.collector == collector, StandDown.lifted_at.is_(None))
    ).first()
    return row is not None


def _review(session: Session, review_id: int) -> QaReview:
    row = session.get(QaReview, review_id)
    if row is None:
        raise NotFoundError(f"no review {review_id} · 没有该质检复核")
    return row


def do_review(review_id: int, *, session: Session, reviewer: str, passed: bool, note: str = "") -> QaReview:
    """A reviewer's decision on a queued call: passed (findings dismissed) or failed (findings confirmed)."""
    row = _review(session, review_id)
    if row.status != "queued":
        raise ConflictError(f"review {review_id} is {row.status}, not queued · 该复核已处理")
    row.status = "passed" if passed else "failed"
    row.reviewer = reviewer
    row.decision_note = note
    row.decided_at = utcnow()
    for f in session.scalars(select(QaFinding).where(QaFinding.attempt_id == row.attempt_id)):
        f.status = "dismissed" if passed else "confirmed"
    if passed:  # a dismissed red line lifts the stand-down it caused
        _lift(session, row.attempt_id, reviewer)
    session.flush()
    return row


def _lift(session: Session, attempt_id: int, by: str) -> None:
    ids = select(QaFinding.id).where(QaFinding.attempt_id == attempt_id)
    for s in session.scalars(
        select(StandDown).where(StandDown.finding_id.in_(ids), StandDown.lifted_at.is_(None))
    ):
        s.lifted_at = utcnow()
        s.lifted_by = by


def do_appeal(review_id: int, *, session: Session, collector: str, note: str) -> QaReview:
    """The collector appeals a failed review; only the collector the call belongs to may appeal."""
    row = _review(session, review_id)
    attempt = session.get(ContactAttempt, row.attempt_id)
    if row.status != "failed":
        raise ConflictError(
            f"only a failed review can be appealed (this one is {row.status}) · 仅可申诉未通过的复核"
        )
    if attempt is None or attempt.made_by != collector:
        raise QaError("only the collector of the call may appeal · 仅通话的催收员可申诉")
    row.status = "appealed"
    row.appeal_note = note
    for f in session.scalars(select(QaFinding).where(QaFinding.attempt_id == row.attempt_id)):
        f.status = "appealed"
    session.flush()
    return row


def do_decide_appeal(
    review_id: int, *, session: Session, reviewer: str, upheld: bool, note: str = ""
) -> QaReview:
    """A second reviewer (not the first) decides the appeal: upheld keeps the findings, else they go."""
    row = _review(session, review_id)
    if row.status != "appealed":
        raise ConflictError(f"review {review_id} is not under appeal · 该复核未在申诉中")
    if reviewer == row.reviewer:
        raise QaError("the appeal must be decided by a different reviewer · 申诉须由另一名复核员处理")
    row.status = "closed"
    row.appeal_reviewer = reviewer
    row.appeal_decision = "upheld" if upheld else "overturned"
    row.decision_note = ((row.decision_note or "") + f"\n[appeal] {note}").strip()
    for f in session.scalars(select(QaFinding).where(QaFinding.attempt_id == row.attempt_id)):
        f.status = "confirmed" if upheld else "dismissed"
    if not upheld:
        _lift(session, row.attempt_id, reviewer)
    session.flush()
    return row


def agency_scores(*, session: Session) -> list[tuple[str, int, int]]:
    """Per agency: (agency, red-line findings not dismissed, all findings not dismissed)."""
    rows = session.execute(
        select(
            QaFinding.agency,
            func.sum(case((QaFinding.severity == "red_line", 1), else_=0)),
            func.count(),
        )
        .where(QaFinding.agency.is_not(None), QaFinding.status != "dismissed")
        .group_by(QaFinding.agency)
        .order_by(QaFinding.agency)
    ).all()
    return [(str(a), int(r or 0), int(n)) for a, r, n in rows]
