"""The ``recoup`` command: one Typer app mounting each domain's commands.

Errors a user can cause are :class:`~recoup.errors.RecoupError`: their message is printed
(never a traceback) and the process exits non-zero.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from recoup.errors import RecoupError

app = typer.Typer(
    name="recoup",
    help="recoup — post-loan management and collections (贷后管理 / 智能催收).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)

db_app = typer.Typer(help="The collections database (migrations). 数据库迁移。", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations up to REVISION (default: head)."""
    from recoup import migrate
    from recoup.db import get_engine

    migrate.upgrade(get_engine(), revision)
    typer.echo(f"database at {revision}")


@db_app.command("heads")
def db_heads() -> None:
    """Print the migration heads (exactly one is expected)."""
    from recoup import migrate

    for h in migrate.heads():
        typer.echo(h)


def _mount() -> None:
    """Attach domain command groups (imported lazily so `recoup --help` stays fast)."""
    from recoup import cli_mount

    cli_mount.mount(app)


def main() -> None:
    """Entry point: run the app, turning RecoupError into a message and an exit status."""
    import logging

    from recoup.pii import install_log_filter

    # Phone and ID numbers never reach a log, whatever a library logs.
    logging.basicConfig(level=logging.WARNING)
    install_log_filter()
    from sqlalchemy.exc import OperationalError

    _mount()
    try:
        try:
            app()
        except OperationalError as exc:
            busy = _database_busy(exc)
            if busy is None:
                raise
            raise busy from None
    except RecoupError as exc:
        err_console.print(
            f"[bold red]error[/] {escape(f'[{exc.code}]')} {escape(exc.message)}", highlight=False
        )
        sys.exit(exc.exit_code)


def _database_busy(exc: Exception) -> RecoupError | None:
    """SQLite's ``database is locked`` (another writer outlasted the busy timeout) as ``db.busy``."""
    from recoup.errors import DatabaseBusyError

    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = first[0] if first else ""
    if "database is locked" not in reason and "database table is locked" not in reason:
        return None
    return DatabaseBusyError(
        "the database is busy: another process kept it locked longer than the busy timeout "
        "(RECOUP_SQLITE_BUSY_TIMEOUT_MS); the interrupted transaction was rolled back. Try again "
        "when the other process has finished. 数据库繁忙，请稍后再试。",
        details={"reason": reason},
    )


if __name__ == "__main__":
    main()
