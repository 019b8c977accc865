"""``recoup promise judge FILE [--json]``: judge the promises to pay (承诺还款) of one scenario.

The scenario format and the rules are in docs/promises.md. Parsing is strict and every error is a
:class:`~recoup.cases.promises.PromiseInputError` (``promise.bad_input``) naming the field
(``promises[0].made_at``) and the value. With ``--json`` stdout holds exactly one JSON object,
``{"promises": [{"id", "status", "kept_amount"}]}``; an error is printed as the JSON envelope
``{"error": {"code", "message", "details"}}`` on stdout instead (the main CLI prints every error:
docs/errors.md) and the exit status is the error's ``exit_code``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich import box
from rich.table import Table

from recoup.cases.promises import (
    PAYMENT_SCHEMA,
    PROMISE_SCHEMA,
    By,
    PromiseInputError,
    Status,
    judge_promises,
)
from recoup.config import CURRENCY_MINOR_DIGITS
from recoup.console import make_console
from recoup.errors import MoneyError
from recoup.i18n import _
from recoup.labels_domain import promise_status_label
from recoup.money import parse_amount, to_decimal_string

__all__ = ["Scenario", "app", "judge_scenario", "load_scenario", "parse_scenario"]

#: Amounts are decimal yuan strings.
CURRENCY = "CNY"
_DIGITS = CURRENCY_MINOR_DIGITS[CURRENCY]

app = typer.Typer(
    help="Promises to pay: judge kept, broken, rescheduled. 承诺还款：履约、跳票、改期判定。",
    no_args_is_help=True,
)
console = make_console()

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?P<offset>Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class PromiseIn:
    id: str
    made_at: dt.datetime
    by: By
    amount: int
    due_date: dt.date


@dataclass(frozen=True, slots=True)
class PaymentIn:
    id: str
    received_date: dt.date
    amount: int
    seen_in_extract: dt.date
    payer: By


@dataclass(frozen=True, slots=True)
class Scenario:
    as_of: dt.date
    promises: tuple[PromiseIn, ...]
    payments: tuple[PaymentIn, ...]


# ---------------------------------------------------------------------------------------------- parsing


def _bad(field: str, value: object, why: str, reason: str) -> PromiseInputError:
    shown = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
    return PromiseInputError(
        f"{field}: {value!r} {why}", details={"field": field, "value": shown, "reason": reason}
    )


def _get(obj: dict[str, Any], key: str, where: str) -> Any:
    field = f"{where}.{key}" if where else key
    if key not in obj:
        raise PromiseInputError(
            f"{field} is missing · 缺少字段", details={"field": field, "value": None, "reason": "missing"}
        )
    return obj[key]


def _date(value: object, field: str) -> dt.date:
    if not isinstance(value, str) or _DATE_RE.fullmatch(value) is None:
        raise _bad(field, value, "is not an ISO date YYYY-MM-DD · 日期格式应为 YYYY-MM-DD", "bad_date")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _bad(field, value, "is not a calendar date · 日期不存在", "bad_date") from None


def _datetime(value: object, field: str) -> dt.datetime:
    m = _DATETIME_RE.fullmatch(value) if isinstance(value, str) else None
    if not isinstance(value, str) or m is None:
        raise _bad(
            field,
            value,
            "is not an ISO date-time with an offset, e.g. 2026-11-20T10:00:00+08:00 · 时间格式无效",
            "bad_datetime",
        )
    if m["offset"] is None:
        raise _bad(
            field,
            value,
            "has no UTC offset; a naive time is ambiguous (add e.g. +08:00) · 缺少时区偏移",
            "naive_datetime",
        )
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise _bad(field, value, "is not a valid date-time · 时间无效", "bad_datetime") from None


def _amount(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _bad(field, value, 'is not a decimal amount string such as "500.00" · 金额无效', "bad_amount")
    try:
        minor = parse_amount(value, minor_digits=_DIGITS)
    except MoneyError as exc:
        raise _bad(field, value, f"is not a valid amount ({exc.message}) · 金额无效", "bad_amount") from None
    if minor <= 0:
        raise _bad(field, value, "must be positive · 金额须为正数", "not_positive")
    return minor


def _party(value: object, field: str) -> By:
    if not isinstance(value, str) or value not in {b.value for b in By}:
        raise _bad(field, value, "is not one of debtor, third_party · 取值无效", "bad_party")
    return By(value)


def _ident(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, value, "is not a non-empty string id · 编号无效", "bad_id")
    return value


def _objects(value: object, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad(field, value, "is not a list · 须为数组", "not_a_list")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _bad(f"{field}[{i}]", item, "is not an object · 须为对象", "not_an_object")
    return value


def _unique(ids: list[str], field: str) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            raise _bad(f"{field}[{i}].id", ident, "is a duplicate id · 编号重复", "duplicate_id")
        seen.add(ident)


def parse_scenario(data: object) -> Scenario:
    """Validate a decoded scenario; errors name the field (``payments[1].amount``) and the value."""
    if not isinstance(data, dict):
        raise _bad("(scenario)", data, "is not a JSON object · 场景须为 JSON 对象", "not_an_object")
    as_of = _date(_get(data, "as_of", ""), "as_of")
    promises: list[PromiseIn] = []
    for i, raw in enumerate(_objects(_get(data, "promises", ""), "promises")):
        where = f"promises[{i}]"
        promise = PromiseIn(
            id=_ident(_get(raw, "id", where), f"{where}.id"),
            made_at=_datetime(_get(raw, "made_at", where), f"{where}.made_at"),
            by=_party(_get(raw, "by", where), f"{where}.by"),
            amount=_amount(_get(raw, "amount", where), f"{where}.amount"),
            due_date=_date(_get(raw, "due_date", where), f"{where}.due_date"),
        )
        if promise.due_date < promise.made_at.date():
            raise _bad(
                f"{where}.due_date",
                raw["due_date"],
                f"is before the promise was made ({promise.made_at.date()}) · 到期日早于承诺日",
                "due_before_made",
            )
        promises.append(promise)
    payments: list[PaymentIn] = []
    for i, raw in enumerate(_objects(data.get("payments", []), "payments")):
        where = f"payments[{i}]"
        payment = PaymentIn(
            id=_ident(_get(raw, "id", where), f"{where}.id"),
            received_date=_date(_get(raw, "received_date", where), f"{where}.received_date"),
            amount=_amount(_get(raw, "amount", where), f"{where}.amount"),
            seen_in_extract=_date(_get(raw, "seen_in_extract", where), f"{where}.seen_in_extract"),
            payer=_party(_get(raw, "payer", where), f"{where}.payer"),
        )
        payments.append(payment)
    _unique([p.id for p in promises], "promises")
    _unique([x.id for x in payments], "payments")
    return Scenario(as_of=as_of, promises=tuple(promises), payments=tuple(payments))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _bad(key, value, "appears twice in one object · 字段重复", "duplicate_key")
        out[key] = value
    return out


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file (UTF-8 JSON); every problem is a PromiseInputError."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise PromiseInputError(
            f"cannot read {path}: {exc.strerror} · 无法读取文件",
            details={"file": str(path), "reason": "unreadable"},
        ) from None
    except UnicodeDecodeError:
        raise PromiseInputError(
            f"{path} is not UTF-8 text · 文件不是 UTF-8 编码",
            details={"file": str(path), "reason": "not_utf8"},
        ) from None
    try:
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise PromiseInputError(
            f"{path} is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg} · 不是有效的 JSON",
            details={"file": str(path), "reason": "invalid_json", "line": exc.lineno, "column": exc.colno},
        ) from None
    except RecursionError:
        raise PromiseInputError(
            f"{path} is nested too deeply · JSON 嵌套过深",
            details={"file": str(path), "reason": "invalid_json"},
        ) from None
    except PromiseInputError as exc:
        exc.details["file"] = str(path)
        raise
    try:
        return parse_scenario(data)
    except PromiseInputError as exc:
        exc.details["file"] = str(path)
        raise


# -------------------------------------------------------------------------------------------- judgement


def _frames(s: Scenario) -> tuple[pl.DataFrame, pl.DataFrame]:
    promises = pl.DataFrame(
        {
            "case_id": [0] * len(s.promises),
            "id": [p.id for p in s.promises],
            "seq": list(range(len(s.promises))),
            "by": [p.by.value for p in s.promises],
            "made_on": [p.made_at.date() for p in s.promises],  # the date in the promise's own offset
            "amount": [p.amount for p in s.promises],
            "due_date": [p.due_date for p in s.promises],
        },
        schema=PROMISE_SCHEMA,
    )
    payments = pl.DataFrame(
        {
            "case_id": [0] * len(s.payments),
            "id": [x.id for x in s.payments],
            "received_date": [x.received_date for x in s.payments],
            "amount": [x.amount for x in s.payments],
            "seen_in_extract": [x.seen_in_extract for x in s.payments],
            "payer": [x.payer.value for x in s.payments],
        },
        schema=PAYMENT_SCHEMA,
    )
    return promises, payments


def judge_scenario(scenario: Scenario) -> dict[str, Any]:
    """The command's output object: ``{"promises": [{"id", "status", "kept_amount"}]}`` in input order."""
    promises, payments = _frames(scenario)
    judged = judge_promises(promises, payments, as_of=scenario.as_of)
    return {
        "promises": [
            {
                "id": row["id"],
                "status": row["status"],
                "kept_amount": to_decimal_string(row["kept_amount"], _DIGITS),
            }
            for row in judged.iter_rows(named=True)
        ]
    }


# ------------------------------------------------------------------------------------------------ command


@app.callback()
def _root() -> None:
    """Promises to pay (承诺还款)."""


@app.command("judge")
def judge_cmd(
    file: Path = typer.Argument(..., help="A scenario JSON file (see docs/promises.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Judge each promise of a scenario: pending, kept, partially kept, broken… 判定承诺还款履约情况。"""
    # An invalid scenario raises PromiseInputError: the main CLI prints it (the envelope on stdout with
    # --json) and exits with its status.
    scenario = load_scenario(file)
    result = judge_scenario(scenario)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    title = _("Promises to pay (as of {as_of})").format(as_of=scenario.as_of)
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column(_("Promise"))
    table.add_column(_("Promised amount"), justify="right")
    table.add_column(_("Due"))
    table.add_column(_("Status"), no_wrap=True)
    table.add_column(_("Kept amount"), justify="right")
    for p, out in zip(scenario.promises, result["promises"], strict=True):
        status = Status(out["status"])
        table.add_row(
            p.id + ("" if p.by is By.DEBTOR else " " + _("(third party)")),
            to_decimal_string(p.amount, _DIGITS),
            p.due_date.isoformat(),
            promise_status_label(status.value),
            out["kept_amount"],
        )
    console.print(table)
