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


@app.callback()
def _root(
    lang: str | None = typer.Option(
        None,
        "--lang",
        metavar="zh_CN|en",
        help="Language of what the command prints (tables, headings, labels, messages); overrides "
        "RECOUP_LOCALE for this run. --json output is never translated. 输出语言。",
    ),
) -> None:
    """recoup — post-loan management and collections (贷后管理 / 智能催收)."""
    from recoup.i18n import set_cli_locale

    if lang is not None:
        set_cli_locale(lang)  # a bad value is a usage error (exit 64)


db_app = typer.Typer(help="The collections database (migrations). 数据库迁移。", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations up to REVISION (default: head)."""
    from recoup import migrate
    from recoup.db import allow_database_creation, get_engine

    allow_database_creation()
    migrate.upgrade(get_engine(), revision)
    from recoup.i18n import _

    typer.echo(_("database at {revision}").format(revision=revision))


@db_app.command("heads")
def db_heads() -> None:
    """Print the migration heads (exactly one is expected)."""
    from recoup import migrate

    for h in migrate.heads():
        typer.echo(h)


_mounted: set[int] = set()


def _mount(argv: list[str] | None = None) -> None:
    """Attach the domain command groups ``recoup ARGV`` needs (all of them without ``argv``, for
    ``--help`` or an unknown name): a command imports only its own domain, so it starts quickly."""
    from recoup import cli_mount

    command = _command_in(argv) if argv is not None else None
    if command == "db":  # defined here: `recoup db upgrade` needs no domain (else all would mount)
        return
    cli_mount.mount(app, command=command, done=_mounted)


def _mount_entries(indices: list[int]) -> None:
    """Mount exactly these GROUPS entries (tests/test_cli_mount.py checks the declared names)."""
    from recoup import cli_mount

    for index in indices:
        if index not in _mounted:
            cli_mount.mount_entry(app, index)
            _mounted.add(index)


def _command_in(argv: list[str]) -> str | None:
    """The command's name: the first argument that is neither a root option nor ``--lang``'s value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--lang":
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def main() -> None:
    """Entry point: run the command and exit with its status (the one table in recoup.errors)."""
    sys.exit(run(sys.argv[1:]))


def run(argv: list[str]) -> int:
    """Run ``recoup ARGV``; return the exit status. Every failure ends as one line (one JSON object on
    stdout with ``--json``) and a status of :data:`recoup.errors.EXIT_STATUSES`, never a traceback."""
    import logging

    from typer._click import exceptions as click_exc  # typer vendors click: its exceptions, not click's

    from recoup.i18n import set_cli_locale
    from recoup.pii import install_log_filter

    # Everything recoup writes (the database, the lake, logs, exports) holds personal data: readable
    # by its owner only (files 0600, directories 0700).
    os.umask(0o077)
    # Phone and ID numbers never reach a log, whatever a library logs.
    logging.basicConfig(level=logging.WARNING)
    install_log_filter()
    _mount(argv)
    set_cli_locale(None)  # each run starts from RECOUP_LOCALE (run() is also called in-process)
    # A usage error found before the root callback runs still speaks the --lang asked for.
    early = _lang_in(argv)
    if early is not None:
        set_cli_locale(early)
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
        from recoup.i18n import _

        err_console.print(_("interrupted"), highlight=False)
        return 130
    # Without standalone mode click returns typer.Exit's status (or the command's return value).
    return result if isinstance(result, int) else 0


def _lang_in(argv: list[str]) -> str | None:
    """The valid ``--lang`` value given before the command's name, if any (the callback checks it)."""
    from recoup.i18n import LOCALES

    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return None
        value = arg.partition("=")[2] if arg.startswith("--lang=") else None
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        if value is not None:
            return value if value in LOCALES else None
    return None


def _usage_error(exc: Exception) -> RecoupError:
    """A click/typer usage error (unknown option, missing argument, bad value) as ``usage`` (exit 64)."""
    from typer._click import exceptions as click_exc

    from recoup.errors import UsageError
    from recoup.i18n import _

    message = exc.format_message() if isinstance(exc, click_exc.ClickException) else str(exc)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "recoup"
    return UsageError(
        _("{message} (see `{command} --help`)").format(message=message, command=command),
        details={"command": command, "reason": message},
    )


def _report(exc: RecoupError, *, as_json: bool) -> None:
    """Print an error: with ``--json`` the one envelope on stdout (the command's output is JSON, success
    or failure), else one readable line on stderr."""
    if as_json:
        import json

        sys.stdout.write(json.dumps(exc.envelope(), ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
        return
    from recoup.i18n import _

    # The header follows the CLI's language; the message is the error's own (often both languages).
    header = _("error")
    err_console.print(
        f"[bold red]{escape(header)}[/] {escape(f'[{exc.code}]')} {escape(exc.message)}", highlight=False
    )


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
