"""The day's instruction file out, and the core system's acknowledgement file in.

``do_export`` writes ``writeback_YYYYMMDD.csv`` and ``writeback_YYYYMMDD.jsonl`` (UTF-8, LF, no BOM) with
every instruction of that business date, oldest first, in the columns of :data:`COLUMNS`; a file holds
only what never changes on an instruction, so exporting the same day again gives the same bytes. Rows
still ``pending`` become ``sent`` (the file's date recorded). ``do_apply_ack`` reads the core system's
``id,status,reason`` CSV: ``rejected`` rows are rejected with the reason, ``accepted`` rows noted; the
whole file is checked before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import Settings, get_settings
from recoup.db import utcnow
from recoup.errors import NotFoundError, StorageError
from recoup.ledger.service import do_append, do_append_batch
from recoup.writeback.models import WritebackInstruction
from recoup.writeback.service import Status, WritebackError, to_record

__all__ = ["COLUMNS", "AckReport", "ExportResult", "do_apply_ack", "do_export", "outgoing_dir", "render"]

#: The file's columns, in this order (docs/writeback.md describes each).
COLUMNS: Final = (
    "instruction_id",
    "kind",
    "loan_id",
    "loans",
    "business_date",
    "effective_date",
    "currency",
    "amount",
    "waive_penalty",
    "waive_fee",
    "waive_interest",
    "waive_principal",
    "instalments",
    "reference",
    "source_ref",
    "payload",
)


def outgoing_dir(settings: Settings) -> Path:
    return settings.data_dir / "writeback" / "outgoing"


def _csv_row(rec: dict[str, Any]) -> list[str]:
    p = rec["payload"]
    waive = p.get("waive") or {}
    plan = ";".join(f"{i['seq']}:{i['due_date']}:{i['amount']}" for i in p.get("instalments") or [])
    values = {
        **{k: rec[k] for k in ("instruction_id", "kind", "loan_id", "business_date", "effective_date")},
        "loans": ";".join(p.get("loans") or [rec["loan_id"]]),
        "currency": rec["currency"],
        "amount": rec["amount"],
        **{f"waive_{c}": waive.get(c, "") for c in ("penalty", "fee", "interest", "principal")},
        "instalments": plan,
        "reference": p.get("reference", ""),
        "source_ref": rec["source_ref"],
        "payload": json.dumps(p, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
    }
    return [str(values[c]) for c in COLUMNS]


def render(rows: list[WritebackInstruction], settings: Settings) -> tuple[bytes, bytes]:
    """The CSV and JSON-lines bytes of ``rows``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    lines = []
    for r in rows:
        rec = to_record(r, settings)
        w.writerow(_csv_row(rec))
        lines.append(json.dumps(rec, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")
    return buf.getvalue().encode("utf-8"), "".join(lines).encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    """Atomically (a temporary file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(
            f"cannot write {path}: {exc.strerror} · 无法写入文件", details={"path": str(path)}
        ) from exc


@dataclass
class ExportResult:
    on: dt.date
    csv: Path
    jsonl: Path
    count: int
    newly_sent: int
    sha256: str


def do_export(
    on: dt.date,
    *,
    session: Session,
    out_dir: Path | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    actor: str = "system",
) -> ExportResult:
    """Write the day's file (CSV and JSON lines) and mark its pending instructions sent."""
    s = settings or get_settings()
    at = now or utcnow()
    rows = list(
        session.scalars(
            select(WritebackInstruction)
            .where(WritebackInstruction.business_date == on)
            .order_by(WritebackInstruction.id)
        )
    )
    data, lines = render(rows, s)
    folder = out_dir or outgoing_dir(s)
    stem = f"writeback_{on:%Y%m%d}"
    csv_path, jsonl_path = folder / f"{stem}.csv", folder / f"{stem}.jsonl"
    _write(csv_path, data)
    _write(jsonl_path, lines)
    fresh = [r for r in rows if r.status == Status.PENDING.value]
    for r in fresh:
        r.status, r.sent_on, r.sent_at = Status.SENT.value, on, at
    session.flush()
    digest = hashlib.sha256(data).hexdigest()
    if fresh:
        do_append(
            "writeback.exported",
            {"on": on.isoformat(), "count": len(rows), "sent": len(fresh), "csv_sha256": digest},
            session=session,
            actor=actor,
            settings=s,
        )
    return ExportResult(on, csv_path, jsonl_path, len(rows), len(fresh), digest)


ACK_STATUSES: Final = ("accepted", "rejected")


@dataclass
class AckReport:
    rejected: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # already confirmed or rejected: left as they are


def _read_ack(path: Path) -> list[tuple[int, str, str, str]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise NotFoundError(f"no file {path} · 文件不存在", details={"file": str(path)}) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WritebackError(
            f"{path}: cannot read it as UTF-8 ({exc}) · 无法读取", details={"file": str(path)}
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    id_col = "id" if "id" in header else "instruction_id" if "instruction_id" in header else None
    if id_col is None or "status" not in header:
        raise WritebackError(
            f"{path}: the header must name id (or instruction_id), status and reason"
            " · 表头应为 id,status,reason",
            details={"file": str(path), "header": header},
        )
    out = []
    for n, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        out.append((n, row.get(id_col, ""), row.get("status", "").lower(), row.get("reason", "")))
    return out


def do_apply_ack(
    path: Path,
    *,
    session: Session,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    actor: str = "system",
) -> AckReport:
    """Apply the core system's acknowledgement file; every row is checked before anything changes."""
    s = settings or get_settings()
    at = now or utcnow()
    rows = _read_ack(path)
    ids = [i for _n, i, _s, _r in rows]
    found = {
        r.instruction_id: r
        for r in session.scalars(
            select(WritebackInstruction).where(WritebackInstruction.instruction_id.in_(ids))
        )
    }
    for n, iid, status, reason in rows:
        where = {"file": str(path), "row": n}
        if iid not in found:
            raise WritebackError(
                f"{path} row {n}, column id: no instruction {iid!r} · 第 {n} 行：指令不存在",
                details={**where, "column": "id", "value": iid},
            )
        if status not in ACK_STATUSES:
            raise WritebackError(
                f"{path} row {n}, column status: {status!r} is not accepted or rejected"
                f" · 第 {n} 行：状态无效",
                details={**where, "column": "status", "value": status},
            )
        if status == "rejected" and not reason:
            raise WritebackError(
                f"{path} row {n}, column reason: a rejection needs a reason · 第 {n} 行：驳回须有原因",
                details={**where, "column": "reason", "value": ""},
            )
    report = AckReport()
    items: list[dict[str, object]] = []
    for _n, iid, status, reason in rows:
        r = found[iid]
        if r.status in (Status.CONFIRMED.value, Status.REJECTED.value):
            report.ignored.append(iid)
            continue
        r.ack_status, r.acked_at = status, at
        if status == "rejected":
            r.status, r.reason, r.resolved_at = Status.REJECTED.value, reason[:500], at
            report.rejected.append(iid)
        else:
            report.accepted.append(iid)
        items.append({"instruction_id": iid, "ack": status})
    session.flush()
    if items:
        do_append_batch(
            "writeback.acknowledged",
            {
                "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "rejected": len(report.rejected),
                "accepted": len(report.accepted),
            },
            items,
            session=session,
            actor=actor,
            settings=s,
        )
    return report
