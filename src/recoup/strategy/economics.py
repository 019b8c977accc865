"""Treatment prices and capacity as versioned configuration (issue 14, item 5; docs/strategy.md, "Prices
and capacity").

Two ``configs`` kinds, name ``default``, edited by the lender (``recoup config prices|capacity set``):

- ``prices``: fen per treatment (integer ≥ 0) and the agencies' commission in basis points by bucket;
- ``capacity``: per resource either a fixed daily ``limit`` (null = unlimited) or ``staff`` × ``per_staff``
  (what one person does in a day: minutes for ``agent_minutes``, visits for ``field_visits`` …), the
  ``hours`` on duty ([first, last] local hour) and optionally ``staff_by_hour``; the agents' minutes per
  task. Resources the document does not list keep the default scaled with the book
  (:meth:`Capacity.for_book`).

Loading returns the newest saved version, else the defaults as version 0 — today's numbers
(:data:`recoup.strategy.prices.TREATMENT_PRICES`, :data:`AGENCY_COMMISSION_BP`, ``Capacity.for_book``),
so nothing changes until the lender saves a version. The cycle's decisions (``value_model``) and the
twin's results record the versions used. Bad input raises a :class:`RecoupError` naming the field.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from recoup.configs.service import do_save_version, get_latest
from recoup.contact.vocab import Treatment
from recoup.errors import RecoupError
from recoup.strategy.capacity import DEFAULT_HOURS, MINUTES, RESOURCE, Capacity, CapacityError
from recoup.strategy.prices import AGENCY_COMMISSION_BP, TREATMENT_PRICES

__all__ = [
    "BUCKETS",
    "CAPACITY_KIND",
    "NAME",
    "PRICES_KIND",
    "CapacityConfig",
    "CapacityError",
    "Prices",
    "PricesError",
    "ResourceConfig",
    "default_prices",
    "load_capacity",
    "load_prices",
    "parse_capacity",
    "parse_prices",
    "read_document",
    "save_capacity",
    "save_prices",
]

PRICES_KIND = "prices"
CAPACITY_KIND = "capacity"
NAME = "default"
#: The buckets an agency's commission is set for (``delinquency.tables.BUCKETS``' outputs).
BUCKETS: tuple[str, ...] = ("C", "M1", "M2", "M3", "M4", "M5", "M6", "M7+")
_RESOURCES: tuple[str, ...] = tuple(
    f.name for f in Capacity.__dataclass_fields__.values() if f.name != "minutes"
)
_ENTRY_KEYS = ("limit", "staff", "per_staff", "hours", "staff_by_hour")


class PricesError(RecoupError):
    """A price setting is invalid (names the field)."""

    code = "strategy.bad_prices"
    http_status = 422
    exit_code = 65


def _whole(value: Any, where: str, error: type[RecoupError], *, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int in [low, high]; otherwise ``error`` naming ``where``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):
        bound = f"{low}–{high}" if high is not None else f"≥ {low}"
        raise error(
            f"{where}: {value!r} is not a whole number {bound} · 须为整数 {bound}", details={"field": where}
        )
    return int(value)


def _object(value: Any, where: str, error: type[RecoupError]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise error(f"{where}: an object / table is required · 须为对象", details={"field": where})
    return value


def _body(data: Any, kind: str, error: type[RecoupError]) -> dict[str, Any]:
    """The document without what ``show --json`` adds (``kind``, ``version``, ``hash``); a document of
    another kind is refused."""
    doc = _object(data, kind, error)
    if doc.get("kind", kind) != kind:
        raise error(
            f"{kind}.kind: {doc['kind']!r} is not {kind!r} · 配置类型不符", details={"field": f"{kind}.kind"}
        )
    return {k: v for k, v in doc.items() if k not in ("kind", "version", "hash")}


def _unknown(keys: Any, known: Any, where: str, error: type[RecoupError]) -> None:
    extra = sorted(set(keys) - set(known))
    if extra:
        field_name = f"{where}.{extra[0]}" if where else str(extra[0])
        raise error(
            f"{field_name}: unknown; one of {', '.join(known)} · 未知字段", details={"field": field_name}
        )


# ------------------------------------------------------------------------------------------ prices


@dataclass(frozen=True)
class Prices:
    """The lender's price list: fen per treatment and the agencies' commission (bp) by bucket."""

    treatments: Mapping[str, int]
    agency_commission_bp: Mapping[str, int]
    version: int = 0  # 0: the defaults (nothing saved)

    @property
    def label(self) -> str:
        return f"prices@v{self.version}"

    def payload(self) -> dict[str, Any]:
        return {"treatments": dict(self.treatments), "agency_commission_bp": dict(self.agency_commission_bp)}


def default_prices() -> Prices:
    return Prices(
        treatments={t.value: p for t, p in TREATMENT_PRICES.items()},
        agency_commission_bp=dict.fromkeys(BUCKETS, AGENCY_COMMISSION_BP),
    )


def parse_prices(data: Mapping[str, Any], *, version: int = 0) -> Prices:
    """Validate a prices document; entries it leaves out keep the defaults. ``version`` / ``hash`` keys
    (as ``show --json`` prints them, with ``kind``) are ignored."""
    body = _body(data, PRICES_KIND, PricesError)
    _unknown(body, ("treatments", "agency_commission_bp"), "prices", PricesError)
    base = default_prices()
    treatments = dict(base.treatments)
    given = _object(body.get("treatments", {}), "prices.treatments", PricesError)
    _unknown(given, list(treatments), "prices.treatments", PricesError)
    for key, value in given.items():
        treatments[key] = _whole(value, f"prices.treatments.{key}", PricesError)
    commission = dict(base.agency_commission_bp)
    given = _object(body.get("agency_commission_bp", {}), "prices.agency_commission_bp", PricesError)
    _unknown(given, BUCKETS, "prices.agency_commission_bp", PricesError)
    for key, value in given.items():
        commission[key] = _whole(value, f"prices.agency_commission_bp.{key}", PricesError, high=10_000)
    return Prices(treatments=treatments, agency_commission_bp=commission, version=version)


# ------------------------------------------------------------------------------------------ capacity


@dataclass(frozen=True)
class ResourceConfig:
    """One resource's day: a fixed ``limit`` (None = unlimited) or ``staff`` × ``per_staff``; the hours on
    duty and optionally the staff on duty per hour."""

    limit: int | None = None
    staff: int | None = None
    per_staff: int | None = None
    hours: tuple[int, int] | None = None
    staff_by_hour: Mapping[int, int] = field(default_factory=dict)

    def daily_limit(self) -> int | None:
        if self.staff is not None and self.per_staff is not None:
            return self.staff * self.per_staff
        return self.limit

    def on_duty(self) -> tuple[int, ...] | None:
        """The local hours tasks of this resource are worked: the duty window's hours with someone on
        duty (``staff_by_hour`` sets an hour's headcount, e.g. 0 at lunch; other hours have ``staff``);
        without a window, the hours ``staff_by_hour`` staffs."""
        if self.hours is not None:
            full = self.staff if self.staff is not None else 1
            hours = range(self.hours[0], self.hours[1] + 1)
            return tuple(h for h in hours if self.staff_by_hour.get(h, full) > 0)
        if self.staff_by_hour:
            return tuple(sorted(h for h, n in self.staff_by_hour.items() if n > 0))
        return None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.staff is not None:
            out.update(staff=self.staff, per_staff=self.per_staff)
        else:
            out["limit"] = self.limit
        if self.hours is not None:
            out["hours"] = list(self.hours)
        if self.staff_by_hour:
            out["staff_by_hour"] = {str(h): n for h, n in sorted(self.staff_by_hour.items())}
        return out


def _hour(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return _whole(value, where, CapacityError, high=23)


def _resource(name: str, data: Any) -> ResourceConfig:
    where = f"capacity.resources.{name}"
    entry = _object(data, where, CapacityError)
    _unknown(entry, _ENTRY_KEYS, where, CapacityError)
    staffed = "staff" in entry or "per_staff" in entry
    if staffed and "limit" in entry:
        raise CapacityError(
            f"{where}.limit: give either limit or staff and per_staff · 二选一",
            details={"field": f"{where}.limit"},
        )
    staff = per_staff = limit = None
    if staffed:
        for key in ("staff", "per_staff"):
            if key not in entry:
                raise CapacityError(
                    f"{where}.{key}: required with {'per_staff' if key == 'staff' else 'staff'} · 必填",
                    details={"field": f"{where}.{key}"},
                )
        staff = _whole(entry["staff"], f"{where}.staff", CapacityError)
        per_staff = _whole(entry["per_staff"], f"{where}.per_staff", CapacityError)
    elif entry.get("limit") is not None:
        limit = _whole(entry["limit"], f"{where}.limit", CapacityError)
    hours: tuple[int, int] | None = None
    if entry.get("hours") is not None:
        h = entry["hours"]
        if not isinstance(h, (list, tuple)) or len(h) != 2:
            raise CapacityError(
                f"{where}.hours: [first, last] local hours 0–23 · 须为 [起, 止] 小时",
                details={"field": f"{where}.hours"},
            )
        first, last = _hour(h[0], f"{where}.hours"), _hour(h[1], f"{where}.hours")
        if first > last:
            raise CapacityError(
                f"{where}.hours: first {first} after last {last} · 开始晚于结束",
                details={"field": f"{where}.hours"},
            )
        hours = (first, last)
    by_hour: dict[int, int] = {}
    given = _object(entry.get("staff_by_hour") or {}, f"{where}.staff_by_hour", CapacityError)
    if given and staff is None:
        raise CapacityError(
            f"{where}.staff: required with staff_by_hour · 按小时排班须同时给出人数",
            details={"field": f"{where}.staff"},
        )
    for key, value in given.items():
        at = f"{where}.staff_by_hour.{key}"
        hour = _hour(key, at)
        if hours is not None and not hours[0] <= hour <= hours[1]:
            raise CapacityError(
                f"{at}: outside the hours on duty {list(hours)} · 不在值班时间内", details={"field": at}
            )
        n = _whole(value, at, CapacityError)
        if staff is not None and n > staff:
            raise CapacityError(f"{at}: {n} on duty but staff is {staff} · 超过总人数", details={"field": at})
        by_hour[hour] = n
    return ResourceConfig(limit=limit, staff=staff, per_staff=per_staff, hours=hours, staff_by_hour=by_hour)


@dataclass(frozen=True)
class CapacityConfig:
    """The lender's capacity: the resources it sets (others scale with the book) and the agents' minutes
    per task."""

    resources: Mapping[str, ResourceConfig] = field(default_factory=dict)
    minutes: Mapping[str, int] = field(default_factory=lambda: {t.value: m for t, m in MINUTES.items()})
    version: int = 0

    @property
    def label(self) -> str:
        return f"capacity@v{self.version}"

    def capacity(self, n_loans: int) -> Capacity:
        """The day's :class:`Capacity` for a book of ``n_loans`` loans: the set resources' limits, the
        rest :meth:`Capacity.for_book`."""
        overrides: dict[str, Any] = {name: r.daily_limit() for name, r in self.resources.items()}
        overrides["minutes"] = dict(self.minutes)
        return Capacity.for_book(n_loans).updated(overrides)

    def windows(self) -> dict[Treatment, tuple[int, ...]]:
        """Per treatment the local hours on duty of its resource (treatments with a timed window only;
        messages go at the strategy's send hour)."""
        out: dict[Treatment, tuple[int, ...]] = {}
        for t in DEFAULT_HOURS:
            res = self.resources.get(RESOURCE.get(t, ""))
            hours = res.on_duty() if res is not None else None
            if hours:
                out[t] = hours
        return out

    def payload(self) -> dict[str, Any]:
        return {
            "resources": {k: r.payload() for k, r in sorted(self.resources.items())},
            "minutes": dict(sorted(self.minutes.items())),
        }


def parse_capacity(data: Mapping[str, Any], *, version: int = 0) -> CapacityConfig:
    """Validate a capacity document (errors name the field); ``kind`` / ``version`` / ``hash`` keys (as
    ``show --json`` prints them) are ignored."""
    body = _body(data, CAPACITY_KIND, CapacityError)
    _unknown(body, ("resources", "minutes"), "capacity", CapacityError)
    given = _object(body.get("resources", {}), "capacity.resources", CapacityError)
    _unknown(given, _RESOURCES, "capacity.resources", CapacityError)
    resources = {name: _resource(name, entry) for name, entry in given.items()}
    minutes = {t.value: m for t, m in MINUTES.items()}
    mins = _object(body.get("minutes", {}), "capacity.minutes", CapacityError)
    _unknown(mins, list(minutes), "capacity.minutes", CapacityError)
    for key, value in mins.items():
        minutes[key] = _whole(value, f"capacity.minutes.{key}", CapacityError, low=1)
    return CapacityConfig(resources=resources, minutes=minutes, version=version)


# ------------------------------------------------------------------------------------------ storage


def load_prices(*, session: Session) -> Prices:
    """The newest saved ``prices`` version, else the defaults (version 0)."""
    row = get_latest(PRICES_KIND, NAME, session=session, missing_ok=True)
    return default_prices() if row is None else parse_prices(row.payload, version=row.version)


def load_capacity(*, session: Session) -> CapacityConfig:
    """The newest saved ``capacity`` version, else the defaults (version 0: ``Capacity.for_book``)."""
    row = get_latest(CAPACITY_KIND, NAME, session=session, missing_ok=True)
    return CapacityConfig() if row is None else parse_capacity(row.payload, version=row.version)


def save_prices(
    data: Mapping[str, Any], *, session: Session, created_by: str = "system", comment: str = ""
) -> Prices:
    """Validate and save a prices document as the next version (an unchanged one keeps its version)."""
    prices = parse_prices(data)
    row = do_save_version(
        PRICES_KIND, NAME, prices.payload(), session=session, created_by=created_by, comment=comment
    )
    return parse_prices(row.payload, version=row.version)


def save_capacity(
    data: Mapping[str, Any], *, session: Session, created_by: str = "system", comment: str = ""
) -> CapacityConfig:
    """Validate and save a capacity document as the next version (an unchanged one keeps its version)."""
    cfg = parse_capacity(data)
    row = do_save_version(
        CAPACITY_KIND, NAME, cfg.payload(), session=session, created_by=created_by, comment=comment
    )
    return parse_capacity(row.payload, version=row.version)


def read_document(path: Path, error: type[RecoupError]) -> dict[str, Any]:
    """A JSON or TOML document (by suffix); errors name the file."""
    try:
        text = path.read_text("utf-8")
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise error(
            f"{path}: cannot read the document · 无法读取文件: {exc}", details={"file": str(path)}
        ) from None
    if not isinstance(data, dict):
        raise error(
            f"{path}: the document must be an object / table · 文档须为对象", details={"file": str(path)}
        )
    return data
