"""``recoup serve``: migrate the database, then run the HTTP API (uvicorn) until interrupted.

Before anything else the command binds the address itself (as uvicorn will: ``SO_REUSEADDR``, IPv6 only
on IPv6 addresses) and releases it, so an address in use is a one-line error, never a traceback:

* ``serve.port_in_use`` (exit 69, ``EX_UNAVAILABLE``): another process listens on the port. Not 75
  (``EX_TEMPFAIL``): unlike a busy lock, it does not clear by waiting — stop the other server or choose
  another ``--port``.
* ``serve.cannot_bind`` (exit 69): the host does not resolve or is not an address of this machine, or
  the port needs privileges; also when the server fails to start after the check (another process took
  the port in between — uvicorn's own log line above says why).

Server logs go through a filter masking phone and ID numbers, like every other log of recoup: uvicorn's
handlers do not propagate to the root logger, whose filter the main command installs.
"""

from __future__ import annotations

import copy
import errno
import logging
import socket
from enum import StrEnum
from typing import Any, NoReturn

import typer

from recoup.errors import RecoupError
from recoup.pii import mask_text

__all__ = ["LogLevel", "PortInUseError", "ServeError", "check_address", "register", "server_log_config"]


class ServeError(RecoupError):
    """The server cannot listen on the address it was given."""

    code = "serve.cannot_bind"
    http_status = 503
    exit_code = 69  # EX_UNAVAILABLE


class PortInUseError(ServeError):
    """Another process already listens on the port."""

    code = "serve.port_in_use"


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def check_address(host: str, port: int) -> None:
    """Bind every address ``host`` resolves to on ``port`` (then release it), as uvicorn will;
    :class:`PortInUseError` when one is taken, :class:`ServeError` when it cannot be bound at all."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ServeError(
            f"cannot resolve the host {host!r}: {reason} / 无法解析主机地址 {host!r}",
            details={"host": host, "port": port, "reason": reason},
        ) from None
    seen: set[tuple[int, Any]] = set()
    for family, kind, proto, _name, address in infos:
        if (family, address) in seen:
            continue
        seen.add((family, address))
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                _raise_bind_error(exc, host, port)


def _raise_bind_error(exc: OSError, host: str, port: int) -> NoReturn:
    details = {"host": host, "port": port, "errno": exc.errno, "reason": exc.strerror or str(exc)}
    if exc.errno == errno.EADDRINUSE:
        raise PortInUseError(
            f"port {port} on {host} is already in use: another server is listening there. Stop it or "
            f"choose another --port / 端口 {port} 已被占用，请停止占用的程序或换用其他端口 (--port)",
            details=details,
        ) from None
    if exc.errno in (errno.EACCES, errno.EPERM):
        raise ServeError(
            f"no permission to listen on port {port} (ports below 1024 need privileges); choose another "
            f"--port / 无权监听端口 {port}，请换用其他端口",
            details=details,
        ) from None
    if exc.errno == errno.EADDRNOTAVAIL:
        raise ServeError(
            f"{host} is not an address of this machine; use 127.0.0.1 or 0.0.0.0 / "
            f"{host} 不是本机地址，请使用 127.0.0.1 或 0.0.0.0",
            details=details,
        ) from None
    raise ServeError(
        f"cannot listen on {host} port {port}: {details['reason']} / 无法监听 {host} 端口 {port}",
        details=details,
    ) from None


class _MaskedServerLog(logging.Filter):
    """Masks phone and ID numbers in uvicorn's records (messages, arguments, tracebacks), keeping the
    arguments' shape: uvicorn's access-log formatter unpacks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            record.msg = str(record.msg)
        record.msg = mask_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: mask_text(v) if isinstance(v, str) else v for k, v in record.args.items()}
        color = record.__dict__.get("color_message")
        if isinstance(color, str):
            record.__dict__["color_message"] = mask_text(color)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def server_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with the masking filter on each of its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"mask_pii": {"()": _MaskedServerLog}}
    for handler in config["handlers"].values():
        handler["filters"] = ["mask_pii"]
    return config


def run_server(host: str, port: int, log_level: str = "info", workers: int = 1) -> None:
    """Check the address, migrate, print where the app is and serve it until Ctrl+C (``recoup serve`` and
    the demo's last step)."""
    import uvicorn

    from recoup.config import get_settings
    from recoup.db import upgraded_session
    from recoup.web.app import create_app

    check_address(host, port)
    with upgraded_session():  # migrate, and refuse a wrong PII key, before serving anything
        pass
    settings = get_settings()
    url = _url(host, port)
    everywhere = host in ("0.0.0.0", "::")
    from recoup.i18n import _

    text = (
        _("recoup on {url} (all interfaces) (sign in at {url}/login)")
        if everywhere
        else _("recoup on {url} (sign in at {url}/login)")
    )
    typer.echo(text.format(url=url))
    typer.echo(_("OpenAPI: {url}/openapi.json · docs {url}/api/docs").format(url=url))
    typer.echo(_("Press Ctrl+C to stop"))
    try:
        if workers > 1:
            # Worker processes build the app themselves from the same environment (settings).
            uvicorn.run(
                "recoup.web.app:create_app",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level=log_level,
                log_config=server_log_config(),
            )
        else:
            uvicorn.run(
                create_app(settings),
                host=host,
                port=port,
                log_level=log_level,
                log_config=server_log_config(),
            )
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start (it logged why)
        if exc.code in (None, 0):
            raise
        raise ServeError(
            f"the server did not start on {url} (see the log above) / 服务未能启动（见上方日志）",
            details={"host": host, "port": port, "exit": exc.code},
        ) from None


def register(app: typer.Typer) -> None:
    """Add ``recoup serve`` to ``app``."""

    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on / 监听地址"),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on / 监听端口"),
        log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="Server log level / 日志级别"),
        workers: int = typer.Option(
            1,
            "--workers",
            min=1,
            max=32,
            help="Server processes (one per core is a good start; sign-in throttling is per process)"
            " / 服务进程数",
        ),
        as_json: bool = typer.Option(  # read by recoup.cli.main, which prints every error
            False, "--json", help="Print an error as one JSON envelope on stderr / 错误以 JSON 输出"
        ),
    ) -> None:
        """Run the HTTP API (migrates the database first). 启动 HTTP API 服务（先迁移数据库）。"""
        run_server(host, port, log_level.value, workers)
