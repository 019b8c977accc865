"""The ``recoup`` command: one Typer app mounting each domain's commands.

Errors a user can cause are :class:`~recoup.errors.RecoupError`: their message is printed
(never a traceback) and the process exits non-zero.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

from recoup.console import make_console
from recoup.errors import RecoupError

app = typer.Typer(
    name="recoup",
    help="recoup — post-loan management and collections (贷后管理 / 智能催收).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = make_console(stderr=True)

db_app = typer.Typer(help="The collections database (migrations). 数据库迁移。", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations up to REVISION (default: head)."""
    from recoup import migrate
    from recoup.db import allow_database_creation, get_engine

    allow_database_creation()
    migrate.upgrade(get_engine(), revision)
    typer.echo(f"database at {revision}")


@db_app.command("heads")
def db_heads() -> None:
    """Print the migration heads (exactly one is expected)."""
    from recoup import migrate

    for h in migrate.heads():
        typer.echo(h)


_mounted: list[bool] = []


def _mount() -> None:
    """Attach domain command groups (imported lazily so `recoup --help` stays fast), once."""
    from recoup import cli_mount

    if not _mounted:
        cli_mount.mount(app)
        _mounted.append(True)


def main() -> None:
    """Entry point: run the command and exit with its status (the one table in recoup.errors)."""
    sys.exit(run(sys.argv[1:]))


def run(argv: list[str]) -> int:
    """Run ``recoup ARGV``; return the exit status. Every failure ends as one line (one JSON object on
    stdout with ``--json``) and a status of :data:`recoup.errors.EXIT_STATUSES`, never a traceback."""
    import logging

    from typer._click import exceptions as click_exc  # typer vendors click: its exceptions, not click's

    from recoup.pii import install_log_filter

    # Everything recoup writes (the database, the lake, logs, exports) holds personal data: readable
    # by its owner only (files 0600, directories 0700).
    os.umask(0o077)
    # Phone and ID numbers never reach a log, whatever a library logs.
    logging.basicConfig(level=logging.WARNING)
    install_log_filter()
    _mount()
    as_json = "--json" in argv
    try:
        try:
            result = app(args=argv, prog_name="recoup", standalone_mode=False)
        except (RecoupError, KeyboardInterrupt):
            raise
        except click_exc.NoArgsIsHelpError as exc:
            # `recoup GROUP` alone: the group's help, and the usage status (a command was expected).
            if as_json:
                raise _usage_error(exc) from None
            exc.show()
            return 64
        except click_exc.ClickException as exc:  # bad option, missing argument, bad value: usage
            raise _usage_error(exc) from None
        except typer.Abort:
            raise KeyboardInterrupt from None
        except Exception as exc:
            raise _as_recoup_error(exc) from None
    except RecoupError as exc:
        _report(exc, as_json=as_json)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted · 已中断", highlight=False)
        return 130
    # Without standalone mode click returns typer.Exit's status (or the command's return value).
    return result if isinstance(result, int) else 0


def _usage_error(exc: Exception) -> RecoupError:
    """A click/typer usage error (unknown option, missing argument, bad value) as ``usage`` (exit 64)."""
    from typer._click import exceptions as click_exc

    from recoup.errors import UsageError

    message = exc.format_message() if isinstance(exc, click_exc.ClickException) else str(exc)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "recoup"
    return UsageError(
        f"{message} (see `{command} --help`) · 用法错误", details={"command": command, "reason": message}
    )


def _report(exc: RecoupError, *, as_json: bool) -> None:
    """Print an error: with ``--json`` the one envelope on stdout (the command's output is JSON, success
    or failure), else one readable line on stderr."""
    if as_json:
        import json

        sys.stdout.write(json.dumps(exc.envelope(), ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
        return
    err_console.print(f"[bold red]error[/] {escape(f'[{exc.code}]')} {escape(exc.message)}", highlight=False)


def _as_recoup_error(exc: Exception) -> RecoupError:
    """Any other failure as a RecoupError: known causes get their own code; the rest is an internal
    error whose traceback (personal data masked) goes to a crash log, never to the terminal."""
    from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

    from recoup.errors import ConfigError, DatabaseUnavailableError, InternalError, StorageError

    if isinstance(exc, OperationalError):
        busy = _database_busy(exc)
        if busy is not None:
            return busy
        reason = _first_line(exc)
        return DatabaseUnavailableError(
            f"cannot use the database: {reason}. Check RECOUP_DATABASE_URL and that the server is running. "
            "无法连接数据库。",
            details={"reason": reason},
        )
    if isinstance(exc, ArgumentError):
        return ConfigError(
            "RECOUP_DATABASE_URL is not a database URL (e.g. sqlite:///recoup-data/recoup.db or "
            "postgresql+psycopg://user@host/db) · 数据库地址无效"
        )
    if isinstance(exc, SQLAlchemyError):  # the statement and its parameters are never shown
        reason = _first_line(exc)
        return DatabaseUnavailableError(f"database error: {reason} · 数据库错误", details={"reason": reason})
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else ""
        return StorageError(
            f"cannot use {where}: {exc.strerror or _first_line(exc)}. "
            "Check RECOUP_DATA_DIR and the paths given. "
            "文件或目录不可用。",
            details={"path": str(where), "errno": exc.errno},
        )
    if isinstance(exc, MemoryError):
        return StorageError("out of memory: the input is too large for this machine · 内存不足")
    log = _crash_log(exc)
    return InternalError(
        f"internal error ({type(exc).__name__}); this is a bug in recoup — please report it with the "
        f"log {log} · 内部错误，请附日志报告",
        details={"type": type(exc).__name__, "log": str(log)},
    )


def _first_line(exc: object) -> str:
    from recoup.pii import error_line

    return error_line(exc)[:300] or type(exc).__name__


def _crash_log(exc: Exception) -> str:
    """Write the traceback (personal data masked) to a private file; return where."""
    import datetime as dt
    import os
    import tempfile
    import traceback

    from recoup.pii import mask_text

    text = mask_text("".join(traceback.format_exception(exc)))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for base in (os.environ.get("RECOUP_DATA_DIR", "recoup-data"), tempfile.gettempdir()):
        try:
            directory = os.path.join(base, "logs")
            os.makedirs(directory, mode=0o700, exist_ok=True)
            path = os.path.join(directory, f"crash-{stamp}-{os.getpid()}.log")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return "(no log could be written)"


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
