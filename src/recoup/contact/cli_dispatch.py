"""``recoup dispatch run``, ``recoup dispatch status`` and ``recoup worker``: send what the outbox holds."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from recoup.console import is_terminal, log_line, make_console
from recoup.i18n import _
from recoup.labels import outbox_label

if TYPE_CHECKING:  # the dispatcher's imports are heavy; `recoup --help` should stay fast
    from sqlalchemy import Engine

    from recoup.config import Settings
    from recoup.contact.dispatch import DispatchReport

__all__ = ["register"]

console = make_console()
dispatch_app = typer.Typer(
    help="Send due outbox messages through the channel plugins. 发送待发消息。", no_args_is_help=True
)

_ROWS = ("sent", "blocked", "deferred", "retried", "failed", "dead", "expired")


def _summary(report: DispatchReport, title: str) -> Table:
    table = Table(title=title)
    table.add_column(_("Outcome"))
    table.add_column(_("Messages"), justify="right")
    counts = report.counts()
    for key in _ROWS:
        table.add_row(outbox_label(key, with_code=True), f"{counts[key]:,}")
    for key in ("released", "lost"):
        if counts[key]:
            table.add_row(outbox_label(key, with_code=True), f"{counts[key]:,}")
    caption = _("{claimed} claimed in {batches} batch(es)")
    table.caption = caption.format(claimed=f"{report.claimed:,}", batches=report.batches)
    return table


@dispatch_app.command("run")
def run_cmd(
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="Messages per batch.")] = 100,
    until_empty: Annotated[
        bool, typer.Option("--until-empty", help="Keep going until no message is due.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (errors too). 输出 JSON。")
    ] = False,
) -> None:
    """Send one batch of due messages (or all of them), re-checking the contact policy at send time.

    Messages past their validity window are marked expired, never sent. Refuses to start
    (``config.lender_identity``, exit 78) while a channel reaches people and the lender's identity
    settings are unset or sample values (docs/dispatch.md, "Safe sending").
    """
    from recoup import migrate
    from recoup.config import get_settings
    from recoup.contact.channels import load_channels
    from recoup.contact.dispatch import DispatchReport, check_lender_identity, one_dispatcher, run_once
    from recoup.db import get_engine

    settings = get_settings()
    check_lender_identity(settings, load_channels(settings))  # before touching the database
    engine = get_engine(settings)
    migrate.upgrade(engine)
    total = DispatchReport()
    log = not is_terminal(sys.stderr)  # a cron job's log gets one line per batch
    with one_dispatcher(engine, what="recoup dispatch run"):
        channels = load_channels(settings)
        try:
            channels.check()
            while True:
                report = run_once(engine, batch=batch, plugins=channels, settings=settings)
                total.add(report)
                if log:
                    log_line("dispatch", "batch: " + _batch_line(report))
                if not until_empty or report.claimed + report.expired == 0:
                    break
        finally:
            channels.close()
    if as_json:
        import json

        typer.echo(
            json.dumps(
                {"counts": total.counts(), "claimed": total.claimed, "batches": total.batches},
                ensure_ascii=False,
            )
        )
        return
    console.print(_summary(total, _("Dispatch")))


def _batch_line(r: DispatchReport) -> str:
    return _(
        "{sent} sent, {blocked} blocked, {deferred} deferred, {retried} retried, {failed} failed, "
        "{dead} dead, {expired} expired"
    ).format(
        sent=r.sent,
        blocked=r.blocked,
        deferred=r.deferred,
        retried=r.retried,
        failed=r.failed,
        dead=r.dead,
        expired=r.expired,
    )


@dispatch_app.command("status")
def status_cmd() -> None:
    """Count outbox messages by status."""
    from recoup import migrate
    from recoup.contact.outbox import counts
    from recoup.db import get_engine, session_scope

    engine = get_engine()
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        by_status = counts(session=session)
    table = Table(title=_("Outbox"))
    table.add_column(_("Status"))
    table.add_column(_("Messages"), justify="right")
    for status in ("pending", "sending", "sent", "blocked", "failed", "dead", "expired"):
        table.add_row(outbox_label(status, with_code=True), f"{by_status.get(status, 0):,}")
    console.print(table)


def worker_cmd(
    poll: Annotated[
        float, typer.Option("--poll", min=0.1, max=3600, help="Seconds to wait when nothing is due.")
    ] = 5.0,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="Messages per batch.")] = 100,
) -> None:
    """Run the dispatcher until SIGINT/SIGTERM (the message being sent is finished first).

    On SQLite one dispatcher runs per database: a second one refuses at once (``lock.busy``, exit 75).
    Refuses to start (``config.lender_identity``, exit 78) while a channel reaches people and the
    lender's identity settings are unset or sample values (docs/dispatch.md, "Safe sending").
    """
    from recoup import migrate
    from recoup.config import get_settings
    from recoup.contact.channels import load_channels
    from recoup.contact.dispatch import check_lender_identity, one_dispatcher
    from recoup.db import get_engine

    settings = get_settings()
    check_lender_identity(settings, load_channels(settings))  # before touching the database
    engine = get_engine(settings)
    migrate.upgrade(engine)
    with one_dispatcher(engine, what="recoup worker"):
        _work(engine, settings, poll=poll, batch=batch)


def _work(engine: Engine, settings: Settings, *, poll: float, batch: int) -> None:
    from recoup.contact.dispatch import worker

    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        text = _("{signal}: finishing the current message …").format(signal=signal.Signals(signum).name)
        console.print(f"[yellow]{text}[/]")
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        text = _("dispatcher running (poll {poll}s, batch {batch}); Ctrl-C stops")
        console.print(text.format(poll=f"{poll:g}", batch=batch))
        total = worker(
            engine,
            poll_seconds=poll,
            stop_event=stop,
            batch=batch,
            settings=settings,
            on_batch=lambda r: console.print(_("batch: {line}").format(line=_batch_line(r))),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(_summary(total, _("Worker stopped")))


def register(app: typer.Typer) -> None:
    """Mount ``dispatch`` (run, status) and ``worker`` on the ``recoup`` command."""
    app.add_typer(dispatch_app, name="dispatch")
    app.command("worker")(worker_cmd)
