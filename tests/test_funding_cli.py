"""``recoup funding …``, ``recoup report creditors`` and ``recoup collateral …`` through
``recoup.cli.main``: JSON on stdout, coded errors with their exit statuses, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from floor_factories import make_case
from legal_factories import SH, account_of, add_payment, add_schedule
from recoup import cli
from recoup.auth import service as auth
from recoup.collateral.cli import app as collateral_app
from recoup.db import get_engine, upgraded_session
from recoup.funding.cli import app as funding_app
from recoup.funding.cli import report_creditors

PASSWORD = "correct horse battery"


@pytest.fixture
def db() -> Iterator[dict[str, str]]:
    today = dt.datetime.now(SH).date()
    with upgraded_session() as session:
        auth.do_ensure_default_roles(session=session)
        auth.do_create_user("lena", PASSWORD, roles=["legal"], session=session)
        auth.do_create_user("mona", PASSWORD, roles=["manager"], session=session)
        case = make_case(session, state="early_collection")
        add_schedule(
            session, case, last_due=today - dt.timedelta(days=15), n=2, principal=500_000, interest=0
        )
        account_of(session, case).funding_partner = "BANKX"
        add_payment(session, case, on=today.replace(day=1), amount=20_000)
        loan = account_of(session, case).external_id
    yield {"loan": loan, "today": today.isoformat(), "month": today.strftime("%Y-%m")}
    get_engine().dispose()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
    report = typer.Typer()
    report.command("creditors")(report_creditors)
    report.command("noop")(lambda: None)
    app.add_typer(funding_app, name="funding")
    app.add_typer(collateral_app, name="collateral")
    app.add_typer(report, name="report")
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli, "_mount", lambda argv=None: None)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["recoup", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
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


def test_funding_commands(db: dict[str, str], run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loan = db["loan"]
    bank = _ok(
        run(
            "funding",
            "partner",
            "add",
            "BANKX",
            "--name",
            "某银行",
            "--kind",
            "bank",
            "--no-waivers",
            "--share",
            "70",
            "--by",
            "mona",
            "--json",
        )
    )
    assert bank["partner"] == {
        "code": "BANKX",
        "name": "某银行",
        "kind": "bank",
        "permits_waivers": False,
        "waiver_limit": None,
        "waiver_max_pct": None,
        "recovery_share_pct": 70.0,
        "note": "",
    }
    _ok(
        run(
            "funding",
            "partner",
            "add",
            "G1",
            "--name",
            "某担保",
            "--kind",
            "guarantor",
            "--waiver-limit",
            "500.00",
            "--by",
            "mona",
            "--json",
        )
    )
    _error(
        run("funding", "partner", "add", "G1", "--kind", "guarantor", "--by", "mona", "--json"),
        65,
        "funding.invalid_state",
    )
    _error(
        run("funding", "partner", "add", "G2", "--kind", "guarantor", "--by", "lena", "--json"),
        77,
        "legal.cli_forbidden",
    )  # legal lacks config.edit
    assert [p["code"] for p in _ok(run("funding", "partner", "list", "--json"))["partners"]] == [
        "BANKX",
        "G1",
    ]
    assert _ok(run("funding", "creditor", loan, "--json"))["creditor"] == "BANKX"
    # The error path: an unknown guarantor is "not found", exit 66.
    _error(
        run(
            "funding",
            "payout",
            loan,
            "--guarantor",
            "NOPE",
            "--amount",
            "100.00",
            "--date",
            db["today"],
            "--by",
            "lena",
            "--json",
        ),
        66,
        "not_found",
    )
    _error(
        run(
            "funding",
            "payout",
            loan,
            "--guarantor",
            "G1",
            "--amount",
            "abc",
            "--date",
            db["today"],
            "--by",
            "lena",
            "--json",
        ),
        65,
        "legal.refused",
    )
    paid = _ok(
        run(
            "funding",
            "payout",
            loan,
            "--guarantor",
            "G1",
            "--amount",
            "5000.00",
            "--date",
            db["today"],
            "--by",
            "lena",
            "--json",
        )
    )
    assert (paid["payout"]["previous_creditor"], paid["payout"]["amount"]) == ("BANKX", "5000.00")
    hist = _ok(run("funding", "creditor", loan, "--json"))
    assert hist["creditor"] == "G1" and [h["source"] for h in hist["history"]] == ["extract", "payout"]
    _error(run("funding", "creditor", "L-NONE", "--json"), 66, "not_found")
    report = _ok(
        run("report", "creditors", "--month", db["month"], "--json", "--xlsx", str(tmp_path / "c.xlsx"))
    )
    assert report["creditors"][0]["creditor"] in ("BANKX", "G1") and report["total"] == "200.00"
    assert (tmp_path / "c.xlsx").stat().st_size > 0
    _error(run("report", "creditors", "--month", "2026-13", "--json"), 64, "reporting.bad_month")


def test_collateral_commands(db: dict[str, str], run) -> None:  # type: ignore[no-untyped-def]
    loan = db["loan"]
    item = _ok(
        run(
            "collateral",
            "add",
            loan,
            "--kind",
            "vehicle",
            "--description",
            "朗逸 沪C12345",
            "--value",
            "8000.00",
            "--on",
            db["today"],
            "--by",
            "lena",
            "--json",
        )
    )["item"]
    assert item["description"] == "朗逸 沪C****"
    iid = str(item["id"])
    listed = _ok(run("collateral", "list", "--json"))
    assert (
        listed["loans"][0]["ltv_pct"] == 125.0 and listed["loans"][0]["shortfall"] == "2000.00"
    )  # 10,000 / 8,000
    _error(
        run("collateral", "value", iid, "--value", "1.00", "--on", "2999-01-01", "--by", "lena", "--json"),
        65,
        "collateral.refused",
    )
    _ok(
        run(
            "collateral", "repossess", iid, "--on", db["today"], "--costs", "300.00", "--by", "lena", "--json"
        )
    )
    d = _ok(
        run(
            "collateral",
            "dispose",
            "request",
            iid,
            "--method",
            "sale",
            "--reason",
            "失联",
            "--by",
            "lena",
            "--json",
        )
    )["disposal"]
    _error(
        run("collateral", "dispose", "approve", str(d["id"]), "--by", "lena", "--json"),
        77,
        "legal.cli_forbidden",
    )
    assert (
        _ok(run("collateral", "dispose", "approve", str(d["id"]), "--by", "mona", "--json"))["disposal"][
            "status"
        ]
        == "approved"
    )
    done = _ok(
        run(
            "collateral",
            "dispose",
            "complete",
            str(d["id"]),
            "--on",
            db["today"],
            "--proceeds",
            "9000.00",
            "--costs",
            "200.00",
            "--by",
            "lena",
            "--json",
        )
    )["disposal"]
    assert (done["status"], done["net_recovered"], done["payment_id"]) == (
        "completed",
        "8500.00",
        f"COLL-{d['id']:08d}",
    )
    shown = _ok(run("collateral", "show", iid, "--json"))["item"]
    assert shown["status"] == "disposed" and shown["loan"]["balance"] == "1500.00"
    _error(run("collateral", "show", "99999", "--json"), 66, "not_found")
