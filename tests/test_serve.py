"""``recoup serve`` as a real process: it migrates, prints where it listens, serves the OpenAPI document
and the API's error envelope; a port in use is a coded error, never a traceback. Also: the server's log
filter, and ``docs/api.md``'s generated operations table is up to date."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from recoup.web.app import api_operations
from recoup.web.cli import PortInUseError, ServeError, check_address, server_log_config
from recoup.web.docs import (
    BEGIN,
    DOC_PATH,
    END,
    OPEN,
    SIGNED_IN,
    render_api_doc,
    render_operations,
    roles_holding,
)

RECOUP = str(Path(sys.executable).parent / "recoup")
START_TIMEOUT = 30.0


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    return env | {"RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _listening() -> Iterator[int]:
    """A port another "server" listens on (127.0.0.1) for the duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _wait_for(client: httpx.Client, url: str, proc: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"recoup serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            return client.get(url)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no answer from {url} within {START_TIMEOUT} s:\n{log.read_text(errors='replace')}"
                )
            time.sleep(0.2)


def test_serve_answers_openapi_and_the_error_envelope(tmp_path: Path) -> None:
    port = _free_port()
    out_log, err_log = tmp_path / "serve.out", tmp_path / "serve.err"
    base = f"http://127.0.0.1:{port}"
    with out_log.open("wb") as out, err_log.open("wb") as err:
        proc = subprocess.Popen(
            [RECOUP, "serve", "--port", str(port), "--log-level", "info"],
            env=_env(tmp_path),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    try:
        with httpx.Client(timeout=5.0, trust_env=False) as client:  # never through a proxy
            spec = _wait_for(client, f"{base}/openapi.json", proc, err_log)
            assert spec.status_code == 401  # the API's documentation needs the api.docs permission
            assert spec.json()["error"]["code"] == "auth.invalid_token"

            anonymous = client.get(f"{base}/api/v1/cases", params={"q": "13812345678"})
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"] == "Bearer"
            body = anonymous.json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
            assert body["error"]["code"] == "auth.invalid_token"

            docs = client.get(f"{base}/api/docs")
            assert docs.status_code == 303 and docs.headers["location"].startswith("/login")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    printed = out_log.read_text(encoding="utf-8")
    assert f"{base}/openapi.json" in printed and f"{base}/api/docs" in printed and "接口文档" in printed
    assert (tmp_path / "data" / "recoup.db").exists()  # migrated before serving
    logs = printed + err_log.read_text(encoding="utf-8")
    assert "Traceback" not in logs
    assert '"GET /api/v1/cases?q=138****5678' in logs and "13812345678" not in logs  # the access log masks


def test_a_port_in_use_is_a_coded_error(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with _listening() as port:
        as_json = subprocess.run(
            [RECOUP, "serve", "--port", str(port), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        plain = subprocess.run(
            [RECOUP, "serve", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )
    # With --json the error is one envelope on stdout (docs/errors.md), nothing on stderr.
    assert as_json.returncode == 69 and as_json.stderr == ""
    envelope = json.loads(as_json.stdout)
    assert envelope["error"]["code"] == "serve.port_in_use"
    assert envelope["error"]["details"]["port"] == port
    assert plain.returncode == 69 and "[serve.port_in_use]" in plain.stderr and str(port) in plain.stderr
    assert "Traceback" not in as_json.stderr + plain.stderr + plain.stdout
    assert not (tmp_path / "data" / "recoup.db").exists()  # refused before migrating anything


def test_check_address() -> None:
    check_address("127.0.0.1", _free_port())
    with _listening() as port, pytest.raises(PortInUseError) as caught:
        check_address("127.0.0.1", port)
    assert caught.value.exit_code == 69 and caught.value.details["port"] == port
    with pytest.raises(ServeError) as not_here:  # TEST-NET-1: numeric, so no name lookup
        check_address("192.0.2.1", _free_port())
    assert not_here.value.code == "serve.cannot_bind"


def test_the_server_log_masks_phone_numbers_and_keeps_access_arguments() -> None:
    config = server_log_config()
    mask = config["filters"]["mask_pii"]["()"]()
    assert all(h["filters"] == ["mask_pii"] for h in config["handlers"].values())
    args = ("127.0.0.1:5000", "GET", "/api/v1/cases?phone=13812345678", "1.1", 401)
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)
    assert mask.filter(record)
    assert isinstance(record.args, tuple) and len(record.args) == 5  # uvicorn's formatter unpacks them
    assert "13812345678" not in record.getMessage() and "138****5678" in record.getMessage()


# ---------------------------------------------------------------------------------------------- docs


def test_docs_api_table_is_up_to_date() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    assert render_api_doc(text) == text, "docs/api.md is stale: run `python -m recoup.web.docs`"


def test_the_table_names_every_operation_and_its_roles() -> None:
    block = render_operations()
    assert block.startswith(BEGIN) and block.endswith(END)
    for op in api_operations():
        assert f"| {op.method} | `{op.path}` |" in block
    assert "| POST | `/api/v1/auth/token` |" in block and OPEN in block and SIGNED_IN in block
    assert roles_holding("case.view_all")[0] == "admin"
    assert "collector" in roles_holding("case.work") and "collector" not in roles_holding("case.assign")
    assert roles_holding("user.manage") == ["admin"]  # only through "*"
