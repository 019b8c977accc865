"""The holds and consents commands of the ``recoup contact`` group, and ``recoup complaint list``.

- ``recoup contact holds [--borrower B] [--all] [--json]``: holds not yet ended (``--all``: every one),
  with where each came from and a pending lift;
- ``recoup contact hold HOLD_ID --lift --reason … --by USER`` (an open complaint's hold then waits for
  ``--approve-lift --by OTHER``; ``--reject-lift`` refuses), through :func:`lift_hold`, which the
  ``hold`` command of :mod:`recoup.contact.cli` calls (placing a hold stays ``hold BORROWER --kind …``);
- ``recoup contact consent BORROWER --channel sms --grant|--withdraw [--destination X] [--json]`` and
  ``recoup contact consents [--borrower B] [--json]``.

Lifting and deciding name a real user with ``--by`` who holds ``complaint.handle`` (four eyes compare
people, not the word "cli"). Errors are the usual one line, or the JSON envelope with ``--json``, with the
exit status of their family (docs/errors.md).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer
from rich import box
from rich.table import Table

from recoup.console import make_console
from recoup.db import upgraded_session
from recoup.errors import AuthError, UsageError
from recoup.i18n import _, ngettext

complaint_app = typer.Typer(help="Complaints register. 投诉登记。", no_args_is_help=True)
console = make_console()


class CliActorError(AuthError):
    """``--by`` does not name an active user allowed to handle holds."""

    code = "auth.forbidden"


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _local(iso: str | None) -> str:
    """A stored time (ISO, UTC) as the lender's local time for a table: ``2026-12-08 03:35``."""
    from recoup.config import get_settings

    if not iso:
        return ""
    return dt.datetime.fromisoformat(iso).astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")


def _echo(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, default=str))


def _handler(username: str, *, session: Any) -> str:
    from recoup.auth.service import get_user, has_permission

    user = get_user(username, session=session)
    if user is None or not has_permission(user, "complaint.handle"):
        raise CliActorError(
            f"--by {username!r} must name an active user holding complaint.handle / "
            f"--by 须为有处理投诉权限的有效用户",
            details={"by": username, "permission": "complaint.handle"},
        )
    return user.username


def _hold_dict(h: Any, *, session: Any, now: dt.datetime) -> dict[str, Any]:
    from recoup.complaints import holds
    from recoup.complaints.vocab import RULE_OF

    origin = holds.origin_of(h, session=session)
    pending = holds.pending_lift(h.id, session=session)
    return {
        "id": h.id,
        "borrower_key": h.borrower_key,
        "rule": RULE_OF.get(h.kind, h.kind),
        "channels": h.channels,
        "start_at": _iso(h.start_at),
        "end_at": _iso(h.end_at),
        "active": holds.is_active(h, now),
        "origin": origin.kind,
        "origin_id": origin.ref,
        "four_eyes": origin.four_eyes,
        "reason": h.reason,
        "approved_by": h.approved_by,
        "created_by": h.created_by,
        "pending_lift": None
        if pending is None
        else {"id": pending.id, "requested_by": pending.requested_by, "reason": pending.reason},
        "lifts": [
            {"id": x.id, "status": x.status, "requested_by": x.requested_by, "decided_by": x.decided_by}
            for x in holds.lifts_of(h.id, session=session)
        ],
    }


def lift_hold(
    target: str, *, mode: str, reason: str | None, by: str, note: str = "", as_json: bool = False
) -> None:
    """``hold HOLD_ID --lift`` (``mode`` "lift"), ``--approve-lift`` ("approve"), ``--reject-lift``
    ("reject")."""
    from recoup.complaints import holds
    from recoup.db import utcnow

    try:
        hold_id = int(target)
    except ValueError:
        raise UsageError(
            f"with --lift, --approve-lift or --reject-lift give the hold's id, not {target!r} / "
            "请给出暂停编号",
            details={"argument": "HOLD_ID", "value": target},
        ) from None
    with upgraded_session() as session:
        actor = _handler(by, session=session)
        if mode == "lift":
            if not reason or not reason.strip():
                raise UsageError(
                    "--lift needs --reason / 解除须填写 --reason", details={"option": "--reason"}
                )
            lift = holds.do_request_lift(hold_id, session=session, actor=actor, reason=reason)
        else:
            lift = holds.do_decide_lift(
                hold_id, session=session, actor=actor, approve=mode == "approve", note=note
            )
        hold = holds.get_hold(hold_id, session=session)
        out = _hold_dict(hold, session=session, now=utcnow())
        status = lift.status
    if as_json:
        _echo({"hold": out, "lift": {"id": lift.id, "status": status}})
        return
    if status == "requested":
        console.print(_("hold {id}: lift requested, awaiting another person's approval").format(id=hold_id))
    elif status == "approved":
        console.print(_("hold {id} lifted ({rule})").format(id=hold_id, rule=out["rule"]))
    else:
        console.print(_("hold {id}: lift rejected, the hold stays").format(id=hold_id))


def holds_cmd(
    borrower: str | None = typer.Option(None, "--borrower", help="The lender's borrower id."),
    include_ended: bool = typer.Option(False, "--all", help="Also holds that have ended."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """List contact holds (HOLD-*), where each came from and any pending lift. 列出暂停催收。"""
    from recoup.complaints import holds
    from recoup.db import utcnow

    now = utcnow()
    with upgraded_session() as session:
        rows = [
            _hold_dict(h, session=session, now=now)
            for h in holds.list_holds(
                session=session, now=now, borrower_key=borrower, include_ended=include_ended
            )
        ]
    if as_json:
        _echo({"holds": rows, "count": len(rows)})
        return
    from recoup.labels import channel_label
    from recoup.labels_domain import hold_origin_label

    table = Table(title=_("Contact holds"), box=box.SIMPLE_HEAD)
    heads = (
        _("Borrower"),
        _("Rule"),
        _("Channels"),
        _("From"),
        _("Until"),
        _("Origin"),
        _("Reason"),
        _("Lift"),
    )
    for col in ("ID", *heads):
        table.add_column(col)
    for r in rows:
        origin = hold_origin_label(r["origin"]) + (f" {r['origin_id']}" if r["origin_id"] else "")
        pending = r["pending_lift"]
        table.add_row(
            str(r["id"]),
            r["borrower_key"],
            r["rule"],
            ", ".join(channel_label(c) for c in r["channels"]) if r["channels"] else _("all channels"),
            _local(r["start_at"]),
            _local(r["end_at"]) or "—",
            origin,
            (r["reason"] or "")[:40],
            _("requested by {user}").format(user=pending["requested_by"]) if pending else "",
        )
    console.print(table)
    console.print(ngettext("{n} hold", "{n} holds", len(rows)).format(n=len(rows)))


def consent_cmd(
    borrower: str = typer.Argument(..., help="The lender's borrower id."),
    channel: str = typer.Option(..., "--channel", help="call, sms, email, im, robot_call, visit, letter …"),
    grant: bool = typer.Option(..., "--grant/--withdraw", help="Record the consent, or withdraw it."),
    destination: str = typer.Option("*", "--destination", help="One number or address (default: all)."),
    how: str = typer.Option("", "--how", help="How it was given or withdrawn (recorded call, form …)."),
    by: str = typer.Option("cli", "--by", help="Who records it."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """Grant or withdraw the borrower's consent to a channel (audited). 记录或撤回渠道同意。"""
    from recoup.complaints import consents
    from recoup.contact.vocab import Channel

    try:
        chan = Channel(channel)
    except ValueError:
        raise UsageError(
            f"--channel {channel!r} is not a channel ({', '.join(c.value for c in Channel)}) / 渠道无效",
            details={"option": "--channel", "value": channel},
        ) from None
    with upgraded_session() as session:
        if grant:
            rows = [
                consents.do_grant_consent(
                    session=session,
                    actor=by,
                    borrower_key=borrower,
                    channel=chan,
                    destination=destination,
                    how=how,
                )
            ]
        else:
            rows = consents.do_withdraw_consent(
                session=session,
                actor=by,
                borrower_key=borrower,
                channel=chan,
                destination=destination,
                how=how,
            )
        ids = [r.id for r in rows]
    action = "granted" if grant else "withdrawn"
    if as_json:
        _echo({"borrower_key": borrower, "channel": chan.value, "action": action, "consent_ids": ids})
        return
    from recoup.labels import channel_label

    text = (
        _("{borrower}: {channel} consent granted ({ids})")
        if grant
        else _("{borrower}: {channel} consent withdrawn ({ids})")
    )
    console.print(
        text.format(borrower=borrower, channel=channel_label(chan.value), ids=", ".join(map(str, ids)))
    )


def consents_cmd(
    borrower: str | None = typer.Option(None, "--borrower", help="The lender's borrower id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """List recorded consents and withdrawals. 列出渠道同意记录。"""
    from recoup.complaints import consents

    with upgraded_session() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": c.id,
                "borrower_key": c.borrower_key,
                "channel": c.channel,
                "all_destinations": c.destination_hash == "*",
                "scope": c.scope,
                "granted_at": _iso(c.granted_at),
                "revoked_at": _iso(c.revoked_at),
                "given_by": c.given_by,
                "how": c.how,
            }
            for c in consents.list_consents(session=session, borrower_key=borrower)
        ]
    if as_json:
        _echo({"consents": rows, "count": len(rows)})
        return
    from recoup.labels import channel_label

    table = Table(title=_("Consents"), box=box.SIMPLE_HEAD)
    for col in ("ID", _("Borrower"), _("Channel"), _("Where"), _("Granted"), _("Withdrawn"), _("How")):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["borrower_key"],
            channel_label(r["channel"]),
            _("every address") if r["all_destinations"] else _("one address"),
            _local(r["granted_at"]),
            _local(r["revoked_at"]) or "—",
            r["how"],
        )
    console.print(table)


@complaint_app.command("list")
def complaint_list_cmd(
    status: str = typer.Option("open", "--status", help="open, overdue, closed or all."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout / 输出 JSON"),
) -> None:
    """The complaints register with deadlines; overdue ones marked. 投诉登记及处理期限。"""
    from recoup.complaints import kernel, register
    from recoup.config import get_settings
    from recoup.db import utcnow
    from recoup.labels_domain import (
        complaint_category_label,
        complaint_kind_label,
        complaint_source_label,
        complaint_status_label,
    )

    if status not in register.STATUS_FILTERS:
        raise UsageError(
            f"--status {status!r}: one of {', '.join(register.STATUS_FILTERS)} / 状态无效",
            details={"option": "--status", "value": status},
        )
    today = utcnow().astimezone(get_settings().tz).date()
    with upgraded_session() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": c.id,
                "kind": c.kind,
                "source": c.source,
                "category": c.category,
                "borrower_key": c.borrower_key,
                "case_id": c.case_id,
                "received_on": _iso(c.received_on),
                "deadline": _iso(c.deadline),
                "extended": c.extended_on is not None,
                "days_left": None if c.closed_on else kernel.days_left(c.deadline, today),
                "overdue": kernel.is_overdue(c.deadline, today, closed=c.closed_on is not None),
                "status": c.status,
                "outcome": c.outcome,
                "hold_id": c.hold_id,
            }
            for c in register.list_complaints(session=session, today=today, status=status)
        ]
    if as_json:
        _echo({"complaints": rows, "count": len(rows), "today": today.isoformat()})
        return
    table = Table(
        title=_("Complaints ({status})").format(status=complaint_status_label(status)), box=box.SIMPLE_HEAD
    )
    heads = (
        _("Kind"),
        _("Source"),
        _("Category"),
        _("Borrower"),
        _("Received"),
        _("Deadline"),
        _("Days left"),
    )
    for col in ("ID", *heads, _("Status")):
        table.add_column(col)
    for r in rows:
        left = "" if r["days_left"] is None else str(r["days_left"])
        style = "bold red" if r["overdue"] else None
        table.add_row(
            str(r["id"]),
            complaint_kind_label(r["kind"]),
            complaint_source_label(r["source"]),
            complaint_category_label(r["category"]),
            r["borrower_key"],
            r["received_on"],
            r["deadline"] + (" *" if r["extended"] else ""),
            left + (" " + _("overdue") if r["overdue"] else ""),
            complaint_status_label(r["status"]),
            style=style,
        )
    console.print(table)
    console.print(_("* extended to 30 days"))


def mount(root: typer.Typer) -> None:
    """Add ``holds``, ``consent`` and ``consents`` to the ``contact`` group (:mod:`recoup.contact.cli`,
    already mounted on ``root``) once, and the ``complaint`` group to ``root``."""
    from recoup.contact.cli import app as contact_app

    if not any(c.name == "holds" for c in contact_app.registered_commands):
        contact_app.command("holds")(holds_cmd)
        contact_app.command("consent")(consent_cmd)
        contact_app.command("consents")(consents_cmd)
    root.add_typer(complaint_app, name="complaint")
