"""What recoup writes for people (issue 17 F10, F14, F16): outbox CSV cells never start a formula, a
failed cycle step never records a statement's bound parameters, and printed text is not read as rich
markup or emoji codes."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.console import Console
from sqlalchemy.exc import IntegrityError

from recoup.contact.channels.base import OutgoingMessage
from recoup.contact.channels.filexport import FileExportChannel, FileExportConfig
from recoup.contact.vocab import Channel
from recoup.cycle.runner import _failure_detail


def test_outbox_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    plugin = FileExportChannel(FileExportConfig(directory=tmp_path / "outbox"), base_dir=tmp_path)
    msg = OutgoingMessage(
        message_id="m-1",
        channel=Channel.SMS,
        destination="+8613812345678",
        body='=HYPERLINK("http://evil.example","点击")',
        subject="@SUM(A1)",
        borrower_key="-1+2",
    )
    assert plugin.send(msg).accepted
    with (tmp_path / "outbox" / "sms.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["body"].startswith("'=HYPERLINK(")
    assert row["subject"] == "'@SUM(A1)"
    assert row["borrower_key"] == "'-1+2"
    assert row["to"] == "+8613812345678"  # a phone number is a number, left as it is
    assert plugin.send(msg).accepted and len(list(csv.reader((tmp_path / "outbox" / "sms.csv").open()))) == 2


def test_a_failed_step_records_no_bound_parameters() -> None:
    exc = IntegrityError(
        "INSERT INTO borrower (name, phone) VALUES (?, ?)",
        ("张伟", "13812345678"),
        Exception("UNIQUE constraint failed: borrower.external_id"),
    )
    assert "张伟" in str(exc)  # what SQLAlchemy's text carries, and the step detail must not
    detail = _failure_detail(exc)
    assert detail == "IntegrityError: UNIQUE constraint failed: borrower.external_id"
    assert _failure_detail(RuntimeError("call 13812345678 failed")) == "RuntimeError: call 138****5678 failed"


def test_printed_text_keeps_emoji_codes_and_brackets() -> None:
    console = Console(emoji=False, record=True, width=200)
    console.print("reminder:email:en [red]x[/red]", markup=False, highlight=False)
    assert "reminder:email:en [red]x[/red]" in console.export_text()
