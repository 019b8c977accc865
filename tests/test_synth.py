"""The synthetic portfolio: determinism, the format's invariants, schedules equal to money.schedule,
the written extract (Chinese headers, GBK, mapping) and the shipped sample, imported end to end."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.lake import Lake, book_as_of
from recoup.money import RepaymentMethod, schedule
from recoup.portfolio.flows import import_dir
from recoup.portfolio.spec import DATASETS, MAX_EMERGENCY_CONTACTS, Kind
from recoup.portfolio.synth import CHINESE_HEADERS, generate, id_check_digit, schedules, write_extract
from recoup.sample import SAMPLE_AS_OF, SAMPLE_DIR, write_sample

AS_OF = dt.date(2026, 11, 20)
PARTS = ("principal", "interest", "fee", "penalty")


def fen(col: str) -> pl.Expr:
    """The generator's amount text (``1234.56``) → integer fen, without float."""
    return pl.col(col).str.replace(".", "", literal=True).cast(pl.Int64)


@pytest.fixture(scope="module")
def book() -> dict[str, pl.DataFrame]:
    return generate(400, as_of=AS_OF, seed=11)


def test_same_seed_gives_identical_frames(book: dict[str, pl.DataFrame]) -> None:
    again = generate(400, as_of=AS_OF, seed=11)
    assert list(again) == list(DATASETS)
    for name in DATASETS:
        assert again[name].equals(book[name]), name
    other = generate(400, as_of=AS_OF, seed=12)
    assert not other["loans"].equals(book["loans"])


def test_frames_are_text_in_the_format_columns(book: dict[str, pl.DataFrame]) -> None:
    for name, ds in DATASETS.items():
        frame = book[name]
        assert frame.height > 0, name
        assert list(frame.columns) == [f for f in ds.names if f in frame.columns]
        assert set(frame.columns) == set(ds.names) - {"deleted"}
        assert all(t == pl.String for t in frame.dtypes), name
        for f in ds.fields:
            if f.required:
                assert frame.get_column(f.name).null_count() == 0, (name, f.name)
            if f.kind is Kind.AMOUNT:
                cells = frame.get_column(f.name).drop_nulls()
                assert cells.str.contains(r"^\d+\.\d\d$").all(), (name, f.name)
            if f.kind is Kind.DATE:
                assert frame.get_column(f.name).drop_nulls().str.contains(r"^\d{4}-\d\d-\d\d$").all()
        key = list(ds.key)
        assert frame.select(key).is_duplicated().sum() == 0, name


def test_loans_look_like_chinese_consumer_lending(book: dict[str, pl.DataFrame]) -> None:
    loans = book["loans"].with_columns(
        bp=pl.col("annual_rate").str.replace(".", "", literal=True).str.strip_suffix("%").cast(pl.Int64),
        term=pl.col("term_months").cast(pl.Int64),
        disbursed=pl.col("disbursement_date").str.to_date(),
    )
    assert set(loans.get_column("product_type")) == {"cash_loan", "installment", "revolving_card", "bnpl"}
    assert set(loans.get_column("repayment_method")) <= set(RepaymentMethod)
    assert loans.get_column("term").is_between(3, 36).all()
    assert loans.get_column("bp").is_between(700, 2400).all()
    d = loans.get_column("disbursed")
    assert d.max() < AS_OF
    assert d.min() >= AS_OF - dt.timedelta(days=731)
    assert set(loans.get_column("status")) >= {"active", "paid_off"}
    assert (loans.get_column("maturity_date") > loans.get_column("disbursement_date")).all()


def test_paid_never_exceeds_due_and_some_loans_are_late(book: dict[str, pl.DataFrame]) -> None:
    inst = book["installments"].with_columns(
        *(fen(f"{p}_{s}") for p in PARTS for s in ("due", "paid")), due=pl.col("due_date").str.to_date()
    )
    for p in PARTS:
        assert (inst.get_column(f"{p}_paid") <= inst.get_column(f"{p}_due")).all(), p
    overdue = inst.filter((pl.col("due") < AS_OF) & (pl.col("principal_paid") < pl.col("principal_due")))
    late_loans = overdue.get_column("loan_id").n_unique()
    assert 0.03 * 400 < late_loans < 0.3 * 400
    dpd = overdue.group_by("loan_id").agg((pl.lit(AS_OF) - pl.col("due").min()).dt.total_days().alias("dpd"))
    assert dpd.get_column("dpd").min() <= 30 < dpd.get_column("dpd").max()
    assert (inst.filter(pl.col("penalty_due") > 0).get_column("due") < AS_OF).all()
    # A loan is paid off exactly when everything due was paid.
    settled = inst.group_by("loan_id").agg(
        (pl.col("principal_paid") == pl.col("principal_due")).all().alias("all_paid")
    )
    status = book["loans"].join(settled, on="loan_id")
    assert (status.filter(pl.col("status") == "paid_off").get_column("all_paid")).all()


def test_schedule_principal_sums_to_the_loan(book: dict[str, pl.DataFrame]) -> None:
    sums = book["installments"].group_by("loan_id").agg(fen("principal_due").sum().alias("sum"))
    loans = book["loans"].select("loan_id", fen("principal")).join(sums, on="loan_id")
    assert loans.height == book["loans"].height
    assert (loans.get_column("principal") == loans.get_column("sum")).all()


def test_payments_match_what_was_paid(book: dict[str, pl.DataFrame]) -> None:
    paid = (
        book["installments"]
        .group_by("loan_id")
        .agg(
            pl.sum_horizontal(*(fen(f"{p}_paid") for p in PARTS)).sum().alias("paid"),
            pl.col("last_paid_date").max().alias("last"),
        )
    )
    pays = (
        book["payments"]
        .group_by("loan_id")
        .agg(fen("amount").sum().alias("received"), pl.col("received_date").max().alias("last_received"))
    )
    j = paid.filter(pl.col("paid") > 0).join(pays, on="loan_id", how="full", coalesce=True)
    assert (j.get_column("paid") == j.get_column("received")).all()
    assert (j.get_column("last") == j.get_column("last_received")).all()
    assert (book["payments"].get_column("received_date") <= AS_OF.isoformat()).all()


def test_children_reference_existing_parents(book: dict[str, pl.DataFrame]) -> None:
    for name, ds in DATASETS.items():
        for column, parent in ds.parents.items():
            refs = book[name].get_column(column).drop_nulls()
            keys = book[parent].get_column(DATASETS[parent].key[0])
            assert refs.is_in(keys.implode()).all(), (name, column)
    # Every borrower has a loan, and every loan a schedule.
    assert (
        book["borrowers"]
        .get_column("borrower_id")
        .is_in(book["loans"].get_column("borrower_id").implode())
        .all()
    )
    assert (
        book["loans"].get_column("loan_id").is_in(book["installments"].get_column("loan_id").implode()).all()
    )


def test_people_are_well_formed(book: dict[str, pl.DataFrame]) -> None:
    b = book["borrowers"]
    for nid, birth, gender in b.select("national_id", "birth_date", "gender").iter_rows():
        assert re.fullmatch(r"\d{17}[\dX]", nid)
        assert id_check_digit(nid[:17]) == nid[17]
        assert nid[6:14] == birth.replace("-", "")
        assert (int(nid[16]) % 2 == 1) == (gender == "男")
    assert b.get_column("name").str.contains(r"^\p{Han}{2,4}$").all()
    tiers = b.get_column("city_tier").cast(pl.Int64)
    assert tiers.is_between(1, 6).all() and tiers.n_unique() >= 4
    cp = book["contact_points"]
    phones = cp.filter(pl.col("kind") == "phone").get_column("value")
    assert phones.str.contains(r"^1[3-9]\d{9}$").all()
    own = cp.filter((pl.col("kind") == "phone") & (pl.col("role") == "self")).group_by("borrower_id").len()
    assert own.height == b.height and (own.get_column("len") == 1).all()
    em = cp.filter(pl.col("role") == "emergency_contact").group_by("borrower_id").len()
    assert em.get_column("len").max() == MAX_EMERGENCY_CONTACTS
    assert em.height < b.height  # some borrowers gave none
    assert cp.filter(pl.col("kind") == "email").get_column("value").str.contains(r"^[\w.]+@[\w.]+$").all()
    assert book["collateral"].get_column("type").unique().to_list() == ["vehicle"]


def test_id_check_digit_follows_gb11643() -> None:
    assert id_check_digit("11010519491231002") == "X"  # the standard's own example
    assert id_check_digit("44052418800101001") == "4"


def test_schedules_of_generated_loans_equal_money_schedule(book: dict[str, pl.DataFrame]) -> None:
    loans = book["loans"].with_columns(
        fen("principal"),
        bp=pl.col("annual_rate").str.replace(".", "", literal=True).str.strip_suffix("%").cast(pl.Int64),
    )
    inst = book["installments"].with_columns(fen("principal_due"), fen("interest_due"))
    for row in loans.sample(60, seed=1).iter_rows(named=True):
        expected = schedule(
            row["principal"],
            row["bp"],
            int(row["term_months"]),
            row["repayment_method"],
            disbursed=dt.date.fromisoformat(row["disbursement_date"]),
        )
        got = inst.filter(pl.col("loan_id") == row["loan_id"]).sort(pl.col("seq").cast(pl.Int64))
        assert [
            (int(r[0]), r[1], r[2], r[3])
            for r in got.select("seq", "due_date", "principal_due", "interest_due").iter_rows()
        ] == [(s.seq, s.due_date.isoformat(), s.principal, s.interest) for s in expected]


loan_st = st.tuples(
    st.integers(1, 10**10),
    st.integers(0, 100_000),
    st.integers(1, 480),
    st.sampled_from(list(RepaymentMethod)),
    st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(loan_st, min_size=1, max_size=8))
def test_vectorised_schedules_equal_money_schedule(loans: list[tuple[int, int, int, str, dt.date]]) -> None:
    got = schedules(
        [x[0] for x in loans],
        [x[1] for x in loans],
        [x[2] for x in loans],
        [x[3] for x in loans],
        [x[4] for x in loans],
    )
    for i, (p, bp, term, method, disbursed) in enumerate(loans):
        rows = got.filter(pl.col("loan") == i).select("seq", "due_date", "principal", "interest").rows()
        assert rows == [
            (s.seq, s.due_date, s.principal, s.interest)
            for s in schedule(p, bp, term, method, disbursed=disbursed)
        ]


def test_month_end_due_dates_are_clamped() -> None:
    got = schedules(
        [100_000], [1200], [3], ["equal_installment"], np.array(["2024-01-31"], dtype="datetime64[D]")
    )
    assert got.get_column("due_date").to_list() == [
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
    ]
    assert got.get_column("principal").to_list() == [33002, 33332, 33666]  # money.schedule's docstring
    assert got.get_column("interest").to_list() == [1000, 670, 337]


def _header(path: Path, encoding: str) -> list[str]:
    return path.read_bytes().decode(encoding).split("\n", 1)[0].split(",")


def test_write_extract_with_chinese_headers_in_gbk(book: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    out = write_extract(book, tmp_path / "day", chinese_headers=True, encoding="gbk")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{ds.title_zh}.csv" for ds in DATASETS.values()] + ["mapping.toml"])
    mapping = tomllib.loads((out / "mapping.toml").read_text(encoding="utf-8"))
    for name, ds in DATASETS.items():
        path = out / f"{ds.title_zh}.csv"
        raw = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        raw.decode("gbk")  # nothing outside GBK
        header = _header(path, "gb18030")
        assert all(h in mapping[name] for h in header), name  # the mapping covers every header
        assert [mapping[name][h] for h in header] == list(book[name].columns)
        assert set(mapping[name].values()) <= set(ds.names)
    loans = pl.read_csv(out / "借据.csv", encoding="gb18030", infer_schema=False)
    assert set(loans.get_column("产品类型")) == {"现金贷", "分期", "信用卡", "先买后付"}
    assert set(CHINESE_HEADERS) == set(DATASETS)
    for name, ds in DATASETS.items():
        assert list(CHINESE_HEADERS[name]) == list(ds.names)
        assert len(set(CHINESE_HEADERS[name].values())) == len(ds.names)


def test_write_extract_canonical_utf8(tmp_path: Path) -> None:
    frames = generate(20, as_of=AS_OF, seed=3)
    assert frames["collateral"].height == 0  # too few loans for an auto loan
    out = write_extract(frames, tmp_path / "day")
    written = [n for n in DATASETS if frames[n].height]  # an empty dataset is not written
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.csv" for n in written)
    for name in written:
        assert _header(out / f"{name}.csv", "utf-8") == list(frames[name].columns)
        back = pl.read_csv(out / f"{name}.csv", infer_schema=False)
        assert back.equals(frames[name])
    with pytest.raises(ValueError, match="unsupported encoding"):
        write_extract(frames, tmp_path / "x", encoding="latin-1")


def test_shipped_sample_is_the_generator_output(tmp_path: Path) -> None:
    fresh = write_sample(tmp_path / "sample")
    shipped = sorted(p.name for p in SAMPLE_DIR.iterdir())
    assert shipped == sorted(p.name for p in fresh.iterdir())
    for name in shipped:
        assert (SAMPLE_DIR / name).read_bytes() == (fresh / name).read_bytes(), (
            f"{name} differs from the generator's output: run `python -m recoup.sample`"
        )
    for path in SAMPLE_DIR.glob("*.csv"):
        raw = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        raw.decode("gb18030")


def test_shipped_sample_imports_cleanly_and_twice_is_a_noop(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    out = import_dir(SAMPLE_DIR, as_of=SAMPLE_AS_OF, settings=settings, lake=lake, session=session)
    assert {f.dataset for f in out.files} == set(DATASETS)
    assert all(f.rejected == 0 and f.encoding == "gb18030" for f in out.files)
    assert not out.warnings and not out.noop
    again = import_dir(SAMPLE_DIR, as_of=SAMPLE_AS_OF, settings=settings, lake=lake, session=session)
    assert again.noop


def test_generated_portfolio_imports_end_to_end(session: Session, settings: Settings, tmp_path: Path) -> None:
    frames = generate(200, as_of=AS_OF, seed=5)
    day = write_extract(frames, tmp_path / "day", chinese_headers=True, encoding="gbk")
    (day / "mapping.toml").unlink()  # use the shipped sample's mapping instead
    lake = Lake(str(tmp_path / "lake"))
    out = import_dir(
        day, as_of=AS_OF, settings=settings, lake=lake, session=session, mapping=SAMPLE_DIR / "mapping.toml"
    )
    assert all(f.rejected == 0 for f in out.files)
    book = book_as_of(AS_OF, session=session, lake=lake)
    assert book.frame("loans").height == 200
    for name in DATASETS:
        assert book.frame(name).height == frames[name].height, name
    inst = book.frame("installments")
    outstanding = inst.select((pl.col("principal_due") - pl.col("principal_paid")).sum()).item()
    expected = frames["installments"].select((fen("principal_due") - fen("principal_paid")).sum()).item()
    assert outstanding == expected > 0
    loans = book.frame("loans")
    assert set(loans.get_column("product_type")) == {"cash_loan", "installment", "revolving_card", "bnpl"}
    assert loans.get_column("annual_rate_bp").is_between(700, 2400).all()


def test_canonical_extract_imports_without_a_mapping(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    frames = generate(20, as_of=AS_OF, seed=3)
    day = write_extract(frames, tmp_path / "day", encoding="utf-8-sig")
    lake = Lake(str(tmp_path / "lake"))
    out = import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)
    assert {f.encoding for f in out.files} == {"utf-8-sig"}
    assert all(f.rejected == 0 for f in out.files)
    book = book_as_of(AS_OF, session=session, lake=lake)
    for name in DATASETS:
        assert book.frame(name).height == frames[name].height, name
