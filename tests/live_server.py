"""What the browser tests share: Debian's Chromium driven by Playwright, and a live ``recoup serve``.

Loaded as a plugin by conftest.py, so its fixtures reach every test module: ``chromium`` is launched
once per test module (each test's pages are closed after it by ``browser``), instead of once per test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

#: The browser test modules' ``pytestmark``: CI installs Chromium and sets RECOUP_TEST_REQUIRE_BROWSER.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("RECOUP_TEST_REQUIRE_BROWSER"),
    reason="no /usr/bin/chromium (apt-get install chromium fonts-noto-cjk); CI installs it",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def screenshots(root: Path) -> Path:
    """Where screenshots go: ``RECOUP_SCREENSHOTS`` for people to look at, else under ``root``."""
    shots = Path(os.environ.get("RECOUP_SCREENSHOTS") or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@contextmanager
def serving(data_dir: Path, url: str) -> Iterator[str]:
    """``recoup serve`` on the database ``url`` with ``data_dir``; yields its base URL once /login
    answers, and stops the server afterwards (killed if it does not stop within 15 s)."""
    port = free_port()
    env = {**os.environ, "RECOUP_DATA_DIR": str(data_dir), "RECOUP_DATABASE_URL": url}
    env.pop("RECOUP_TEST_PG_URL", None)
    exe = shutil.which("recoup", path=str(Path(sys.executable).parent)) or "recoup"
    proc = subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/login", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:  # still running: stop it first, or reading its stderr blocks
                    proc.kill()
                    proc.wait(timeout=15)
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"recoup serve did not start: {err[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium, launched once for the test module (a launch costs a second or two)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser(chromium: Browser) -> Iterator[Browser]:
    """The module's Chromium; every page a test opened (each ``new_page`` is its own context, with its
    own cookies) is closed after the test, so tests share no session."""
    yield chromium
    for context in list(chromium.contexts):
        context.close()
