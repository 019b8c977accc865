"""``recoup legal``, ``recoup writeoff`` and ``recoup sale`` run through ``recoup.cli.main``: a matter
opened and moved, the limitation refresh and watch list, a write-off and a sale with four eyes, the
buyer's payments and data pack — JSON on stdout, coded errors with their exit statuses, never a
traceback."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import select

from floor_factories import make_case
from legal_factories import SH, add_address, add_payment, add_schedule
from recoup import cli
from recoup.auth import service as auth
from recoup.db import get_engine, session_scope, upgraded_session
from recoup.legal.cli import app as legal_app
from recoup.legal.sale_cli import sale_app, writeoff_app
from recoup.portfolio.models import CollectionAccount

PASSWORD = "correct horse battery"


@pytest.fixture
def db() -> Iterator[dict[str, int]]:
    with upgraded_session() as session:
        auth.do_ensure_default_roles(session=session)
        auth.do_create_user("lena", PASSWORD, roles=["legal"], session=session)
        auth.do_create_user("mona", PASSWORD, roles=["manager"], session=session)
        auth.do_create_user("carl", PASSWORD, roles=["collector"], session=session)
        ids = {}
        for name, state, last_due in (
            ("matter", "early_collection", dt.date(2026, 9, 1)),
            ("old", "negotiation", dt.date(2022, 1, 1)),
            ("wo", "negotiation", dt.date(2026, 3, 1)),
            ("sale", "early_collection", dt.date(2026, 10, 1)),
        ):
            case = make_case(session, state=state)
            add_schedule(session, case, last_due=last_due, n=2)
            ids[name] = case.id
        sale_case = session.get(type(case), ids["sale"])
        assert sale_case is not None
        add_address(session, sale_case)
        today = dt.datetime.now(SH).date()
        add_payment(session, sale_case, on=today - dt.timedelta(days=3), amount=7_700)
    yield ids
    get_engine().dispose()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
    app.add_typer(legal_app, name="legal")
    app.add_typer(writeoff_app, name="writeoff")
    app.add_typer(sale_app, name="sale")
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli, "_mount", lambda argv=None: None)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["recoup", *args])
        umask = os.umask(0o022)
        os.umask(umask)
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        finally:
            os.umask(umask)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return invoke


def _ok(result: tuple[int, str, str]) -> dict:  # type: ignore[type-arg]
    code, out, err = result
    assert code == 0, (out, err)
    return json.loads(out)  # type: ignore[no-any-return]


def _error(result: tuple[int, str, str], status: int, code: str) -> None:
    got, out, err = result
    assert got == status, (out, err)
    text = (out.strip() or err.strip()).splitlines()[-1]
    assert json.loads(text)["error"]["code"] == code


def test_the_legal_commands(db: dict[str, int], run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    today = dt.datetime.now(SH).date()
    m = _ok(
        run(
            "legal",
            "open",
            str(db["matter"]),
            "--by",
            "lena",
            "--reason",
            "no contact",
            "--claim",
            "2100.00",
            "--json",
        )
    )
    mid = m["matter"]["id"]
    assert (m["matter"]["stage"], m["matter"]["claim_amount"]) == ("assessment", "2100.00")
    _error(
        run("legal", "open", str(db["matter"]), "--by", "carl", "--reason", "x", "--json"),
        77,
        "legal.cli_forbidden",
    )
    _error(
        run("legal", "open", str(db["matter"]), "--by", "nobody", "--reason", "x", "--json"), 66, "not_found"
    )
    assert (
        _ok(run("legal", "move", str(mid), "suit", "--by", "lena", "--reason", "立案", "--json"))["move"][
            "to"
        ]
        == "suit"
    )
    _error(
        run("legal", "move", str(mid), "payment_order", "--by", "lena", "--reason", "x", "--json"),
        65,
        "legal.invalid_stage_move",
    )
    cost = _ok(
        run(
            "legal",
            "cost",
            str(mid),
            "--by",
            "lena",
            "--kind",
            "court_fee",
            "--amount",
            "25.00",
            "--on",
            today.isoformat(),
            "--json",
        )
    )
    assert cost["cost"]["amount"] == "25.00"
    shown = _ok(run("legal", "show", str(mid), "--json"))["matter"]
    assert shown["cost_total"] == "25.00" and shown["allowed_moves"] == ["hearing", "judgment", "result"]
    assert [x["id"] for x in _ok(run("legal", "matters", "--stage", "suit", "--json"))["matters"]] == [mid]
    assert _ok(run("legal", "stages", "--json"))["initial"] == "assessment"
    # Limitation: the old debt (last due 2022-01-01) is time-barred; its borrower is flagged.
    refreshed = _ok(run("legal", "limitation", "refresh", "--json"))
    assert refreshed["barred"] == 1 and len(refreshed["flagged"]) == 1
    watch = _ok(run("legal", "limitation", "watch", "--days", "30", "--json"))
    assert [d["case_id"] for d in watch["debts"] if d["time_barred"]] == [db["old"]]
    _error(
        run("legal", "open", str(db["old"]), "--by", "lena", "--reason", "sue", "--json"),
        65,
        "legal.time_barred",
    )
    with session_scope() as s:
        loan = s.scalars(
            select(CollectionAccount.external_id).where(CollectionAccount.case_id == db["old"])
        ).one()
    rec = run(
        "legal",
        "limitation",
        "record",
        str(db["old"]),
        "--loan",
        loan,
        "--kind",
        "acknowledgement",
        "--on",
        today.isoformat(),
        "--evidence",
        "signed confirmation #9",
        "--by",
        "lena",
        "--json",
    )
    assert _ok(rec)["event"]["kind"] == "acknowledgement"
    assert len(_ok(run("legal", "limitation", "refresh", "--json"))["cleared"]) == 1
    _error(run("legal", "limitation", "watch", "--as-of", "2026-13-01", "--json"), 64, "usage")

    # Write-off: asked by lena, refused to lena, approved by mona.
    wo = _ok(run("writeoff", "request", str(db["wo"]), "--by", "lena", "--reason", "no assets", "--json"))[
        "write_off"
    ]
    assert (wo["status"], wo["amount"]) == ("requested", "2100.00")
    _error(run("writeoff", "approve", str(wo["id"]), "--by", "lena", "--json"), 77, "legal.cli_forbidden")
    approved = _ok(run("writeoff", "approve", str(wo["id"]), "--by", "mona", "--json"))["write_off"]
    assert approved["status"] == "approved" and approved["decided_by"] == "mona"
    assert (
        _ok(run("writeoff", "recoveries", "--from", "2026-01-01", "--to", today.isoformat(), "--json"))[
            "payments"
        ]
        >= 1
    )

    # Sale: created by loan, approved, transferred; payments after the cut-off; the data pack.
    with session_scope() as s:
        sale_loan = s.scalars(
            select(CollectionAccount.external_id).where(CollectionAccount.case_id == db["sale"])
        ).one()
    loans_file = tmp_path / "loans.csv"
    loans_file.write_text(f"loan_id\n{sale_loan}\n", "utf-8")
    sale = _ok(
        run(
            "sale",
            "create",
            "--by",
            "lena",
            "--buyer",
            "某某资产管理有限公司",
            "--cutoff",
            (today - dt.timedelta(days=10)).isoformat(),
            "--transfer-date",
            today.isoformat(),
            "--loans-file",
            str(loans_file),
            "--price",
            "300.00",
            "--json",
        )
    )["sale"]
    assert (sale["cases"], sale["accounts"], sale["status"]) == (1, 1, "requested")
    _error(run("sale", "transfer", str(sale["id"]), "--by", "lena", "--json"), 65, "legal.invalid_state")
    assert (
        _ok(run("sale", "approve", str(sale["id"]), "--by", "mona", "--json"))["sale"]["status"] == "approved"
    )
    done = _ok(run("sale", "transfer", str(sale["id"]), "--by", "lena", "--json"))
    assert done["cases"] == [db["sale"]] and done["notices"] == 1 and len(done["holds"]) == 1
    pays = _ok(run("sale", "payments", str(sale["id"]), "--json"))
    assert pays["total"] == "77.00" and len(pays["payments"]) == 1
    pack = _ok(run("sale", "pack", str(sale["id"]), "--by", "lena", "--json"))
    assert Path(pack["directory"], "manifest.json").exists() and len(pack["manifest_sha256"]) == 64
    assert pack["manifest"]["totals"]["payments_after_cutoff"] == "77.00"
    assert [x["status"] for x in _ok(run("sale", "list", "--json"))["sales"]] == ["transferred"]
    code, out, _err = run("sale", "show", str(sale["id"]))
    assert code == 0 and sale_loan in out
