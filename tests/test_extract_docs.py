"""docs/extract-format.md is rendered from the spec: the committed file cannot drift from it, its
examples import together without a single error, and the value forms it lists parse as it says."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.lake import Lake, book_as_of
from recoup.portfolio import parse
from recoup.portfolio.docs import AMOUNT_FORMS, DATE_FORMS, DOC_PATH, RATE_FORMS, render_extract_format
from recoup.portfolio.flows import import_dir
from recoup.portfolio.spec import DATASETS, ENUMS
from recoup.portfolio.validate import RULES

EXAMPLE = re.compile(r"Example \(`(\w+)\.csv`\):\n\n```csv\n(.*?)```", re.S)


def test_committed_doc_equals_the_rendered_spec() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render_extract_format(), (
        "docs/extract-format.md is stale: run `python -m recoup.portfolio.docs`"
    )


def test_doc_covers_every_dataset_field_rule_and_alias() -> None:
    doc = render_extract_format()
    for name, ds in DATASETS.items():
        assert f"### `{name}` · {ds.title_zh}" in doc
        for f in ds.fields:
            assert f"| `{f.name}` |" in doc
    for rule in RULES:
        assert f"| `{rule}` |" in doc
    for values in ENUMS.values():
        for canonical, aliases in values.items():
            assert f"`{canonical}`" in doc
            assert all(a in doc for a in aliases)
    for word in ("--full", "--accept-partial", "reverses", "mapping.toml", "GBK", "UTF-8 with BOM"):
        assert word in doc


def test_examples_import_together_without_errors(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    blocks = dict(EXAMPLE.findall(DOC_PATH.read_text(encoding="utf-8")))
    assert sorted(blocks) == sorted(DATASETS)
    day = tmp_path / "day"
    day.mkdir()
    for name, text in blocks.items():
        (day / f"{name}.csv").write_text(text, encoding="utf-8")
    lake = Lake(str(tmp_path / "lake"))
    as_of = dt.date(2025, 11, 1)
    out = import_dir(day, as_of=as_of, settings=settings, lake=lake, session=session)
    assert not out.warnings
    assert {f.dataset: (f.rows, f.rejected) for f in out.files} == {n: (1, 0) for n in DATASETS}
    book = book_as_of(as_of, session=session, lake=lake)
    for name in DATASETS:
        assert book.frame(name).height == 1, name
    loan = book.frame("loans").row(0, named=True)
    assert (loan["principal"], loan["annual_rate_bp"]) == (1_200_000, 1800)


def test_documented_value_forms_parse_as_documented() -> None:
    amounts = parse.amount(pl.Series("a", list(AMOUNT_FORMS)), minor_digits=2)
    assert amounts.reason.null_count() == len(AMOUNT_FORMS)
    assert amounts.value.to_list() == list(AMOUNT_FORMS.values())
    negative = parse.amount(pl.Series("a", ["(12.00)", "-12.00", "12.345", "12.500"]), minor_digits=2)
    assert negative.value.to_list()[:2] == [-1200, -1200]
    assert negative.reason.to_list()[2:] == ["amount.precision", None]
    serial = str((dt.date(2026, 11, 24) - dt.date(1899, 12, 30)).days)
    dates = parse.date(pl.Series("d", [*DATE_FORMS, serial, "2026-11-24 08:30:00"]))
    assert set(dates.value.to_list()) == {dt.date(2026, 11, 24)}
    rates = parse.rate_bp(pl.Series("r", [*RATE_FORMS, "18"]))
    assert rates.value.to_list() == [*RATE_FORMS.values(), None]
    assert rates.reason.to_list()[-1] == "rate.ambiguous"
