"""``recoup contact …`` (attempt logs, holds, consents) and ``recoup qa …`` (quality inspection)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from recoup.console import make_console
from recoup.db import upgraded_session
from recoup.i18n import N_, _

#: A QA review's reason and state (``qa_review.reason`` / ``status`` / ``appeal_decision``).
_QA = {
    "red_line": N_("red line"),
    "sample": N_("random sample"),
    "queued": N_("queued"),
    "appealed": N_("appealed"),
    "passed": N_("passed"),
    "failed": N_("failed"),
    "closed": N_("closed"),
    "upheld": N_("upheld"),
    "overturned": N_("overturned"),
}


def _qa(code: object) -> str:
    text = _QA.get(str(code))
    return _(text) if text is not None else str(code)


app = typer.Typer(help="Contact log, holds and consents. 联系记录、暂停与同意。", no_args_is_help=True)
qa_app = typer.Typer(help="Quality inspection of calls (录音质检).", no_args_is_help=True)
console = make_console()


def _when(text: str, option: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    from recoup.config import get_settings
    from recoup.errors import UsageError

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an ISO-8601 time · 时间格式无效") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(get_settings().timezone))


@app.command("import-attempts")
def import_attempts_cmd(
    file: Path = typer.Argument(..., help="CSV, XLSX or Parquet attempt log."),
    agency: str | None = typer.Option(None, "--agency", help="The agency whose log this is."),
) -> None:
    """Import an agency's or a dialer's attempt log (caps count everyone's attempts). 导入外呼记录。"""
    from recoup.config import get_settings
    from recoup.contact.attempt_import import do_import_attempts

    with console.status(_("importing {file} …").format(file=file.name)), upgraded_session() as session:
        rep = do_import_attempts(file, session=session, agency=agency, timezone=get_settings().timezone)
    text = _("{file}: {rows} rows, {added} added, {already} already there")
    console.print(text.format(file=rep.file, rows=rep.rows, added=rep.added, already=rep.already_there))


@app.command("hold")
def hold_cmd(
    borrower: str = typer.Argument(
        ...,
        metavar="BORROWER|HOLD_ID",
        help="The lender's borrower id; the hold's id with a --…-lift option.",
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="dispute, cease, do_not_contact, bankruptcy, breathing_space, stop"
    ),
    start: str | None = typer.Option(None, "--start", help="ISO time the hold starts."),
    end: str | None = typer.Option(None, "--end", help="ISO time it ends (open-ended if omitted)."),
    channels: str | None = typer.Option(
        None, "--channels", help="Comma-separated channels (all if omitted)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded): to place or to lift."),
    evidence: str | None = typer.Option(None, "--evidence", help="Reference to the evidence."),
    approved_by: str | None = typer.Option(None, "--approved-by", help="Who approved it."),
    by: str = typer.Option(
        "cli", "--by", help="Who records it (to lift or decide: a complaint.handle user)."
    ),
    lift: bool = typer.Option(
        False, "--lift", help="Lift hold HOLD_ID with --reason (see docs/complaints.md)."
    ),
    approve_lift: bool = typer.Option(
        False, "--approve-lift", help="Approve another person's lift of HOLD_ID."
    ),
    reject_lift: bool = typer.Option(False, "--reject-lift", help="Reject another person's lift of HOLD_ID."),
    note: str = typer.Option("", "--note", help="A note with --approve-lift / --reject-lift."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """Place a hold on contact (HOLD-*), or lift one. 设置或解除暂停催收。"""
    from recoup.errors import UsageError as _Usage

    modes = [m for m, on in (("lift", lift), ("approve", approve_lift), ("reject", reject_lift)) if on]
    if len(modes) > 1:
        raise _Usage("use one of --lift, --approve-lift, --reject-lift / 只能选择一种操作")
    if modes:
        from recoup.complaints.cli import lift_hold

        lift_hold(borrower, mode=modes[0], reason=reason, by=by, note=note, as_json=as_json)
        return
    if kind is None or start is None or not reason:
        raise _Usage(
            "placing a hold needs --kind, --start and --reason / 设置暂停须提供 --kind、--start 和 --reason",
            details={"options": ["--kind", "--start", "--reason"]},
        )
    from recoup.contact.policy.model import HoldKind
    from recoup.contact.service import do_add_hold
    from recoup.contact.vocab import Channel
    from recoup.errors import RecoupError
    from recoup.ledger.service import do_append

    try:
        hk = HoldKind(kind)
        chans = [Channel(c.strip()) for c in channels.split(",")] if channels else None
    except ValueError as exc:
        raise RecoupError(f"{exc} · 取值无效") from None
    with upgraded_session() as session:
        row = do_add_hold(
            session=session,
            borrower_key=borrower,
            kind=hk,
            start=_when(start, "--start"),
            end=_when(end, "--end") if end else None,
            channels=chans,
            reason=reason,
            evidence=evidence,
            approved_by=approved_by,
            created_by=by,
        )
        do_append("contact.hold", {"hold_id": row.id, "kind": row.kind}, session=session, actor=by)
        hold_id = row.id
    if as_json:
        typer.echo(json.dumps({"hold_id": hold_id, "borrower_key": borrower, "kind": hk.value}))
        return
    console.print(_("hold {id} recorded").format(id=hold_id))


@qa_app.command("import")
def qa_import_cmd(
    file: Path = typer.Argument(
        ..., help="JSON lines: {call_id, source?, segments: [{speaker, start, end, text}]}"
    ),
    institution: list[str] = typer.Option(
        ..., "--institution", help="Names that count as naming the lender."
    ),
    preset: str = typer.Option("cn", "--preset", help="Content rules to apply."),
    sample: float = typer.Option(0.05, "--sample", min=0.0, max=1.0, help="Share of calls for human review."),
) -> None:
    """Import call transcripts, machine-check each, queue the human sample. 导入录音文本并质检。"""
    from recoup.contact.qa import QaConfig, do_import_transcripts

    config = QaConfig(institution_names=tuple(institution), preset=preset, sample_rate=sample)
    with console.status(_("inspecting {file} …").format(file=file.name)), upgraded_session() as session:
        rep = do_import_transcripts(file, session=session, config=config)
    text = _(
        "{transcripts} transcripts · {findings} findings ({red_lines} red lines) · "
        "{sampled} sampled for review · {unknown} unknown calls"
    )
    counts = {"transcripts": rep.transcripts, "findings": rep.findings, "red_lines": rep.red_lines}
    console.print(text.format(**counts, sampled=rep.sampled, unknown=rep.unknown_calls))


@qa_app.command("sweep")
def qa_sweep_cmd(
    start: str = typer.Option(..., "--from", help="ISO time."),
    end: str = typer.Option(..., "--to", help="ISO time."),
) -> None:
    """Flag connected calls without a recording (CN-REC). 检查无录音的接通电话。"""
    from recoup.contact.qa import do_sweep_recordings

    with upgraded_session() as session:
        n = do_sweep_recordings(session=session, start=_when(start, "--from"), end=_when(end, "--to"))
    console.print(_("{n} connected call(s) without a recording").format(n=n))


@qa_app.command("queue")
def qa_queue_cmd(limit: int = typer.Option(50, "-n", help="How many to show.")) -> None:
    """The review queue and appeals. 复核队列。"""
    from sqlalchemy import select

    from recoup.contact.models import ContactAttempt, QaReview

    table = Table(title=_("QA reviews"), box=box.SIMPLE_HEAD)
    for col in ("ID", _("Call"), _("Collector"), _("Agency"), _("Reason"), _("Status")):
        table.add_column(col)
    with upgraded_session() as session:
        rows = session.execute(
            select(QaReview, ContactAttempt)
            .join(ContactAttempt, ContactAttempt.id == QaReview.attempt_id)
            .where(QaReview.status.in_(["queued", "appealed"]))
            .order_by(QaReview.id)
            .limit(limit)
        ).all()
        for r, a in rows:
            table.add_row(str(r.id), a.external_id, a.made_by, a.agency or "", _qa(r.reason), _qa(r.status))
    console.print(table)


@qa_app.command("review")
def qa_review_cmd(
    review_id: int = typer.Argument(...),
    passed: bool = typer.Option(..., "--pass/--fail", help="The reviewer's decision."),
    reviewer: str = typer.Option(..., "--reviewer"),
    note: str = typer.Option("", "--note"),
) -> None:
    """Decide a queued review. 复核结论。"""
    from recoup.contact.qa import do_review

    with upgraded_session() as session:
        row = do_review(review_id, session=session, reviewer=reviewer, passed=passed, note=note)
        status = row.status
    console.print(_("review {id}: {status}").format(id=review_id, status=_qa(status)))


@qa_app.command("appeal")
def qa_appeal_cmd(
    review_id: int = typer.Argument(...),
    collector: str = typer.Option(..., "--collector"),
    note: str = typer.Option(..., "--note"),
) -> None:
    """The collector appeals a failed review. 催收员申诉。"""
    from recoup.contact.qa import do_appeal

    with upgraded_session() as session:
        do_appeal(review_id, session=session, collector=collector, note=note)
    console.print(_("review {id}: {status}").format(id=review_id, status=_qa("appealed")))


@qa_app.command("decide-appeal")
def qa_decide_cmd(
    review_id: int = typer.Argument(...),
    upheld: bool = typer.Option(..., "--uphold/--overturn"),
    reviewer: str = typer.Option(..., "--reviewer"),
    note: str = typer.Option("", "--note"),
) -> None:
    """A second reviewer decides an appeal. 申诉复核。"""
    from recoup.contact.qa import do_decide_appeal

    with upgraded_session() as session:
        row = do_decide_appeal(review_id, session=session, reviewer=reviewer, upheld=upheld, note=note)
        decision = row.appeal_decision
    console.print(_("review {id}: appeal {decision}").format(id=review_id, decision=_qa(decision)))


@qa_app.command("agencies")
def qa_agencies_cmd() -> None:
    """Findings per agency (red lines count against the agency). 机构质检得分。"""
    from recoup.contact.qa import agency_scores

    table = Table(title=_("QA by agency"), box=box.SIMPLE_HEAD)
    for col in (_("Agency"), _("Red lines"), _("Findings")):
        table.add_column(col)
    with upgraded_session() as session:
        for agency, red, n in agency_scores(session=session):
            table.add_row(agency, str(red), str(n))
    console.print(table)
