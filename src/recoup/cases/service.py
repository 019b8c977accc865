"""Case intake: one borrower, one case. Services take ``session`` and never commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup import rules
from recoup.cases.models import Case
from recoup.cases.tables import CASE_GRADE
from recoup.lake import Book
from recoup.portfolio.models import Borrower, CollectionAccount
from recoup.portfolio.service import do_sync_accounts


@dataclass(frozen=True)
class IntakeResult:
    accounts_open: int
    cases_open: int
    opened: int
    closed: int


def grade_cases(daily: pl.DataFrame, book: Book, table: rules.DecisionTable | None = None) -> pl.DataFrame:
    """Per borrower in collections: max DPD, overdue amount, customer type, collateral → grade."""
    t = table or rules.load_table(CASE_GRADE)
    open_rows = daily.filter(pl.col("in_collections"))
    collateral = book.scan("collateral").select("loan_id").unique().collect()
    borrowers = book.scan("borrowers").select("borrower_id", "customer_type").collect()
    per = (
        open_rows.join(collateral.with_columns(has_collateral=pl.lit(True)), on="loan_id", how="left")
        .group_by("borrower_id")
        .agg(
            max_dpd=pl.col("dpd").max(),
            overdue_amount=pl.col("overdue_amount").sum(),
            has_collateral=pl.col("has_collateral").fill_null(False).any(),
        )
        .join(borrowers, on="borrower_id", how="left")
        .with_columns(pl.col("customer_type").fill_null("individual"))
    )
    return rules.evaluate(per, t, rule_column="grade_rule").sort("borrower_id")


def do_intake(
    daily: pl.DataFrame,
    book: Book,
    *,
    session: Session,
    as_of: dt.date,
    grade_table: rules.DecisionTable | None = None,
) -> IntakeResult:
    """Mirror accounts in collections, open a case per borrower with any, close cases with none left."""
    do_sync_accounts(daily, book, session=session)
    table = grade_table or rules.load_table(CASE_GRADE)
    grades = grade_cases(daily, book, table)
    version = f"case_grade v{table.version} {rules.table_hash(table)[:12]}"
    ext_ids = grades.get_column("borrower_id").to_list()
    borrower_pk = {
        b.external_id: b.id
        for chunk in range(0, len(ext_ids), 900)
        for b in session.scalars(
            select(Borrower).where(Borrower.external_id.in_(ext_ids[chunk : chunk + 900]))
        )
    }
    open_cases = {c.borrower_id: c for c in session.scalars(select(Case).where(Case.status == "open"))}
    opened = 0
    for row in grades.iter_rows(named=True):
        pk = borrower_pk[row["borrower_id"]]
        case = open_cases.get(pk)
        if case is None:
            case = Case(borrower_id=pk, opened_on=as_of, status="open", grade=row["grade"], grade_rule="")
            session.add(case)
            open_cases[pk] = case
            opened += 1
        case.grade, case.grade_rule, case.config_version = row["grade"], row["grade_rule"], version
    session.flush()
    accounts = session.scalars(select(CollectionAccount).where(CollectionAccount.status == "open")).all()
    for acc in accounts:
        acc.case_id = open_cases[acc.borrower_id].id
    status = dict(
        zip(daily.get_column("loan_id").to_list(), daily.get_column("status").to_list(), strict=True)
    )
    closed = 0
    still_open = {a.borrower_id for a in accounts}
    for pk, case in open_cases.items():
        if pk in still_open:
            continue
        loans = session.scalars(
            select(CollectionAccount.external_id).where(CollectionAccount.case_id == case.id)
        )
        paid = all(status.get(ext) == "paid_off" for ext in loans)
        case.status, case.closed_on, case.close_reason = "closed", as_of, "paid_off" if paid else "cured"
        closed += 1
    session.flush()
    return IntakeResult(len(accounts), len(still_open), opened, closed)
