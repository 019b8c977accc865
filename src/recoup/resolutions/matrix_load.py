"""Reading, validating, resolving and saving the approval matrix (:mod:`recoup.resolutions.matrix`)."""

from __future__ import annotations

import copy
import functools
import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Final

from sqlalchemy.orm import Session

from recoup import rules
from recoup.configs.cache import latest_built
from recoup.configs.service import canonical_json, do_save_version
from recoup.errors import MoneyError
from recoup.money import parse_amount, parse_rate_bp
from recoup.resolutions.matrix import (
    BASES,
    COMPONENTS,
    DEFAULT_NAME,
    KIND,
    KINDS,
    LINES,
    Matrix,
    MatrixError,
    Pack,
)

__all__ = ["do_save_matrix", "load_builtin", "matrix_from_payload", "parse_toml", "resolve"]

_TOP_KEYS: Final = frozenset(
    {
        "name",
        "title",
        "ladder",
        "request_only",
        "self_approve",
        "evidence_required",
        "waiver",
        "plan",
        "judging",
        "budget",
        "waiver_rule",
        "plan_rule",
        "pack",
    }
)
_WAIVER_ROW_KEYS: Final = frozenset(
    {
        "id",
        "role",
        "kinds",
        "buckets",
        "products",
        "product_types",
        "components",
        "max_amount",
        "max_pct",
        "note",
    }
)
_PLAN_ROW_KEYS: Final = frozenset(
    {"id", "role", "buckets", "products", "product_types", "bases", "max_instalments", "note"}
)
_PACK_KEYS: Final = frozenset(
    {
        "id",
        "kind",
        "title",
        "buckets",
        "products",
        "product_types",
        "base",
        "components",
        "max_pct",
        "max_amount",
        "deadline_days",
        "max_instalments",
    }
)


# ------------------------------------------------------------------------------------------ reading


class _Problems:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def add(self, where: str, problem: str) -> None:
        self.errors.append({"field": where, "message": f"{where}: {problem}"})

    def raise_if_any(self, label: str) -> None:
        if self.errors:
            lines = [e["message"] for e in self.errors]
            head = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
            raise MatrixError(
                f"approval matrix {label} is invalid / 审批矩阵无效: {head}", details={"errors": self.errors}
            )


def _strings(value: Any, where: str, problems: _Problems, allowed: Sequence[str] | None = None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.add(where, "must be a list of names")
        return []
    if allowed is not None:
        for v in value:
            if v not in allowed:
                problems.add(where, f"{v!r} is not one of {', '.join(allowed)}")
    return list(value)


def _amount(value: Any, where: str, problems: _Problems, digits: int) -> int | None:
    if value is None:
        return None
    try:
        minor = parse_amount(value if isinstance(value, str) else str(value), minor_digits=digits)
    except MoneyError as exc:
        problems.add(where, exc.message)
        return None
    if minor < 0:
        problems.add(where, "must not be negative")
    return minor


def _pct(value: Any, where: str, problems: _Problems) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip().endswith("%"):
        problems.add(where, f'{value!r} must be a percentage such as "30%"')
        return None
    try:
        bp = parse_rate_bp(value)
    except MoneyError as exc:
        problems.add(where, exc.message)
        return None
    if bp > 10_000:
        problems.add(where, "must be at most 100%")
    return bp


def _int(value: Any, where: str, problems: _Problems, *, default: int, low: int = 0, high: int = 3650) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(where, f"must be a whole number {low}…{high}, got {value!r}")
        return default
    return value


def _in(values: list[str]) -> dict[str, Any]:
    return {"in": values}


def _table_rows(
    rows: Any, kind: str, keys: frozenset[str], ladder: Sequence[str], problems: _Problems, digits: int
) -> list[dict[str, Any]]:
    section = "waiver_rule" if kind == "waiver" else "plan_rule"
    if not isinstance(rows, list) or not rows:
        problems.add(section, "needs at least one row ([[" + section + "]])")
        return []
    out: list[dict[str, Any]] = []
    for n, row in enumerate(rows, start=1):
        where = f"{section}[{n}]"
        if not isinstance(row, dict):
            problems.add(where, "must be a table")
            continue
        for key in sorted(set(row) - keys):
            problems.add(f"{where}.{key}", "unknown key")
        rid = row.get("id")
        if not isinstance(rid, str) or not rid.strip():
            problems.add(f"{where}.id", "is required")
            rid = f"row{n}"
        role = row.get("role")
        if role not in ladder:
            problems.add(f"{where}.role", f"{role!r} is not on the ladder ({', '.join(ladder)})")
        when: dict[str, Any] = {}
        lists = {"buckets": "bucket", "products": "product", "product_types": "product_type"}
        if kind == "waiver":
            lists |= {"kinds": "kind", "components": "component"}
        else:
            lists |= {"bases": "base"}
        allowed = {"kinds": KINDS, "components": LINES, "bases": BASES}
        for key, column in lists.items():
            values = _strings(row.get(key), f"{where}.{key}", problems, allowed.get(key))
            if values:
                when[column] = _in(values)
        if kind == "waiver":
            amount = _amount(row.get("max_amount"), f"{where}.max_amount", problems, digits)
            pct = _pct(row.get("max_pct"), f"{where}.max_pct", problems)
            if amount is not None:
                when["amount"] = {"le": amount}
            if pct is not None:
                when["pct_bp"] = {"le": pct}
        elif row.get("max_instalments") is not None:
            when["instalments"] = {
                "le": _int(
                    row["max_instalments"], f"{where}.max_instalments", problems, default=1, low=1, high=480
                )
            }
        out.append({"id": rid, "when": when, "then": {"role": str(role)}, "note": str(row.get("note", ""))})
    return out


def _packs(raw: Any, problems: _Problems, digits: int) -> tuple[Pack, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add("pack", "must be a list of tables ([[pack]])")
        return ()
    out: list[Pack] = []
    seen: set[str] = set()
    for n, p in enumerate(raw, start=1):
        where = f"pack[{n}]"
        if not isinstance(p, dict):
            problems.add(where, "must be a table")
            continue
        for key in sorted(set(p) - _PACK_KEYS):
            problems.add(f"{where}.{key}", "unknown key")
        pid = p.get("id")
        if not isinstance(pid, str) or not pid.strip():
            problems.add(f"{where}.id", "is required")
            pid = f"pack{n}"
        if pid in seen:
            problems.add(f"{where}.id", f"duplicate pack id {pid!r}")
        seen.add(pid)
        kind = p.get("kind")
        if kind not in KINDS:
            problems.add(f"{where}.kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        title = p.get("title") or [pid, pid]
        if not isinstance(title, list) or len(title) != 2 or not all(isinstance(t, str) for t in title):
            problems.add(f"{where}.title", "must be [English, 中文]")
            title = [pid, pid]
        base = p.get("base")
        if base is not None and base not in BASES:
            problems.add(f"{where}.base", f"{base!r} is not one of {', '.join(BASES)}")
        out.append(
            Pack(
                id=pid,
                kind=str(kind),
                title=(title[0], title[1]),
                buckets=tuple(_strings(p.get("buckets"), f"{where}.buckets", problems)),
                products=tuple(_strings(p.get("products"), f"{where}.products", problems)),
                product_types=tuple(_strings(p.get("product_types"), f"{where}.product_types", problems)),
                base=base,
                components=tuple(_strings(p.get("components"), f"{where}.components", problems, COMPONENTS)),
                max_pct_bp=_pct(p.get("max_pct", "0%"), f"{where}.max_pct", problems) or 0,
                max_amount=_amount(p.get("max_amount", "0"), f"{where}.max_amount", problems, digits) or 0,
                deadline_days=(
                    _int(p["deadline_days"], f"{where}.deadline_days", problems, default=7, low=1, high=366)
                    if "deadline_days" in p
                    else None
                ),
                max_instalments=(
                    _int(
                        p["max_instalments"], f"{where}.max_instalments", problems, default=1, low=1, high=480
                    )
                    if "max_instalments" in p
                    else None
                ),
            )
        )
    return tuple(out)


def _section(data: dict[str, Any], name: str, problems: _Problems) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        problems.add(name, "must be a table")
        return {}
    return value


def matrix_from_payload(data: Mapping[str, Any], version: str, *, minor_digits: int = 2) -> Matrix:
    """Build and validate a matrix from stored data (the TOML's content); every problem is listed with its
    place (``waiver_rule[3].max_pct: …``) in one :class:`MatrixError`."""
    raw = copy.deepcopy(dict(data))
    p = _Problems()
    for key in sorted(set(raw) - _TOP_KEYS):
        p.add(key, "unknown key")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        p.add("name", "is required")
        name = DEFAULT_NAME
    ladder = _strings(raw.get("ladder"), "ladder", p)
    if not ladder:
        p.add("ladder", "needs at least one role")
    if len(set(ladder)) != len(ladder):
        p.add("ladder", "names a role twice")
    request_only = _strings(raw.get("request_only"), "request_only", p)
    for role in request_only:
        if role in ladder:
            p.add("request_only", f"{role!r} is also on the ladder; a request-only role never approves")
    title = raw.get("title") or [name, name]
    if not isinstance(title, list) or len(title) != 2:
        p.add("title", "must be [English, 中文]")
        title = [name, name]
    self_approve = raw.get("self_approve", True)
    if not isinstance(self_approve, bool):
        p.add("self_approve", "must be true or false")
        self_approve = True
    evidence = _strings(raw.get("evidence_required"), "evidence_required", p, COMPONENTS)
    waiver = _section(raw, "waiver", p)
    plan = _section(raw, "plan", p)
    judging = _section(raw, "judging", p)
    budget = _section(raw, "budget", p)
    teams_raw = budget.get("teams") or {}
    teams: dict[str, int] = {}
    if not isinstance(teams_raw, dict):
        p.add("budget.teams", "must be a table of team name = amount")
    else:
        for team, amount in teams_raw.items():
            teams[str(team)] = _amount(amount, f"budget.teams.{team}", p, minor_digits) or 0
    method = str(plan.get("method", "equal_installment"))
    if method not in ("equal_installment", "equal_principal", "interest_first"):
        p.add("plan.method", f"{method!r} is not equal_installment, equal_principal or interest_first")
    d = minor_digits
    settings = {
        "waiver_deadline_days": _int(
            waiver.get("max_deadline_days"), "waiver.max_deadline_days", p, default=30, low=1, high=366
        ),
        "waiver_grace_days": _int(waiver.get("grace_days"), "waiver.grace_days", p, default=0, high=60),
        "min_payment": _amount(waiver.get("min_payment", "0.01"), "waiver.min_payment", p, d) or 1,
        "plan_max_instalments": _int(
            plan.get("max_instalments"), "plan.max_instalments", p, default=36, low=1, high=480
        ),
        "plan_first_due_days": _int(
            plan.get("max_first_due_days"), "plan.max_first_due_days", p, default=30, low=1, high=366
        ),
        "plan_grace_days": _int(plan.get("grace_days"), "plan.grace_days", p, default=3, high=60),
        "plan_rate_bp": _pct(plan.get("rate", "0%"), "plan.rate", p) or 0,
        "min_instalment": _amount(plan.get("min_instalment", "0.01"), "plan.min_instalment", p, d) or 1,
        "extract_lag_days": _int(
            judging.get("extract_lag_days"), "judging.extract_lag_days", p, default=1, high=30
        ),
        "budget_monthly": _amount(budget.get("monthly", "0"), "budget.monthly", p, d) or 0,
    }
    w_rows = _table_rows(raw.get("waiver_rule"), "waiver", _WAIVER_ROW_KEYS, ladder, p, d)
    p_rows = _table_rows(raw.get("plan_rule"), "plan", _PLAN_ROW_KEYS, ladder, p, d)
    for what, rows in (("waiver_rule", w_rows), ("plan_rule", p_rows)):
        ids = [r["id"] for r in rows]
        for rid in sorted({i for i in ids if ids.count(i) > 1}):
            p.add(what, f"duplicate row id {rid!r}")
    packs = _packs(raw.get("pack"), p, d)
    p.raise_if_any(f"{name}@{version}")
    waiver_table = rules.load_table(
        {
            "name": "waiver",
            "mode": "first",
            "inputs": {
                "kind": "str",
                "bucket": "str",
                "product": "str",
                "product_type": "str",
                "component": "str",
                "amount": "int",
                "pct_bp": "int",
            },
            "outputs": {"role": "str"},
            "rows": w_rows,
        }
    )
    plan_table = rules.load_table(
        {
            "name": "plan",
            "mode": "first",
            "inputs": {
                "bucket": "str",
                "product": "str",
                "product_type": "str",
                "base": "str",
                "instalments": "int",
            },
            "outputs": {"role": "str"},
            "rows": p_rows,
        }
    )
    return Matrix(
        name=name,
        version=version,
        title=(str(title[0]), str(title[1])),
        ladder=tuple(ladder),
        request_only=tuple(request_only),
        self_approve=self_approve,
        evidence_required=tuple(evidence),
        plan_method=method,
        budget_teams=teams,
        waiver_table=waiver_table,
        plan_table=plan_table,
        packs=packs,
        payload=raw,
        **settings,
    )


def _read_builtin() -> dict[str, Any]:
    text = resources.files("recoup.resolutions").joinpath("matrix", "default.toml").read_text("utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    return data


def parse_toml(text: str) -> dict[str, Any]:
    """A matrix file's content; a TOML syntax error is a :class:`MatrixError` naming the line."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(
            f"approval matrix: {exc} / 审批矩阵文件格式错误", details={"reason": "toml"}
        ) from exc
    return data


@functools.cache
def load_builtin(*, minor_digits: int = 2) -> Matrix:
    """The shipped matrix (``matrix/default.toml``), parsed once per process (it never changes while the
    process runs; the pages ask for it on every request). Read-only: it is shared."""
    data = _read_builtin()
    digest = hashlib.sha256(canonical_json(data)).hexdigest()[:8]
    return matrix_from_payload(data, f"builtin.{digest}", minor_digits=minor_digits)


def resolve(*, session: Session | None, name: str = DEFAULT_NAME, minor_digits: int = 2) -> Matrix:
    """The newest saved version of matrix ``name`` when there is one (and a session), else the built-in.
    Built once per version and process (:mod:`recoup.configs.cache`); read-only: it is shared."""
    if session is not None:
        saved = latest_built(
            KIND,
            name,
            session=session,
            build=lambda payload, version: matrix_from_payload(
                payload, str(version), minor_digits=minor_digits
            ),
            options=minor_digits,
        )
        if saved is not None:
            return saved
    if name != DEFAULT_NAME:
        raise MatrixError(f"no approval matrix {name!r} / 没有该审批矩阵", details={"name": name})
    return load_builtin(minor_digits=minor_digits)


def do_save_matrix(
    data: Mapping[str, Any], *, session: Session, actor: str, comment: str = "", minor_digits: int = 2
) -> Matrix:
    """Validate ``data`` and store it as the next version of its matrix (an unchanged one keeps its
    version). Returns the stored matrix."""
    checked = matrix_from_payload(data, "draft", minor_digits=minor_digits)
    row = do_save_version(
        KIND, checked.name, dict(checked.payload), session=session, created_by=actor, comment=comment
    )
    return matrix_from_payload(dict(row.payload), str(row.version), minor_digits=minor_digits)
