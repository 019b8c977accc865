"""What one queue page and one case page cost, in process and on one thread: CPU time per page, SQL
statements per page, and optionally a cProfile of either — against a demo database that
``bench_web_load.py --reuse DIR`` built.

    python bench/profile_web_pages.py /tmp/webload/sqlite
    python bench/profile_web_pages.py /tmp/webload/pg --url postgresql+psycopg://postgres@127.0.0.1:5432/recoup_bench_web
    python bench/profile_web_pages.py /tmp/webload/sqlite --profile case --sort tottime

The app runs under httpx's ASGI transport with FastAPI's thread pool replaced by a direct call, so the
profiler sees the route's own work. CPU time (not wall time) is reported: it does not depend on what
else the machine runs as much as the latency does. The user signs in once (one ledger entry).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import re
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

CASE_LINK = re.compile(r'href="/cases/(\d+)"')


def _inline_threadpool() -> None:
    """Run sync routes and dependencies on the event loop's thread (what the profiler can see)."""
    import fastapi.dependencies.utils as dep_utils
    import fastapi.routing as routing

    async def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    @contextlib.asynccontextmanager
    async def enter(cm: Any) -> AsyncIterator[Any]:
        try:
            yield cm.__enter__()
        except BaseException as exc:
            if not cm.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            cm.__exit__(None, None, None)

    routing.run_in_threadpool = run  # type: ignore[assignment]
    dep_utils.run_in_threadpool = run  # type: ignore[assignment]
    dep_utils.contextmanager_in_threadpool = enter  # type: ignore[assignment]


async def _main(args: argparse.Namespace) -> None:
    import httpx
    from sqlalchemy import event

    from recoup.config import get_settings
    from recoup.db import get_engine
    from recoup.web.app import create_app

    app = create_app()
    statements = [0]
    seen: list[str] = []

    @event.listens_for(get_engine(get_settings()), "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        statements[0] += 1
        seen.append(" ".join(statement.split())[:150])

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        await client.get("/login")
        form = {"username": args.user, "password": "recoup-demo", "next": "/queue"}
        signed = await client.post("/login", data=form, headers={"x-csrftoken": client.cookies["csrftoken"]})
        if signed.status_code not in (200, 303):
            raise SystemExit(f"cannot sign in as {args.user}: {signed.status_code}")
        cases = list(dict.fromkeys(CASE_LINK.findall((await client.get("/queue")).text)))[:20]
        pages = {"queue": ["/queue"], "case": [f"/cases/{c}" for c in cases]}
        for page, urls in pages.items():
            if not urls:
                print(f"{page}: nothing to open")
                continue
            for url in urls:  # warm: first builds of cached configuration, template compilation
                await client.get(url)
            cpu: list[float] = []
            sql: list[int] = []
            for i in range(args.n):
                statements[0] = 0
                t0 = time.process_time()
                r = await client.get(urls[i % len(urls)])
                cpu.append(time.process_time() - t0)
                sql.append(statements[0])
                if r.status_code != 200:
                    raise SystemExit(f"{urls[i % len(urls)]}: {r.status_code}")
            if args.sql:  # the statements of one more page, in order
                seen.clear()
                await client.get(urls[0])
                print("\n".join(f"  {i + 1:2d}. {text}" for i, text in enumerate(seen)))
            print(
                f"{page:5s} n={args.n}  CPU median {statistics.median(cpu) * 1000:5.1f} ms  "
                f"min {min(cpu) * 1000:5.1f} ms  SQL statements median {statistics.median(sql):.0f}"
            )
        if pages.get(args.profile):
            urls = pages[args.profile]
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(args.n):
                await client.get(urls[i % len(urls)])
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("data", help="the demo's data directory (RECOUP_DATA_DIR)")
    p.add_argument("--url", help="RECOUP_DATABASE_URL (default: the SQLite file in the data directory)")
    p.add_argument("--user", default="collector1")
    p.add_argument("-n", type=int, default=30, help="pages of each kind timed")
    p.add_argument("--profile", choices=("queue", "case"))
    p.add_argument("--sort", default="cumulative")
    p.add_argument("--top", type=int, default=60)
    p.add_argument("--sql", action="store_true", help="print the SQL statements of one page of each kind")
    args = p.parse_args()
    os.environ["RECOUP_DATA_DIR"] = args.data
    if args.url:
        os.environ["RECOUP_DATABASE_URL"] = args.url
    _inline_threadpool()
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
