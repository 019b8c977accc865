"""Load on the collector's workbench: N signed-in users (default 20) open their queue and a case from it,
again and again for S seconds (default 60), against a live ``recoup serve`` on the demo's database — on
SQLite and on PostgreSQL. Prints p50/p95/p99 per page and the throughput.

    python bench/bench_web_load.py                      # both databases, 20 users × 60 s
    python bench/bench_web_load.py --db sqlite --think 0 # saturation: no pause between pages

Each user is a collector of the demo (``collector1`` … signed in several times when there are fewer
collectors than users) with its own session cookie. ``--think`` is the pause between two pages of one
user (a person reading the page; default 1 s); 0 makes every user a closed loop hammering the server.
The load generator runs on the same machine as the server, so its own CPU counts against the figures.
The demo database is built once per backend (``make demo``'s size: 2,000 loans, 60 days) and reused
with ``--reuse DIR``. The users sign in one after the other and open their queue and its cases once
before the clock starts (each worker's templates and caches warm, as on a server running all day).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "recoup_bench_web"
PASSWORD = "recoup-demo"
CASE_LINK = re.compile(r'href="/cases/(\d+)"')
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data: Path, url: str | None) -> dict[str, str]:
    env = {**os.environ, "RECOUP_DATA_DIR": str(data)}
    if url:
        env["RECOUP_DATABASE_URL"] = url
    return env


def _pg_recreate() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"


def build_demo(data: Path, url: str | None, loans: int, days: int) -> float:
    """``recoup demo`` into ``data`` (and ``url``); seconds taken."""
    t0 = time.perf_counter()
    subprocess.run(
        [str(BIN / "recoup"), "demo", "--loans", str(loans), "--days", str(days), "--serve", "0"],
        env=_env(data, url),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def _collectors(data: Path, url: str | None) -> list[str]:
    code = (
        "from sqlalchemy import select\n"
        "from recoup.auth.models import AppUser\n"
        "from recoup.config import get_settings\n"
        "from recoup.db import get_engine, session_scope\n"
        "with session_scope(get_engine(get_settings())) as s:\n"
        "    names = s.scalars(select(AppUser.username).where(AppUser.username.like('collector%')))\n"
        "    print(' '.join(sorted(names)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(data, url), check=True, capture_output=True, text=True
    )
    return out.stdout.split()


async def _sign_in(client: httpx.AsyncClient, username: str) -> None:
    await client.get("/login")
    token = client.cookies.get("csrftoken") or ""
    r = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/queue"},
        headers={"x-csrftoken": token},
    )
    if r.status_code not in (200, 303) or "recoup_session" not in client.cookies:
        raise SystemExit(f"cannot sign in as {username}: {r.status_code}")


async def _user(
    client: httpx.AsyncClient, until: float, think: float, seed: int, out: dict[str, list[float]]
) -> None:
    rng = random.Random(seed)
    try:
        await asyncio.sleep(rng.random() * max(think, 0.05))  # users do not start in step
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            r = await client.get("/queue")
            out["queue"].append(time.perf_counter() - t0)
            if r.status_code != 200:
                out["errors"].append(float(r.status_code))
            cases = CASE_LINK.findall(r.text)
            if think:
                await asyncio.sleep(think)
            if not cases or time.perf_counter() >= until:
                continue
            t0 = time.perf_counter()
            r = await client.get(f"/cases/{rng.choice(cases[:20])}")
            out["case"].append(time.perf_counter() - t0)
            if r.status_code != 200:
                out["errors"].append(float(r.status_code))
            if think:
                await asyncio.sleep(think)
    finally:
        await client.aclose()


async def _warm(client: httpx.AsyncClient) -> None:
    """One queue and the cases in it, untimed: each worker compiles its templates and builds its
    per-process caches (configuration, formatted dates) once, which a server running all day has done
    long before; the figures are of the steady state."""
    r = await client.get("/queue")
    for case in CASE_LINK.findall(r.text)[:20]:
        await client.get(f"/cases/{case}")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _load(base: str, users: list[str], n: int, seconds: float, think: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"queue": [], "case": [], "errors": []}
    clients = []
    for i in range(n):  # signed in one after the other before the clock starts: the pages are timed
        client = httpx.AsyncClient(base_url=base, timeout=30.0, trust_env=False)
        await _sign_in(client, users[i % len(users)])
        clients.append(client)
    await asyncio.gather(*(_warm(c) for c in clients))
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_user(c, until, think, i, out) for i, c in enumerate(clients)))
    return out


def run(backend: str, data: Path, args: argparse.Namespace) -> None:
    url = None
    if backend == "pg":
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    fresh = not (data / ".built").exists()
    if fresh:
        if url:
            url = _pg_recreate()
        took = build_demo(data, url, args.loans, args.days)
        (data / ".built").write_text("ok")
        print(f"[{backend}] demo database built in {took:.0f} s ({args.loans} loans, {args.days} days)")
    users = _collectors(data, url)
    port = _free_port()
    server = subprocess.Popen(
        [
            str(BIN / "recoup"),
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(args.workers),
        ],
        env=_env(data, url),
        stdout=subprocess.DEVNULL,
        stderr=(data / "serve.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # two workers importing the app on a busy machine
        while True:
            try:
                httpx.get(f"{base}/login", timeout=2.0, trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"[{backend}] recoup serve did not start") from None
                time.sleep(0.3)
        out = asyncio.run(_load(base, users, args.users, args.seconds, args.think))
    finally:
        server.terminate()
        server.wait(timeout=30)
    total = len(out["queue"]) + len(out["case"])
    print(
        f"[{backend}] {args.users} users ({len(users)} collectors) × {args.seconds:.0f} s, "
        f"{args.workers} server worker(s), think "
        f"{args.think:g} s: {total} pages, {total / args.seconds:.1f} pages/s, errors {len(out['errors'])}"
    )
    for page in ("queue", "case"):
        v = out[page]
        print(
            f"[{backend}]   {page:5s} n={len(v):5d}  p50 {_pct(v, 0.50):6.1f} ms  p95 {_pct(v, 0.95):6.1f} ms"
            f"  p99 {_pct(v, 0.99):6.1f} ms  mean {statistics.fmean(v) * 1000 if v else float('nan'):6.1f} ms"
            f"  {'OK' if _pct(v, 0.95) < args.target_ms else 'MISSED'} (target p95 < {args.target_ms:g} ms)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--db", choices=("sqlite", "pg", "both"), default="both")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--think", type=float, default=1.0)
    p.add_argument(
        "--workers", type=int, default=2, help="recoup serve --workers (default: one per core here)"
    )
    p.add_argument("--loans", type=int, default=2000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--target-ms", type=float, default=100.0)
    p.add_argument("--reuse", type=Path, default=None, help="keep the demo databases in this directory")
    args = p.parse_args()
    root = args.reuse or Path(tempfile.mkdtemp(prefix="recoup-webload-"))
    try:
        for backend in ("sqlite", "pg") if args.db == "both" else (args.db,):
            data = root / backend
            data.mkdir(parents=True, exist_ok=True)
            run(backend, data, args)
    finally:
        if args.reuse is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
