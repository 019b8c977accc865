"""``recoup import``: every bad-input rule, re-import no-ops, time travel, partial imports and a
kill -9 in the middle of a day — run through the real command against a real SQLite file and lake."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from sqlalchemy.orm import Session

from recoup.config import load_settings
from recoup.lake import Lake, book_as_of
from recoup.portfolio.flows import import_dir

RECOUP = str(Path(sys.executable).parent / "recoup")

BORROWERS = (
    "borrower_id,name,national_id,customer_type\nC1,张伟,110101199003071234,个人\nC2,李娜,,individual\n"
)
LOANS = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
    'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常\n'
    "L2,C2,BNPL3,bnpl,bullet,500,0.24,3,2026/08/15,active\n"
)
INSTALLMENTS = (
    "loan_id,seq,due_date,principal_due,interest_due,principal_paid,interest_paid\n"
    "L1,1,2026-09-01,985.15,45.00,985.15,45.00\n"
    "L1,2,2026-10-01,999.93,30.22,0,0\n"
    "L1,3,2026-11-01,1014.92,15.22,0,0\n"
    "L2,1,2026-11-15,500,30,0,0\n"
)
CONTACTS = (
    "contact_id,borrower_id,kind,value,role\n"
    "P1,C1,phone,13812345678,self\nP2,C1,phone,13912345678,emergency_contact\n"
)


class Env:
    """A data directory with one good day (2026-11-20) already imported."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "recoup-data"
        self.env = {**os.environ, "RECOUP_DATA_DIR": str(self.data), "COLUMNS": "200"}
        self.env.pop("RECOUP_DATABASE_URL", None)

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([RECOUP, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check:
            assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc

    def write(self, name: str, text: str, encoding: str = "utf-8") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        return path

    def state(self) -> tuple[dict[str, int], int, int]:
        """Lake versions, manifest rows and ledger entries — 'unchanged' means all three equal."""
        lake = Lake(str(self.data / "lake"))
        names = ["borrowers", "contact_points", "loans", "installments", "payments", "collateral"]
        versions = {n: v for n in names if (v := lake.version(n)) is not None}
        with sqlite3.connect(self.data / "recoup.db") as db:
            manifests = db.execute("select count(*) from lake_import").fetchone()[0]
            entries = db.execute("select count(*) from ledger_entry").fetchone()[0]
        return versions, manifests, entries


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Env:
    env = Env(tmp_path_factory.mktemp("imp"))
    day = env.root / "day1"
    for name, text in [
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("contact_points.csv", CONTACTS),
    ]:
        env.write(f"day1/{name}", text)
    env.run("import", str(day), "--as-of", "2026-11-20", check=True)
    return env


def _replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


# (case id, dataset, file text, expected fragments of the message: row, column, value, rule)
BAD: list[tuple[str, str, str, list[str]]] = [
    (
        "unparseable-date",
        "installments",
        _replace_line(INSTALLMENTS, "L1,2,2026-10-01", "L1,2,2026-13-45"),
        ["row 3", "'due_date'", "'2026-13-45'", "date.unparseable"],
    ),
    (
        "unparseable-amount",
        "loans",
        _replace_line(LOANS, '"3,000.00"', '"3,0a0.00"'),
        ["row 2", "'principal'", "'3,0a0.00'", "amount.unparseable"],
    ),
    (
        "negative-amount",
        "installments",
        _replace_line(INSTALLMENTS, "L2,1,2026-11-15,500,30,0,0", "L2,1,2026-11-15,500,30,-5,0"),
        ["row 5", "'principal_paid'", "'-5'", "amount.negative"],
    ),
    (
        "due-before-disbursement",
        "installments",
        _replace_line(INSTALLMENTS, "L1,1,2026-09-01", "L1,1,2026-07-01"),
        ["row 2", "'due_date'", "'2026-07-01'", "date.before_disbursement"],
    ),
    (
        "paid-more-than-due",
        "installments",
        _replace_line(
            INSTALLMENTS,
            "L1,1,2026-09-01,985.15,45.00,985.15,45.00",
            "L1,1,2026-09-01,985.15,45.00,1000.00,45.00",
        ),
        # Both amounts in yuan, as the lender wrote them (not yuan against fen).
        ["row 2", "'principal_paid'", "paid ¥1,000.00 > due ¥985.15", "paid.exceeds_due"],
    ),
    (
        "duplicate-id",
        "loans",
        LOANS + "L2,C2,BNPL3,bnpl,bullet,600,0.24,3,2026-08-15,active\n",
        ["row 4", "'loan_id'", "'L2'", "id.duplicate", "first at row 3"],
    ),
    (
        "installment-for-unknown-loan",
        "installments",
        INSTALLMENTS + "L9,1,2026-11-15,100,1,0,0\n",
        ["row 6", "'loan_id'", "'L9'", "ref.unknown"],
    ),
    (
        "payment-for-unknown-loan",
        "payments",
        "payment_id,loan_id,received_date,amount,channel\nP1,L1,2026-11-02,100,alipay\nP2,L9,2026-11-02,5,alipay\n",
        ["row 3", "'loan_id'", "'L9'", "ref.unknown"],
    ),
    (
        "unknown-enum",
        "loans",
        _replace_line(LOANS, "L2,C2,BNPL3,bnpl", "L2,C2,BNPL3,mortgage"),
        [
            "row 3",
            "'product_type'",
            "'mortgage'",
            "enum.unknown",
            "installment, revolving_card, cash_loan, bnpl",
        ],
    ),
    (
        "too-many-emergency-contacts",
        "contact_points",
        "contact_id,borrower_id,kind,value,role\nP3,C1,phone,13700000000,紧急联系人\n"
        "P4,C1,email,a@example.com,emergency_contact\n",
        ["row 2", "row 3", "'role'", "'C1'", "contacts.too_many_emergency"],
    ),
]


@pytest.mark.parametrize(("case", "dataset", "text", "fragments"), BAD, ids=[b[0] for b in BAD])
def test_bad_rows_reject_the_whole_file(
    base: Env, case: str, dataset: str, text: str, fragments: list[str]
) -> None:
    before = base.state()
    path = base.write(f"bad/{case}/{dataset}.csv", text)
    proc = base.run("import", dataset, str(path), "--as-of", "2026-11-21")
    assert proc.returncode != 0
    err = proc.stderr
    assert "Traceback" not in err
    assert f"{dataset}.csv" in err and "nothing was imported" in err
    for frag in fragments:
        assert frag in err, (frag, err)
    assert base.state() == before


def test_missing_required_column_names_the_closest_header(base: Env) -> None:
    before = base.state()
    text = LOANS.replace("principal,", "principle,", 1)
    path = base.write("bad/missing-col/loans.csv", text)
    proc = base.run("import", "loans", str(path), "--as-of", "2026-11-21")
    assert proc.returncode != 0
    assert "missing required column" in proc.stderr and "principal" in proc.stderr
    assert "closest header present: 'principle'" in proc.stderr
    assert "import.bad_column" in proc.stderr
    assert base.state() == before


@pytest.mark.parametrize(
    ("case", "content", "fragment"),
    [
        ("empty", b"", "empty"),
        ("blank", b"\n\n  \n", "empty"),
        ("header-only", b"loan_id,seq,due_date,principal_due,interest_due\n", "no data rows"),
        (
            "ragged",
            b"loan_id,seq,due_date,principal_due,interest_due\nL1,1,2026-09-01,1,2,3,4,5\n",
            "line 2 has 8 fields but the header line has 5",
        ),
        (
            "truncated-quote",
            b'loan_id,seq,due_date,principal_due,interest_due\nL1,1,"2026-09-01,1',
            "line 2 opens a quoted cell that is never closed",
        ),
        ("binary", bytes(range(256)) * 8, "installments.csv"),
    ],
)
def test_unreadable_files_are_rejected(base: Env, case: str, content: bytes, fragment: str) -> None:
    before = base.state()
    path = base.root / "bad" / case / "installments.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    proc = base.run("import", "installments", str(path), "--as-of", "2026-11-21")
    assert proc.returncode != 0
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert "import.bad_file" in proc.stderr or "import.bad_column" in proc.stderr
    assert base.state() == before


def test_errors_are_listed_up_to_a_limit_with_a_count(base: Env) -> None:
    rows = "".join(f"L1,{i},2026-13-01,1,1,0,0\n" for i in range(4, 80))
    path = base.write("bad/many/installments.csv", INSTALLMENTS + rows)
    proc = base.run("import", "installments", str(path), "--as-of", "2026-11-21")
    assert proc.returncode != 0
    assert "76 invalid row(s)" in proc.stderr and "and 26 more error(s)" in proc.stderr


def test_accept_partial_writes_good_rows_and_a_reject_file(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.write("d/borrowers.csv", BORROWERS)
    env.write("d/loans.csv", _replace_line(LOANS, "L2,C2,BNPL3,bnpl", "L2,C2,BNPL3,mortgage"))
    proc = env.run("import", str(tmp_path / "d"), "--as-of", "2026-11-20", "--accept-partial")
    assert proc.returncode == 3, proc.stderr  # imported, with rejects (docs/reliability.md)
    assert "1 row(s) of loans.csv rejected" in proc.stdout
    # The reject file goes under the data directory, not into the input folder.
    assert not (tmp_path / "d" / "loans.rejects.csv").exists()
    rejects = pl.read_csv(env.data / "rejects" / "2026-11-20" / "loans.rejects.csv")
    assert rejects.get_column("loan_id").to_list() == ["L2"]
    assert "enum.unknown" in rejects.get_column("reject_reason")[0]
    assert rejects.get_column("row").to_list() == [3]
    loans = pl.read_delta(str(env.data / "lake" / "loans"))
    assert loans.get_column("loan_id").to_list() == ["L1"]


def test_gbk_chinese_headers_with_mapping_then_noop_then_time_travel(tmp_path: Path) -> None:
    env = Env(tmp_path)
    mapping = env.write(
        "mapping.toml",
        '[borrowers]\n"客户号" = "borrower_id"\n"客户姓名" = "name"\n"身份证号" = "national_id"\n'
        '[loans]\n"借据号" = "loan_id"\n"客户号" = "borrower_id"\n"产品代码" = "product_code"\n'
        '"产品类型" = "product_type"\n"还款方式" = "repayment_method"\n"放款金额" = "principal"\n'
        '"年化利率" = "annual_rate"\n"期数" = "term_months"\n"放款日期" = "disbursement_date"\n'
        '"借据状态" = "status"\n'
        '[installments]\n"借据号" = "loan_id"\n"期次" = "seq"\n"应还日期" = "due_date"\n'
        '"应还本金" = "principal_due"\n"应还利息" = "interest_due"\n"已还本金" = "principal_paid"\n'
        '"已还利息" = "interest_paid"\n',
    )
    env.write("d1/借款人.csv", "客户号,客户姓名,身份证号\nC1,张伟,110101199003071234\n", "gbk")
    env.write(
        "d1/借据.csv",
        "借据号,客户号,产品代码,产品类型,还款方式,放款金额,年化利率,期数,放款日期,借据状态\n"
        'L1,C1,CASH3,现金贷,等额本息,"￥3,000.00",18%,3,2026年8月1日,正常\n',
        "gbk",
    )
    inst = (
        "借据号,期次,应还日期,应还本金,应还利息,已还本金,已还利息\n"
        "L1,1,20260901,985.15,45.00,985.15,45.00\nL1,2,20261001,999.93,30.22,0,0\n"
        "L1,3,20261101,1014.92,15.22,0,0\n"
    )
    env.write("d1/还款计划.csv", inst, "gbk")
    with pytest.raises(UnicodeDecodeError):
        (tmp_path / "d1" / "还款计划.csv").read_bytes().decode("utf-8")
    proc = env.run(
        "import", str(tmp_path / "d1"), "--as-of", "2026-11-20", "--mapping", str(mapping), check=True
    )
    assert "gb18030" in proc.stdout
    again = env.run(
        "import", str(tmp_path / "d1"), "--as-of", "2026-11-20", "--mapping", str(mapping), check=True
    )
    assert "no-op" in again.stdout
    state = env.state()
    # Day 2: installment 2 of L1 is paid.
    env.write(
        "d2/还款计划.csv",
        inst.replace("L1,2,20261001,999.93,30.22,0,0", "L1,2,20261001,999.93,30.22,999.93,30.22"),
        "gbk",
    )
    env.run("import", str(tmp_path / "d2"), "--as-of", "2026-11-21", "--mapping", str(mapping), check=True)
    assert env.state() != state

    settings = load_settings(data_dir=env.data)
    from recoup.db import make_engine, session_scope

    engine = make_engine(settings.database_url)
    lake = Lake(settings.lake_uri)
    with session_scope(engine) as session:

        def paid(d: dt.date) -> int:
            inst = book_as_of(d, session=session, lake=lake).frame("installments")
            return int(inst.get_column("principal_paid").sum())

        assert paid(dt.date(2026, 11, 20)) == 98515
        assert paid(dt.date(2026, 11, 21)) == 98515 + 99993
        assert paid(dt.date(2026, 11, 30)) == 98515 + 99993  # the newest day on or before
        b = book_as_of(dt.date(2026, 11, 20), session=session, lake=lake).frame("borrowers")
        assert b.get_column("name").to_list() == ["张伟"]
        assert "110101199003071234" not in b.get_column("national_id_enc")[0]
        loans = book_as_of(dt.date(2026, 11, 20), session=session, lake=lake).frame("loans")
        assert loans.row(0, named=True)["principal"] == 300000
        assert loans.row(0, named=True)["annual_rate_bp"] == 1800
        assert loans.row(0, named=True)["disbursement_date"] == dt.date(2026, 8, 1)
    engine.dispose()
    # Out of order: an earlier day after a later one is refused.
    env.write("d0/借款人.csv", "客户号,客户姓名,身份证号\nC9,王芳,\n", "gbk")
    proc = env.run("import", str(tmp_path / "d0"), "--as-of", "2026-11-19", "--mapping", str(mapping))
    assert proc.returncode != 0 and "date order" in proc.stderr


def test_deletion_only_by_flag_and_full_snapshot_closes_absent_rows(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.write("d1/borrowers.csv", BORROWERS)
    env.run("import", str(tmp_path / "d1"), "--as-of", "2026-11-20", check=True)
    # A delta without C2 keeps C2; an explicit flag removes C1.
    env.write("d2/borrowers.csv", "borrower_id,name,deleted\nC1,张伟,true\n")
    env.run("import", str(tmp_path / "d2"), "--as-of", "2026-11-21", check=True)
    live = pl.read_delta(str(env.data / "lake" / "borrowers")).filter(~pl.col("_deleted"))
    assert live.get_column("borrower_id").to_list() == ["C2"]
    # A full snapshot with only C3 closes C2.
    env.write("d3/borrowers.csv", "borrower_id,name\nC3,王芳\n")
    env.run("import", str(tmp_path / "d3"), "--as-of", "2026-11-22", "--full", check=True)
    live = pl.read_delta(str(env.data / "lake" / "borrowers")).filter(~pl.col("_deleted"))
    assert live.get_column("borrower_id").to_list() == ["C3"]


def test_payments_are_append_only(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.write("d1/borrowers.csv", BORROWERS)
    env.write("d1/loans.csv", LOANS)
    env.write(
        "d1/payments.csv",
        "payment_id,loan_id,received_date,amount,channel\nP1,L1,2026-09-01,1030.15,支付宝\n",
    )
    env.run("import", str(tmp_path / "d1"), "--as-of", "2026-11-20", check=True)
    changed = env.write(
        "d2/payments.csv", "payment_id,loan_id,received_date,amount,channel\nP1,L1,2026-09-01,1.00,支付宝\n"
    )
    proc = env.run("import", "payments", str(changed), "--as-of", "2026-11-21")
    assert proc.returncode != 0 and "payment.changed" in proc.stderr
    rev = env.write(
        "d3/payments.csv",
        "payment_id,loan_id,received_date,amount,channel,reverses\nP2,L1,2026-11-21,1030.15,支付宝,P1\n",
    )
    env.run("import", "payments", str(rev), "--as-of", "2026-11-21", check=True)
    pays = pl.read_delta(str(env.data / "lake" / "payments")).sort("payment_id")
    assert pays.get_column("amount").to_list() == [103015, 103015]
    assert pays.get_column("reverses").to_list() == [None, "P1"]


def _big_day(directory: Path, n_loans: int) -> None:
    directory.mkdir(parents=True)
    ids = [f"L{i:07d}" for i in range(n_loans)]
    pl.DataFrame(
        {"borrower_id": [f"C{i:07d}" for i in range(n_loans)], "name": ["张三"] * n_loans}
    ).write_csv(directory / "borrowers.csv")
    pl.DataFrame(
        {
            "loan_id": ids,
            "borrower_id": [f"C{i:07d}" for i in range(n_loans)],
            "product_code": "CASH12",
            "product_type": "cash_loan",
            "repayment_method": "equal_principal",
            "principal": "1200.00",
            "annual_rate": "18%",
            "term_months": "12",
            "disbursement_date": "2025-12-01",
            "status": "active",
        }
    ).write_csv(directory / "loans.csv")
    seq = pl.DataFrame({"seq": list(range(1, 13))})
    inst = (
        pl.DataFrame({"loan_id": ids})
        .join(seq, how="cross")
        .with_columns(
            due_date=pl.format("2026-{}-01", pl.col("seq").cast(pl.String).str.zfill(2)),
            principal_due=pl.lit("100.00"),
            interest_due=pl.lit("1.50"),
        )
    )
    inst.write_csv(directory / "installments.csv")


def test_kill_9_in_the_middle_of_a_day_leaves_it_invisible_and_a_rerun_completes_it(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.write("d0/borrowers.csv", BORROWERS)
    env.run("import", str(tmp_path / "d0"), "--as-of", "2026-11-19", check=True)
    _big_day(tmp_path / "d1", 40_000)
    loans_log = env.data / "lake" / "loans" / "_delta_log"
    proc = subprocess.Popen(
        [RECOUP, "import", str(tmp_path / "d1"), "--as-of", "2026-11-20"],
        env=env.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not loans_log.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    assert loans_log.exists()  # the lake holds part of the day…
    with sqlite3.connect(env.data / "recoup.db") as db:
        days = [r[0] for r in db.execute("select as_of from lake_import order by id")]
    assert days == ["2026-11-19"]  # …but no reader can see it
    settings = load_settings(data_dir=env.data)
    from recoup.db import make_engine, session_scope

    engine = make_engine(settings.database_url)
    lake = Lake(settings.lake_uri)
    with session_scope(engine) as session:
        book = book_as_of(dt.date(2026, 11, 20), session=session, lake=lake)
        assert book.manifest_as_of == dt.date(2026, 11, 19)
        assert book.frame("loans").height == 0
    env.run("import", str(tmp_path / "d1"), "--as-of", "2026-11-20", check=True)
    with session_scope(engine) as session:
        book = book_as_of(dt.date(2026, 11, 20), session=session, lake=lake)
        assert book.manifest_as_of == dt.date(2026, 11, 20)
        assert book.frame("loans").height == 40_000
        assert book.frame("installments").height == 480_000  # nothing counted twice
        assert book.frame("borrowers").height == 40_002
    engine.dispose()
    assert len(DeltaTable(str(env.data / "lake" / "loans")).history()) == 1  # loans committed exactly once


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def test_import_flow_on_both_databases(session: Session, lake: Lake, tmp_path: Path) -> None:
    """The manifest and ledger entries land in the session's database (SQLite and PostgreSQL)."""
    from sqlalchemy import func, select

    from recoup.lake.models import LakeImport
    from recoup.ledger.models import LedgerEntry

    d = tmp_path / "day"
    d.mkdir()
    for name, text in [
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
    ]:
        (d / name).write_text(text, encoding="utf-8-sig")
    settings = load_settings(data_dir=tmp_path / "data")
    progress: list[str] = []
    record: Callable[[str], None] = progress.append
    out = import_dir(
        d, as_of=dt.date(2026, 11, 20), settings=settings, lake=lake, session=session, progress=record
    )
    assert [f.dataset for f in out.files] == ["borrowers", "loans", "installments"]
    assert any("validating installments.csv" in p for p in progress)
    assert session.scalar(select(func.count()).select_from(LakeImport)) == 1
    kinds = session.scalars(select(LedgerEntry.kind)).all()
    assert kinds.count("import.file") == 3
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "import.file")).first()
    assert entry is not None and set(entry.payload) >= {"file", "sha256", "rows", "dataset"}
    book = book_as_of(dt.date(2026, 11, 20), session=session, lake=lake)
    assert book.frame("installments").get_column("interest_due").sum() == 4500 + 3022 + 1522 + 3000


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[loan]\n"借据号" = "loan_id"\n', "did you mean [loans]"),
        ('[loans]\n"借据号" = "loan_number"\n', "not a loans field"),
        ('[values.product_type]\n"01" = "mortgage"\n', "allowed: installment"),
        ("[loans\n", "not valid TOML"),
    ],
)
def test_bad_mapping_files_are_explained(tmp_path: Path, text: str, fragment: str) -> None:
    env = Env(tmp_path)
    mapping = env.write("mapping.toml", text)
    loans = env.write("loans.csv", LOANS)
    proc = env.run("import", "loans", str(loans), "--as-of", "2026-11-20", "--mapping", str(mapping))
    assert proc.returncode != 0
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_lender_codes_in_the_mapping_become_enum_values(tmp_path: Path) -> None:
    env = Env(tmp_path)
    mapping = env.write("mapping.toml", '[values.product_type]\n"01" = "cash_loan"\n"02" = "bnpl"\n')
    env.write("d/borrowers.csv", BORROWERS)
    env.write("d/loans.csv", LOANS.replace("现金贷", "01").replace(",bnpl,", ",02,"))
    env.run("import", str(tmp_path / "d"), "--as-of", "2026-11-20", "--mapping", str(mapping), check=True)
    loans = pl.read_delta(str(env.data / "lake" / "loans")).sort("loan_id")
    assert loans.get_column("product_type").to_list() == ["cash_loan", "bnpl"]


def test_xlsx_and_parquet_extracts(tmp_path: Path) -> None:
    """XLSX cells arrive typed (dates, floats, ints) and Parquet columns typed; both import exactly."""
    from openpyxl import Workbook

    env = Env(tmp_path)
    env.write("d/borrowers.csv", BORROWERS)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "借据号",
            "客户号",
            "产品代码",
            "产品类型",
            "还款方式",
            "放款金额",
            "年化利率",
            "期数",
            "放款日期",
            "借据状态",
        ]
    )
    ws.append(["L1", "C1", "CASH3", "现金贷", "等额本息", 3000.1, "18%", 3, dt.datetime(2026, 8, 1), "正常"])
    ws.append([])  # a blank line in the middle is skipped, row numbers stay the sheet's own
    ws.append(["L2", "C2", "BNPL3", "bnpl", "bullet", 500, 0.24, 3.0, 46249, "active"])
    wb.save(tmp_path / "d" / "loans.xlsx")
    headers = {
        "借据号": "loan_id",
        "客户号": "borrower_id",
        "产品代码": "product_code",
        "产品类型": "product_type",
        "还款方式": "repayment_method",
        "放款金额": "principal",
        "年化利率": "annual_rate",
        "期数": "term_months",
        "放款日期": "disbursement_date",
        "借据状态": "status",
    }
    mapping = env.write("mapping.toml", "[loans]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in headers.items()))
    pl.DataFrame(
        {
            "loan_id": ["L1", "L2"],
            "seq": [1, 1],
            "due_date": [dt.date(2026, 9, 1), dt.date(2026, 11, 15)],
            "principal_due": ["1000.10", "500"],
            "interest_due": [45.0, 30.5],
        }
    ).write_parquet(tmp_path / "d" / "installments.parquet")
    env.run("import", str(tmp_path / "d"), "--as-of", "2026-11-20", "--mapping", str(mapping), check=True)
    loans = pl.read_delta(str(env.data / "lake" / "loans")).sort("loan_id")
    assert loans.get_column("principal").to_list() == [300010, 50000]
    assert loans.get_column("annual_rate_bp").to_list() == [1800, 2400]
    # 46249 is Excel's serial number for 2026-08-15.
    assert loans.get_column("disbursement_date").to_list() == [dt.date(2026, 8, 1), dt.date(2026, 8, 15)]
    inst = pl.read_delta(str(env.data / "lake" / "installments")).sort("loan_id")
    assert inst.get_column("principal_due").to_list() == [100010, 50000]
    assert inst.get_column("interest_due").to_list() == [4500, 3050]
    # A bad XLSX cell is reported at its sheet row.
    ws.cell(row=4, column=6, value="five hundred")
    wb.save(tmp_path / "bad.xlsx")
    proc = env.run(
        "import", "loans", str(tmp_path / "bad.xlsx"), "--as-of", "2026-11-21", "--mapping", str(mapping)
    )
    assert proc.returncode != 0 and "row 4, column '放款金额', value 'five hundred'" in proc.stderr
