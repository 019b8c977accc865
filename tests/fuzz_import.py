"""The import fuzzer (issue 17): generated CSV, XLSX and Parquet files go through the real import;
each must either import or be refused with a :class:`RecoupError` — never another exception — and
a refused file must leave the lake, the manifest and the ledger as they were.

A plain module shared by tests/test_import_fuzz.py (a few hundred files) and
bench/bench_fuzz_import.py (10,000 and more).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.errors import RecoupError
from recoup.lake import Lake
from recoup.lake.models import LakeImport
from recoup.ledger.models import LedgerEntry
from recoup.portfolio.flows import import_dir, import_file
from recoup.portfolio.spec import DATASETS

AS_OF = dt.date(2026, 11, 20)
BASE_BORROWERS = (
    "borrower_id,name,national_id,customer_type\nC1,张伟,110101199003071233,个人\nC2,李娜,,individual\n"
)
BASE_LOANS = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status\n"
    'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常\n'
)
TARGETS = ("borrowers", "loans", "installments", "payments")

# Cells: what lenders send, what breaks parsers, and noise.
_GOOD_CELLS = [
    "C1",
    "C2",
    "L1",
    "L9",
    "1",
    "0",
    "-1",
    "3",
    "12",
    "1,234.56",
    "12,34",
    "1,2,3.4,5",
    "9E+15",
    "1e400",
    "¥1,000",
    "(12.00)",
    "18%",
    "0.18",
    "18",
    "2026-11-20",
    "2026/11/20",
    "20261120",
    "2026年11月20日",
    "2026-13-45",
    "45000",
    "是",
    "否",
    "true",
    "个人",
    "individual",
    "现金贷",
    "等额本息",
    "bullet",
    "正常",
    "active",
    "Asia/Shanghai",
    "13812345678",
    "110101199003071233",
    "=cmd|' /C calc'!A0",
    "",
    " ",
    "NULL",
]
_HEADERS = [
    *sorted({f.name for ds in DATASETS.values() for f in ds.fields}),
    "PRINCIPAL",
    "principal ",
    "借据号",
    "本金",
    "maturty_date",
    "loanz",
    "",
    "\ufeffloan_id",
    "a\x00b",
]
_cell = st.one_of(
    st.sampled_from(_GOOD_CELLS),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.from_regex(r"[+-]?[0-9,. '_]{1,12}(E[+-]?[0-9]{1,3})?", fullmatch=True),
)


@dataclass
class Case:
    """One generated file: its dataset, name and bytes."""

    dataset: str
    name: str
    data: bytes
    kind: str = "csv"
    notes: list[str] = field(default_factory=list)


def _csv_text(headers: list[str], rows: list[list[str]], sep: str, quote_all: bool) -> str:
    def q(v: str) -> str:
        if quote_all or any(c in v for c in (sep, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v

    return "\n".join(sep.join(q(v) for v in r) for r in [headers, *rows]) + "\n"


@st.composite
def csv_cases(draw: st.DrawFn) -> Case:
    dataset = draw(st.sampled_from(TARGETS))
    ds = DATASETS[dataset]
    known = [f.name for f in ds.fields]
    headers = draw(
        st.one_of(
            st.just([f.name for f in ds.fields if f.required]),
            st.lists(st.sampled_from(known + _HEADERS), min_size=1, max_size=len(known) + 2),
        )
    )
    width = len(headers)
    rows = draw(
        st.lists(
            st.lists(_cell, min_size=max(0, width - 1), max_size=width + 1),
            max_size=6,
        )
    )
    sep = draw(st.sampled_from([",", ",", "\t", ";"]))
    text = _csv_text(headers, rows, sep, draw(st.booleans()))
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "mixed", "latin-1", "utf-16"]))
    if enc == "mixed":
        lines = text.splitlines(keepends=True)
        data = b"".join(
            line.encode("gb18030" if i % 2 else "utf-8", errors="replace") for i, line in enumerate(lines)
        )
    else:
        data = text.encode(enc, errors="replace")
    if draw(st.integers(0, 9)) == 0:  # flip some bytes
        flips = draw(st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4))
        b = bytearray(data)
        for p, v in flips:
            if b:
                b[p % len(b)] = v
        data = bytes(b)
    return Case(dataset, f"{dataset}.csv", data, "csv", [enc])


@st.composite
def binary_cases(draw: st.DrawFn) -> Case:
    dataset = draw(st.sampled_from(TARGETS))
    suffix = draw(st.sampled_from([".csv", ".xlsx", ".parquet"]))
    return Case(dataset, f"{dataset}{suffix}", draw(st.binary(max_size=300)), "binary")


@st.composite
def xlsx_cases(draw: st.DrawFn) -> Case:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    dataset = draw(st.sampled_from(TARGETS))
    ds = DATASETS[dataset]
    headers = draw(
        st.lists(st.sampled_from([f.name for f in ds.fields] + _HEADERS[-6:]), min_size=1, max_size=8)
    )
    rows = draw(
        st.lists(
            st.lists(
                st.one_of(_cell, st.integers(-(10**20), 10**20), st.floats(allow_nan=True), st.none()),
                max_size=len(headers) + 1,
            ),
            max_size=4,
        )
    )
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    for r in [headers, *rows]:  # openpyxl refuses control characters itself: write what it takes
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if draw(st.integers(0, 4)) == 0:  # damage the archive
        b = bytearray(data)  # (the archive's size varies with its timestamps: positions are taken modulo)
        for p, v in draw(
            st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8)
        ):
            b[p % len(b)] = v
        data = bytes(b)
    if draw(st.integers(0, 9)) == 0:  # a member that expands far beyond its size
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("xl/sharedStrings.xml", b"<a>" + b"x" * 3_000_000 + b"</a>")
        data = out.getvalue()
    return Case(dataset, f"{dataset}.xlsx", data, "xlsx")


@st.composite
def parquet_cases(draw: st.DrawFn) -> Case:
    dataset = draw(st.sampled_from(TARGETS))
    ds = DATASETS[dataset]
    names = draw(st.lists(st.sampled_from([f.name for f in ds.fields]), min_size=1, max_size=6, unique=True))
    n = draw(st.integers(0, 4))
    cols: dict[str, Any] = {}
    for name in names:
        kind = draw(st.sampled_from(["str", "int", "float", "list", "struct", "binary", "date", "null"]))
        if kind == "str":
            cols[name] = pl.Series(name, draw(st.lists(_cell, min_size=n, max_size=n)), dtype=pl.String)
        elif kind == "int":
            cols[name] = pl.Series(
                name, draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n))
            )
        elif kind == "float":
            cols[name] = pl.Series(
                name, draw(st.lists(st.floats(), min_size=n, max_size=n)), dtype=pl.Float64
            )
        elif kind == "list":
            cols[name] = pl.Series(name, [[1, 2]] * n)
        elif kind == "struct":
            cols[name] = pl.Series(name, [{"a": 1}] * n)
        elif kind == "binary":
            cols[name] = pl.Series(name, [b"\x00\xff"] * n, dtype=pl.Binary)
        elif kind == "date":
            cols[name] = pl.Series(name, [AS_OF] * n)
        else:
            cols[name] = pl.Series(name, [None] * n, dtype=pl.Null)
    buf = io.BytesIO()
    pl.DataFrame(cols).write_parquet(buf)
    return Case(dataset, f"{dataset}.parquet", buf.getvalue(), "parquet")


@st.composite
def near_valid_cases(draw: st.DrawFn) -> Case:
    """A valid borrowers or loans file with at most one cell replaced: the write path gets explored."""
    n = draw(st.integers(1, 4))
    if draw(st.booleans()):
        head = "borrower_id,name,national_id,customer_type"
        rows = [[f"C{i + 3}", "王五", "", "个人"] for i in range(n)]
        dataset = "borrowers"
    else:
        head = BASE_LOANS.splitlines()[0]
        rows = [
            [f"L{i + 2}", "C1", "CASH3", "现金贷", "等额本息", "1,000.00", "18%", "3", "2026-08-01", "正常"]
            for i in range(n)
        ]
        dataset = "loans"
    if draw(st.booleans()):
        r = draw(st.integers(0, n - 1))
        c = draw(st.integers(0, len(rows[0]) - 1))
        rows[r][c] = draw(_cell)
    text = _csv_text(head.split(","), rows, ",", quote_all=True)
    return Case(
        dataset, f"{dataset}.csv", text.encode(draw(st.sampled_from(["utf-8", "gb18030"]))), "near-valid"
    )


any_case = st.one_of(
    csv_cases(),
    csv_cases(),
    near_valid_cases(),
    near_valid_cases(),
    binary_cases(),
    xlsx_cases(),
    parquet_cases(),
)


def state(session: Session, lake: Lake) -> tuple[dict[str, int | None], int, int]:
    """Lake versions, manifest rows and ledger entries: 'unchanged' means all three equal."""
    versions = {n: lake.version(n) for n in DATASETS}
    manifests = session.scalar(select(func.count()).select_from(LakeImport)) or 0
    entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    return versions, manifests, entries


def seed_book(root: Path, *, settings: Settings, lake: Lake, session: Session) -> None:
    """One good day so that references (loans → borrowers) can resolve."""
    day = root / "seed"
    day.mkdir(parents=True, exist_ok=True)
    (day / "borrowers.csv").write_text(BASE_BORROWERS, encoding="utf-8")
    (day / "loans.csv").write_text(BASE_LOANS, encoding="utf-8")
    import_dir(day, as_of=AS_OF, settings=settings, lake=lake, session=session)


@dataclass
class Tally:
    imported: int = 0
    refused: int = 0
    codes: dict[str, int] = field(default_factory=dict)


def run_case(
    case: Case, root: Path, *, settings: Settings, lake: Lake, session: Session, tally: Tally
) -> None:
    """Import ``case``; raise AssertionError on anything but success or a RecoupError that changed nothing."""
    path = root / "in" / case.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(case.data)
    before = state(session, lake)
    try:
        import_file(case.dataset, path, as_of=AS_OF, settings=settings, lake=lake, session=session)
    except RecoupError as exc:
        tally.refused += 1
        tally.codes[exc.code] = tally.codes.get(exc.code, 0) + 1
        after = state(session, lake)
        assert after == before, f"a refused file changed the book: {before} → {after} ({exc.code})"
    else:
        tally.imported += 1
    finally:
        path.unlink(missing_ok=True)
