"""``recoup resolution``: plans, waivers and settlements from the command line (docs/resolutions.md).

* ``propose CASE --kind plan|waiver|settlement --by USER [--pay A | --waive A] [--instalments N]
  [--first-due D] [--deadline D] [--base overdue|whole] [--pack ID] [--reason T] [--lang zh_CN|en]
  [--evidence REF [--evidence-note T]]``
* ``approve | reject | withdraw ID --by USER [--note T]`` · ``evidence ID --by USER --ref REF [--note T]``
* ``list [--case ID] [--status S]`` · ``show ID`` · ``pending --by USER`` · ``budget [--team T]``
* ``agreement ID [--out FILE]`` (the stored PDF, checked first) · ``verify ID|NUMBER`` (a document against
  its ledger hash: exit 2 ``document.altered`` when it was changed)
* ``certificate LOAN --by USER [--lang] [--out FILE]`` (结清证明 of a paid-off or settled loan)
* ``judge --as-of D`` (what the daily cycle's intake does) · ``matrix show|check FILE|save FILE --by USER``

``--by`` names the user acting: their roles decide what the matrix lets them approve, exactly as in the
app. Every command takes ``--json``; errors are the one envelope on stderr with the error's exit status
(65 bad input, 77 ``resolution.not_authorised``, 2 ``document.altered``, 1 otherwise).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.auth.models import AppUser
from recoup.auth.service import get_user, has_permission
from recoup.cases.models import Case
from recoup.config import Settings, get_settings
from recoup.db import session_scope
from recoup.errors import NotFoundError
from recoup.i18n import _
from recoup.labels_domain import resolution_status_label, role_label
from recoup.lake import Book, book_as_of
from recoup.money import format_amount, parse_amount
from recoup.portfolio.models import CollectionAccount
from recoup.resolutions.ask import do_request
from recoup.resolutions.certificates import do_issue_certificate
from recoup.resolutions.cli_text import matrix_lines, resolution_line, resolutions_table
from recoup.resolutions.decide import do_approve, do_reject, do_withdraw
from recoup.resolutions.documents import document_path, read_document, verify_document
from recoup.resolutions.judge import do_judge_resolutions
from recoup.resolutions.matrix_load import do_save_matrix, matrix_from_payload, parse_toml
from recoup.resolutions.models import Resolution, ResolutionDocument
from recoup.resolutions.present import decidable, document_out, resolution_out
from recoup.resolutions.service import (
    ResolutionForbiddenError,
    _team_name,
    budget,
    do_add_evidence,
    get_resolution,
    matrix_for,
)

app = typer.Typer(
    help="Plans, waivers and settlements, their approval, agreements and settlement certificates. "
    "还款计划、减免与和解：审批、协议与结清证明。",
    no_args_is_help=True,
)
matrix_app = typer.Typer(
    help="The approval matrix (versioned). 审批矩阵（版本化配置）。", no_args_is_help=True
)
app.add_typer(matrix_app, name="matrix")
console = Console(emoji=False)

JSON = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON")
BY = typer.Option(..., "--by", help="The user acting (their roles are checked) / 操作人用户名")


def _emit(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, default=str))


def _user(username: str, session: Session) -> AppUser:
    user = get_user(username, session=session)
    if user is None:
        raise NotFoundError(f"no user {username!r} / 用户不存在", details={"username": username})
    return user


def _amount(text: str | None, settings: Settings) -> int | None:
    return None if text is None else parse_amount(text, minor_digits=settings.minor_digits)


def _fmt(amount: int) -> str:
    return format_amount(amount, get_settings().currency)


def _show(res: Resolution, session: Session, settings: Settings, as_json: bool) -> None:
    if as_json:
        _emit(resolution_out(res, session=session, settings=settings).model_dump(mode="json"))
        return
    typer.echo(resolution_line(res, _fmt))
    if res.decided_by:
        typer.echo(
            "  "
            + _("decided by {user} ({role}, {basis}) at {at}").format(
                user=res.decided_by,
                role=role_label(res.decider_role),
                basis=res.approval_basis,
                at=res.decided_at,
            )
        )
    doc = session.scalars(
        select(ResolutionDocument).where(
            ResolutionDocument.resolution_id == res.id, ResolutionDocument.kind == "agreement"
        )
    ).first()
    if doc is not None:
        text = _("agreement {number}: sha256 {sha256}, ledger entry {seq}")
        typer.echo("  " + text.format(number=doc.number, sha256=doc.sha256, seq=doc.ledger_seq))


@app.command("propose")
def propose_cmd(
    case_id: int = typer.Argument(..., help="Case id / 案件编号"),
    kind: str = typer.Option(..., "--kind", help="plan, waiver or settlement / 类型"),
    by: str = BY,
    pay: str | None = typer.Option(None, "--pay", help="The agreed sum to pay, e.g. 3200.00 / 应还金额"),
    waive: str | None = typer.Option(None, "--waive", help="The amount waived / 减免金额"),
    instalments: int = typer.Option(1, "--instalments", "-n", help="A plan's instalments / 分期期数"),
    first_due: dt.datetime | None = typer.Option(None, "--first-due", formats=["%Y-%m-%d"]),
    deadline: dt.datetime | None = typer.Option(None, "--deadline", formats=["%Y-%m-%d"]),
    base: str | None = typer.Option(None, "--base", help="overdue (default) or whole / 基数"),
    pack: str | None = typer.Option(None, "--pack", help="A pre-approved offer pack / 预批方案"),
    reason: str = typer.Option("", "--reason"),
    lang: str | None = typer.Option(None, "--lang", help="The agreement's language: zh_CN or en"),
    evidence: str | None = typer.Option(
        None, "--evidence", help="Hardship evidence reference / 困难证明编号"
    ),
    evidence_note: str = typer.Option("", "--evidence-note"),
    as_json: bool = JSON,
) -> None:
    """Ask for a plan, waiver or settlement; approved at once within one's own authority or a pack.
    申请分期、减免或和解；在本人权限或预批方案内即时生效。"""
    settings = get_settings()
    with session_scope() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFoundError(f"no case {case_id} / 案件不存在", details={"case_id": case_id})
        res = do_request(
            case,
            _user(by, session),
            kind=kind,
            base=base,
            pay=_amount(pay, settings),
            waive=_amount(waive, settings),
            instalments=instalments,
            first_due=first_due.date() if first_due else None,
            deadline=deadline.date() if deadline else None,
            pack_id=pack,
            reason=reason,
            locale=lang,
            evidence=[(evidence, evidence_note)] if evidence else None,
            session=session,
            settings=settings,
        )
        _show(res, session, settings, as_json)


def _decide(action: str, resolution_id: int, by: str, note: str, as_json: bool) -> None:
    settings = get_settings()
    fn = {"approve": do_approve, "reject": do_reject, "withdraw": do_withdraw}[action]
    with session_scope() as session:
        res = fn(resolution_id, _user(by, session), note=note, session=session, settings=settings)
        _show(res, session, settings, as_json)


@app.command("approve")
def approve_cmd(
    resolution_id: int, by: str = BY, note: str = typer.Option("", "--note"), as_json: bool = JSON
) -> None:
    """Approve a pending request as the matrix allows (never one's own). 审批通过（不能审批本人申请）。"""
    _decide("approve", resolution_id, by, note, as_json)


@app.command("reject")
def reject_cmd(
    resolution_id: int, by: str = BY, note: str = typer.Option("", "--note"), as_json: bool = JSON
) -> None:
    """Reject a pending request. 驳回申请。"""
    _decide("reject", resolution_id, by, note, as_json)


@app.command("withdraw")
def withdraw_cmd(
    resolution_id: int, by: str = BY, note: str = typer.Option("", "--note"), as_json: bool = JSON
) -> None:
    """Withdraw a pending request. 撤回申请。"""
    _decide("withdraw", resolution_id, by, note, as_json)


@app.command("evidence")
def evidence_cmd(
    resolution_id: int,
    by: str = BY,
    ref: str = typer.Option(..., "--ref", help="Where the document is kept / 证明材料编号"),
    note: str = typer.Option("", "--note"),
    as_json: bool = JSON,
) -> None:
    """Attach hardship evidence to a request. 附加困难证明。"""
    settings = get_settings()
    with session_scope() as session:
        e = do_add_evidence(resolution_id, _user(by, session), ref, note, session=session, settings=settings)
        if as_json:
            _emit({"id": e.id, "resolution_id": resolution_id, "reference": e.reference})
        else:
            typer.echo(
                _("evidence {id} attached to resolution {resolution}").format(
                    id=e.id, resolution=resolution_id
                )
            )


@app.command("list")
def list_cmd(
    case_id: int | None = typer.Option(None, "--case"),
    status: str | None = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = JSON,
) -> None:
    """Plans, waivers and settlements, newest first. 列出方案。"""
    settings = get_settings()
    with session_scope() as session:
        stmt = select(Resolution).order_by(Resolution.id.desc()).limit(limit)
        if case_id is not None:
            stmt = stmt.where(Resolution.case_id == case_id)
        if status is not None:
            stmt = stmt.where(Resolution.status == status)
        rows = session.scalars(stmt).all()
        if as_json:
            _emit(
                {
                    "resolutions": [
                        resolution_out(r, session=session, settings=settings).model_dump(mode="json")
                        for r in rows
                    ]
                }
            )
            return
        table = resolutions_table(rows, _fmt)
        console.print(table)


@app.command("show")
def show_cmd(resolution_id: int, as_json: bool = JSON) -> None:
    """One plan, waiver or settlement. 查看方案。"""
    settings = get_settings()
    with session_scope() as session:
        _show(get_resolution(resolution_id, session=session), session, settings, as_json)


@app.command("pending")
def pending_cmd(by: str = BY, as_json: bool = JSON) -> None:
    """The requests USER may approve. 待本人审批的申请。"""
    settings = get_settings()
    with session_scope() as session:
        rows = decidable(_user(by, session), session=session, settings=settings)
        if as_json:
            _emit(
                {
                    "resolutions": [
                        resolution_out(r, session=session, settings=settings).model_dump(mode="json")
                        for r in rows
                    ]
                }
            )
            return
        for r in rows:
            typer.echo(resolution_line(r, _fmt))
        if not rows:
            typer.echo(_("nothing awaits your approval"))


@app.command("budget")
def budget_cmd(
    team: str | None = typer.Option(None, "--team"),
    by: str | None = typer.Option(None, "--by", help="Use this user's team"),
    as_json: bool = JSON,
) -> None:
    """A team's waiver budget this month. 团队本月减免额度。"""
    settings = get_settings()
    with session_scope() as session:
        name = team if team is not None else _team_name(_user(by, session).id, session) if by else None
        on = dt.datetime.now(settings.tz).date()
        b = budget(name, on=on, matrix=matrix_for(session, settings), session=session, settings=settings)
        if as_json:
            _emit({"team": b.team, "month": b.month, "limit": b.limit, "used": b.used, "left": b.left})
        else:
            typer.echo(
                _("team {team} {month}: limit {limit}, used {used}, left {left}").format(
                    team=b.team or _("(no team)"),
                    month=b.month,
                    limit=_fmt(b.limit),
                    used=_fmt(b.used),
                    left=_fmt(b.left),
                )
            )


def _document(ref: str, session: Session) -> ResolutionDocument:
    if ref.isdigit():
        doc = session.scalars(
            select(ResolutionDocument)
            .where(ResolutionDocument.resolution_id == int(ref), ResolutionDocument.kind == "agreement")
            .order_by(ResolutionDocument.id.desc())
        ).first()
    else:
        doc = session.scalars(select(ResolutionDocument).where(ResolutionDocument.number == ref)).first()
    if doc is None:
        raise NotFoundError(f"no document for {ref!r} / 文档不存在", details={"ref": ref})
    return doc


@app.command("verify")
def verify_cmd(
    ref: str = typer.Argument(..., help="Resolution id (its agreement) or a document number"),
    as_json: bool = JSON,
) -> None:
    """Check a stored agreement or certificate against its hash in the audit ledger; exit 2 when it was
    altered. 核验协议或结清证明是否被篡改。"""
    settings = get_settings()
    with session_scope() as session:
        doc = _document(ref, session)
        check = verify_document(doc, session=session, settings=settings)
        if as_json:
            _emit(
                {"document": check.number, "sha256": check.sha256, "ledger_seq": check.ledger_seq, "ok": True}
            )
        else:
            typer.echo(
                _(
                    "document {number} OK: sha256 {sha256} matches ledger entry {seq} "
                    "(`recoup ledger prove {seq}` proves the entry)"
                ).format(number=check.number, sha256=check.sha256, seq=check.ledger_seq)
            )


@app.command("agreement")
def agreement_cmd(
    ref: str = typer.Argument(..., help="Resolution id or document number"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the PDF here / 输出文件"),
    as_json: bool = JSON,
) -> None:
    """Write out a stored agreement or certificate (checked against the ledger first). 导出协议 PDF。"""
    settings = get_settings()
    with session_scope() as session:
        doc = _document(ref, session)
        verify_document(doc, session=session, settings=settings)
        target = out or Path(f"{doc.number}.pdf")
        target.write_bytes(read_document(doc, settings))
        if as_json:
            _emit({"document": doc.number, "path": str(target), "sha256": doc.sha256})
        else:
            stored = document_path(doc, settings)
            typer.echo(
                _("{number} written to {path} (stored at {stored})").format(
                    number=doc.number, path=target, stored=stored
                )
            )


def _book(session: Session) -> Book | None:
    try:
        return book_as_of(dt.datetime.now(get_settings().tz).date(), session=session)
    except NotFoundError:
        return None


@app.command("certificate")
def certificate_cmd(
    loan: str = typer.Argument(..., help="The lender's loan id / 借款编号"),
    by: str = BY,
    lang: str = typer.Option("zh_CN", "--lang"),
    out: Path | None = typer.Option(None, "--out", "-o"),
    as_json: bool = JSON,
) -> None:
    """The settlement certificate (结清证明) of a paid-off or settled loan. 开具结清证明。"""
    settings = get_settings()
    with session_scope() as session:
        account = session.scalars(
            select(CollectionAccount).where(CollectionAccount.external_id == loan)
        ).first()
        if account is None:
            raise NotFoundError(f"no loan {loan} in collections / 没有该借款", details={"loan": loan})
        user = _user(by, session)
        doc = do_issue_certificate(
            account.id,
            session=session,
            settings=settings,
            actor=user.username,
            locale=lang,
            book=_book(session),
        )
        if out is not None:
            out.write_bytes(read_document(doc, settings))
        if as_json:
            _emit(document_out(doc).model_dump(mode="json"))
        else:
            typer.echo(
                _(
                    "certificate {number} ({basis}): facts in ledger entry {facts}, "
                    "file sha256 {sha256} in entry {seq}"
                ).format(
                    number=doc.number,
                    basis=doc.basis,
                    facts=doc.facts_seq,
                    sha256=doc.sha256,
                    seq=doc.ledger_seq,
                )
            )


@app.command("judge")
def judge_cmd(
    as_of: dt.datetime = typer.Option(..., "--as-of", formats=["%Y-%m-%d"]),
    as_json: bool = JSON,
) -> None:
    """Judge the active plans, waivers and settlements against the book of a day (the cycle does this).
    按某日数据判定方案履约情况。"""
    day = as_of.date()
    with session_scope() as session:
        counts = do_judge_resolutions(day, session=session, book=book_as_of(day, session=session))
    if as_json:
        _emit({"as_of": day.isoformat(), "counts": counts})
    else:
        judged = ", ".join(f"{n} {resolution_status_label(s)}" for s, n in sorted(counts.items()))
        typer.echo(f"{day}: " + (judged or _("nothing to judge")))


@matrix_app.command("show")
def matrix_show(as_json: bool = JSON) -> None:
    """The approval matrix in force and its version. 当前审批矩阵。"""
    settings = get_settings()
    with session_scope() as session:
        m = matrix_for(session, settings)
    if as_json:
        _emit({"version": m.label, "matrix": m.payload})
        return
    for text in matrix_lines(m):
        typer.echo(text)


@matrix_app.command("check")
def matrix_check(file: Path = typer.Argument(..., exists=True, dir_okay=False), as_json: bool = JSON) -> None:
    """Validate a matrix file; every problem is listed. 校验审批矩阵文件。"""
    m = matrix_from_payload(
        parse_toml(file.read_text("utf-8")), "draft", minor_digits=get_settings().minor_digits
    )
    if as_json:
        _emit({"valid": True, "name": m.name, "waiver_rows": len(m.waiver_table.rows), "packs": len(m.packs)})
        return
    typer.echo(
        _("approval matrix {name} is valid: {waivers} waiver rows, {plans} plan rows, {packs} packs").format(
            name=m.name, waivers=len(m.waiver_table.rows), plans=len(m.plan_table.rows), packs=len(m.packs)
        )
    )


@matrix_app.command("save")
def matrix_save(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    by: str = BY,
    comment: str = typer.Option("", "--comment"),
    as_json: bool = JSON,
) -> None:
    """Save a matrix file as the next version (it takes effect for new requests and approvals).
    保存为新版本的审批矩阵。"""
    settings = get_settings()
    data = parse_toml(file.read_text("utf-8"))
    with session_scope() as session:
        user = _user(by, session)
        if not has_permission(user, "config.edit"):
            raise ResolutionForbiddenError(
                f"{user.username} lacks config.edit, which saving the approval matrix needs"
                " / 无权修改审批矩阵",
                details={"permission": "config.edit"},
            )
        m = do_save_matrix(
            data, session=session, actor=user.username, comment=comment, minor_digits=settings.minor_digits
        )
    if as_json:
        _emit({"version": m.label})
    else:
        typer.echo(_("approval matrix saved as {version}").format(version=m.label))
