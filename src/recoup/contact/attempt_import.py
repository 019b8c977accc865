"""Import an agency's (or a dialer's) own attempt log into the one attempts table.

Caps count the lender and all its agencies together, so every agency's attempts must be in the log the
policy reads. The file is CSV (UTF-8 or GBK), XLSX or Parquet with these columns (Chinese headers and
values accepted):

| column | required | meaning |
|---|---|---|
| attempt_id (尝试编号) | yes | the agency's own id for the attempt: re-importing a file changes nothing |
| borrower_id (借款人编号) | yes | the lender's borrower id |
| loan_id (借据号) | no | the lender's loan id |
| at (时间) | yes | ISO-8601; without an offset it is read in the lender's time zone |
| channel (渠道) | yes | call, robot_call, sms, email, im, voicemail, letter, visit (or 电话, 短信 …) |
| party (对象) | no | debtor (default), guarantor, emergency_contact, third_party (or 本人, 紧急联系人 …) |
| destination (号码) | yes | the number or address (stored only as a keyed hash and a masked form) |
| outcome (结果) | yes | conversation, connected, no_answer, failed, invalid_number (or 接通, 未接, 空号 …) |
| collector (催收员) | yes | who made it |
| recording_ref (录音) | no | the recording's reference |
| disposition, destination_kind, content | no | as in the contact log |

The whole file is checked first; a bad row names the file, row, column and value, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.contact.models import ContactAttempt
from recoup.contact.service import do_record_attempt
from recoup.contact.vocab import AttemptOutcome, Channel, DestinationKind, Disposition, Party
from recoup.errors import ImportColumnError, ImportRowsError
from recoup.pii import PiiCipher, cipher_from_settings
from recoup.portfolio.readers import ROW, read_table

__all__ = ["AttemptImport", "do_import_attempts"]

HEADERS = {
    "尝试编号": "attempt_id",
    "借款人编号": "borrower_id",
    "借据号": "loan_id",
    "时间": "at",
    "渠道": "channel",
    "对象": "party",
    "号码": "destination",
    "结果": "outcome",
    "催收员": "collector",
    "录音": "recording_ref",
    "处置": "disposition",
    "号码类型": "destination_kind",
    "内容": "content",
}
REQUIRED = ("attempt_id", "borrower_id", "at", "channel", "destination", "outcome", "collector")
ALIASES: dict[str, dict[str, str]] = {
    "channel": {"电话": "call", "人工外呼": "call", "机器人": "robot_call", "智能外呼": "robot_call",
                "短信": "sms", "邮件": "email", "微信": "im", "企业微信": "im", "语音留言": "voicemail",
                "信函": "letter", "上门": "visit", "外访": "visit", "phone": "call"},
    "party": {"本人": "debtor", "借款人": "debtor", "担保人": "guarantor", "紧急联系人": "emergency_contact",
              "第三方": "third_party"},
    "outcome": {"通话": "conversation", "接通": "connected", "已接通": "connected", "未接": "no_answer",
                "无人接听": "no_answer", "失败": "failed", "未接通": "failed", "空号": "invalid_number",
                "停机": "invalid_number", "错号": "invalid_number", "已送达": "connected"},
}  # fmt: skip
ENUMS: dict[
    str, type[Channel] | type[Party] | type[AttemptOutcome] | type[DestinationKind] | type[Disposition]
] = {
    "channel": Channel,
    "party": Party,
    "outcome": AttemptOutcome,
    "destination_kind": DestinationKind,
    "disposition": Disposition,
}


@dataclass
class AttemptImport:
    """What an import did."""

    file: str
    rows: int
    added: int
    already_there: int


def _parse_at(text: str, zone: ZoneInfo) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.strip().replace("/", "-"))
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def do_import_attempts(
    path: Path,
    *,
    session: Session,
    agency: str | None,
    timezone: str,
    cipher: PiiCipher | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AttemptImport:
    """Check every row of an attempt log, then record them (idempotent per agency and attempt id)."""
    table = read_table(path)
    frame = table.frame.rename({h: HEADERS[h] for h in table.frame.columns if h in HEADERS})
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ImportColumnError(
            f"{path.name}: missing column(s) {', '.join(missing)} · 缺少列", details={"missing": missing}
        )
    zone = ZoneInfo(timezone)
    errors: list[dict[str, str]] = []
    rows: list[dict[str, object]] = []
    for rec in frame.iter_rows(named=True):
        row_no = str(rec[ROW])
        clean: dict[str, object] = {}
        bad = False
        for col in frame.columns:
            if col == ROW:
                continue
            raw = rec[col]
            value = raw.strip() if isinstance(raw, str) else raw
            if value in (None, ""):
                if col in REQUIRED:
                    errors.append(
                        {"file": path.name, "row": row_no, "column": col, "value": "", "rule": "required"}
                    )
                    bad = True
                continue
            try:
                if col in ENUMS:
                    text = ALIASES.get(col, {}).get(str(value), str(value).lower())
                    clean[col] = ENUMS[col](text)
                elif col == "at":
                    clean[col] = _parse_at(str(value), zone)
                else:
                    clean[col] = str(value)
            except ValueError:
                errors.append(
                    {"file": path.name, "row": row_no, "column": col, "value": str(value), "rule": "invalid"}
                )
                bad = True
        if not bad:
            rows.append(clean)
    if errors:
        shown = "; ".join(f"row {e['row']} {e['column']}={e['value']!r} ({e['rule']})" for e in errors[:10])
        raise ImportRowsError(
            f"{path.name}: {len(errors)} bad value(s), nothing imported · 存在无效值，未导入: {shown}",
            details={"errors": errors},
        )
    source = "agency" if agency else "dialer"
    externals = [f"{agency}:{r['attempt_id']}" if agency else str(r["attempt_id"]) for r in rows]
    existing: set[str] = set()
    for k in range(0, len(externals), 500):
        chunk = externals[k : k + 500]
        existing.update(
            session.scalars(
                select(ContactAttempt.external_id).where(
                    ContactAttempt.source == source, ContactAttempt.external_id.in_(chunk)
                )
            )
        )
    added = 0
    # One cipher for the file: building it checks the key against the database, not work for each row.
    cipher = cipher or (cipher_from_settings() if rows else None)
    for i, (r, external) in enumerate(zip(rows, externals, strict=True)):
        if external in existing:
            continue
        existing.add(external)
        do_record_attempt(
            session=session,
            source=source,
            external_id=external,
            borrower_key=str(r["borrower_id"]),
            debt_key=str(r["loan_id"]) if "loan_id" in r else None,
            at=r["at"],  # type: ignore[arg-type]
            channel=r["channel"],  # type: ignore[arg-type]
            party=r.get("party", Party.DEBTOR),  # type: ignore[arg-type]
            destination=str(r["destination"]),
            outcome=r["outcome"],  # type: ignore[arg-type]
            made_by=str(r["collector"]),
            destination_kind=r.get("destination_kind"),  # type: ignore[arg-type]
            disposition=str(r["disposition"]) if "disposition" in r else None,
            recording_ref=str(r["recording_ref"]) if "recording_ref" in r else None,
            agency=agency,
            content=str(r["content"]) if "content" in r else None,
            cipher=cipher,
        )
        added += 1
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, len(rows))
    return AttemptImport(path.name, len(rows), added, len(rows) - added)
