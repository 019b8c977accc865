"""Cells written for people (CSV and XLSX files a spreadsheet opens) never start a formula.

A value beginning with ``=``, ``+``, ``-``, ``@``, a tab or a CR is taken by Excel, WPS and
LibreOffice as a formula (``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0``); such a cell gets a leading
apostrophe, which spreadsheets show as text. Plain numbers (``-12.50``) are left as they are.
"""

from __future__ import annotations

import re

import polars as pl

_FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?\d[\d,]*(?:\.\d+)?$"
_FORMULA_RE = re.compile(_FORMULA)
_NUMBER_RE = re.compile(_NUMBER)


def cell(value: str) -> str:
    """One text cell, neutralised if a spreadsheet would read it as a formula."""
    if _FORMULA_RE.match(value) and not _NUMBER_RE.match(value):
        return "'" + value
    return value


def expr(e: pl.Expr) -> pl.Expr:
    """:func:`cell` for a text column."""
    return (
        pl.when(e.str.contains(_FORMULA) & e.str.contains(_NUMBER).not_()).then(pl.lit("'") + e).otherwise(e)
    )


def frame(df: pl.DataFrame) -> pl.DataFrame:
    """Every text column of ``df`` neutralised."""
    text = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns(expr(pl.col(c)).alias(c) for c in text) if text else df
