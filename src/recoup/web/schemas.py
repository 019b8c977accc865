"""Shapes shared by every API domain: pagination."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

MAX_PER_PAGE = 200


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, the ``total`` matching, and where this page is."""

    items: list[T]
    total: int
    page: int
    per_page: int


PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description=f"items per page (≤ {MAX_PER_PAGE})")]
