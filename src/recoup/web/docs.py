"""The operations table of ``docs/api.md``, rendered from the routes so the two cannot drift.

:func:`render_operations` builds the Markdown table from :func:`recoup.web.app.api_operations` (every
operation and the permission it requires) and :data:`recoup.auth.service.DEFAULT_ROLES` (which roles
hold it). The rest of ``docs/api.md`` is written by hand: the table lives between the markers
:data:`BEGIN` and :data:`END`. A test compares the committed file with it; ``python -m recoup.web.docs``
rewrites the table (``--check`` only reports whether it is stale, exit 1 if so).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

from recoup.auth.models import AppUser
from recoup.auth.service import DEFAULT_ROLES, PERMISSIONS, has_permission
from recoup.web.app import API, api_operations, api_routers

__all__ = ["BEGIN", "DOC_PATH", "END", "main", "render_api_doc", "render_operations", "roles_holding"]

#: Where the document lives in a source checkout.
DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "api.md"
BEGIN = "<!-- BEGIN GENERATED operations: run `python -m recoup.web.docs`; do not edit by hand -->"
END = "<!-- END GENERATED operations -->"

SIGNED_IN = "any signed-in user · 任何已登录用户"
OPEN = "anyone, no token · 无需令牌"


def roles_holding(permission: str) -> list[str]:
    """The default roles that hold ``permission`` (``*`` and ``prefix.*`` count), in table order."""
    holders = []
    for name, perms in DEFAULT_ROLES.items():
        role = SimpleNamespace(name=name, permissions=list(perms))
        user = cast(AppUser, SimpleNamespace(is_active=True, roles=[role]))
        if has_permission(user, permission):
            holders.append(name)
    return holders


def _route_facts() -> dict[tuple[str, str], tuple[str, bool]]:
    """(method, full path) → (the endpoint's docstring's first paragraph, whether it needs a bearer token)."""
    facts: dict[tuple[str, str], tuple[str, bool]] = {}
    for router in api_routers():
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            text = (route.description or route.summary or "").strip()
            # The first paragraph, on one line, in Markdown's backticks rather than reST's.
            what = " ".join(text.split("\n\n", 1)[0].split()).replace("``", "`")
            stack = list(route.dependant.dependencies)
            needs_token = False
            while stack:
                dep = stack.pop()
                if isinstance(dep.call, SecurityBase):
                    needs_token = True
                    break
                stack.extend(dep.dependencies)
            for method in route.methods or ():
                facts[(method, API + route.path)] = (what, needs_token)
    return facts


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_operations() -> str:
    """The generated block: the operations table and the permissions it names (markers included)."""
    facts = _route_facts()
    lines = [
        BEGIN,
        "",
        "| Method | Path | What it does | Permission | Roles holding it |",
        "|---|---|---|---|---|",
    ]
    used: list[str] = []
    for op in api_operations():
        what, needs_token = facts.get((op.method, op.path), ("", True))
        if op.permission:
            permission = f"`{op.permission}`"
            roles = ", ".join(f"`{r}`" for r in roles_holding(op.permission))
            if op.permission not in used:
                used.append(op.permission)
        else:
            permission = "—"
            roles = SIGNED_IN if needs_token else OPEN
        lines.append(f"| {op.method} | `{op.path}` | {_cell(what)} | {permission} | {roles} |")
    lines += ["", "The permissions above:", "", "| Permission | Allows |", "|---|---|"]
    lines += [f"| `{p}` | {_cell(PERMISSIONS[p])} |" for p in used]
    lines += ["", END]
    return "\n".join(lines)


def render_api_doc(text: str) -> str:
    """``text`` (the document) with the block between :data:`BEGIN` and :data:`END` regenerated."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document lacks the markers {BEGIN!r} … {END!r}")
    return text[:start] + render_operations() + text[end + len(END) :]


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the table of ``docs/api.md`` (or of the file given); ``--check``: exit 1 when stale."""
    parser = argparse.ArgumentParser(prog="python -m recoup.web.docs", description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DOC_PATH)
    parser.add_argument("--check", action="store_true", help="only report whether the table is stale")
    args = parser.parse_args(argv)
    path: Path = args.path
    current = path.read_text(encoding="utf-8")
    wanted = render_api_doc(current)
    if args.check:
        stale = wanted != current
        print(f"{path} is {'stale: run `python -m recoup.web.docs`' if stale else 'up to date'}")
        return 1 if stale else 0
    if wanted != current:
        path.write_text(wanted, encoding="utf-8")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
