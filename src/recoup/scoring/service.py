"""Scoring accounts in collections with the champion model, with reasons and segments."""

from __future__ import annotations

import polars as pl
from sqlalchemy.orm import Session

from recoup import rules
from recoup.lake import Book
from recoup.scoring.reasons import reason_frame
from recoup.scoring.segments import SEGMENTS

#: The model that scores accounts in the daily cycle.
SCORING_MODEL = "self_cure"

SCORE_COLUMNS = [
    "as_of",
    "loan_id",
    "borrower_id",
    "model_version",
    "score",
    "reason_1",
    "reason_2",
    "reason_3",
    "reasons_en",
    "reasons_zh",
    "segment",
    "segment_zh",
    "segment_rule",
    "segment_version",
]


def score_accounts(
    daily: pl.DataFrame,
    feats: pl.DataFrame,
    book: Book,
    *,
    session: Session,
    segment_table: rules.DecisionTable | None = None,
) -> tuple[pl.DataFrame, str | None]:
    """Score and segment every account in collections on D; reasons only for those accounts (they are
    the expensive part). Returns the rows and the model version used (None when no champion)."""
    from recoup.scoring import registry

    table = segment_table or rules.load_table(SEGMENTS)
    coll = daily.filter(pl.col("in_collections")).select(
        "as_of", "loan_id", "borrower_id", "dpd", "overdue_amount"
    )
    customers = book.scan("borrowers").select("borrower_id", "customer_type").collect()
    frame = coll.join(customers, on="borrower_id", how="left").with_columns(
        pl.col("customer_type").fill_null("individual")
    )
    frame = frame.join(feats.drop("as_of", "borrower_id", "dpd"), on="loan_id", how="left")
    champ = registry.champion(SCORING_MODEL, session=session)
    version: str | None = None
    if champ is not None and frame.height:
        model = registry.load_model(champ)
        X = frame.select(list(champ.features)).to_pandas()
        score = model.predict_proba(X)[:, 1]
        reasons = reason_frame(model.contributions(X), 3)
        version = f"{champ.name} v{champ.version}"
        frame = pl.concat(
            [frame.with_columns(score=pl.Series(score, dtype=pl.Float64)), reasons], how="horizontal"
        )
    else:
        frame = frame.with_columns(
            score=pl.lit(None, pl.Float64),
            **{f"reason_{i}": pl.lit(None, pl.String) for i in (1, 2, 3)},
            reasons_en=pl.lit(None, pl.String),
            reasons_zh=pl.lit(None, pl.String),
        )
    frame = rules.evaluate(frame, table, rule_column="segment_rule").with_columns(
        model_version=pl.lit(version, pl.String),
        segment_version=pl.lit(f"segment v{table.version} {rules.table_hash(table)[:12]}"),
    )
    return frame.select(SCORE_COLUMNS), version
