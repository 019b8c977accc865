"""The approval matrix (减免审批矩阵) as versioned data: who may approve which plan, waiver or settlement,
the monthly waiver budgets, and the pre-approved offer packs.

The shipped matrix is ``matrix/default.toml``; an operator saves a changed copy as a new version in the
configuration store (kind ``approval_matrix``; reading, validating, resolving and saving are in
:mod:`recoup.resolutions.matrix_load`) and every request and approval
records ``name@version`` of the matrix that decided it. A built-in's version is ``builtin.<first 8 hex of
its content hash>`` (as for contact-policy presets), so an edited file never passes as the old version.

The waiver and plan rows are compiled into :class:`recoup.rules.DecisionTable` s and evaluated by the one
decision-table evaluator (first match wins, rows ordered from the least authority to the most):

- ``waiver``: inputs ``kind, bucket, product, product_type, component, amount, pct_bp`` → ``role``, one
  row per waived component and one for the ``total``;
- ``plan``: inputs ``bucket, product, product_type, base, instalments`` → ``role``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from recoup import rules
from recoup.errors import RecoupError
from recoup.money import DEFAULT_ORDER

__all__ = ["BASES", "COMPONENTS", "DEFAULT_NAME", "KIND", "KINDS", "LINES", "Matrix", "MatrixError", "Pack"]

KIND: Final = "approval_matrix"
DEFAULT_NAME: Final = "default"
#: The order components are waived in (and the money waterfall's order).
COMPONENTS: Final[tuple[str, ...]] = tuple(c.value for c in DEFAULT_ORDER)
#: What the waiver table is asked about: each component and the total.
LINES: Final[tuple[str, ...]] = (*COMPONENTS, "total")
KINDS: Final = ("plan", "waiver", "settlement")
BASES: Final = ("overdue", "whole")


class MatrixError(RecoupError):
    """The approval matrix is invalid; ``details["errors"]`` lists every problem with its place."""

    code = "resolution.bad_matrix"
    http_status = 422
    exit_code = 65  # EX_DATAERR


@dataclass(frozen=True)
class Pack:
    """A pre-approved offer: requests of ``kind`` within these limits need no approver."""

    id: str
    kind: str
    title: tuple[str, str]
    buckets: tuple[str, ...]
    products: tuple[str, ...]
    product_types: tuple[str, ...]
    base: str | None
    components: tuple[str, ...]
    max_pct_bp: int
    max_amount: int
    deadline_days: int | None
    max_instalments: int | None

    def applies(self, *, kind: str, bucket: str, product: str, product_type: str) -> bool:
        """Whether the pack may be offered on a case of this bucket and product."""
        return (
            self.kind == kind
            and (not self.buckets or bucket in self.buckets)
            and (not self.products or product in self.products)
            and (not self.product_types or product_type in self.product_types)
        )

    def as_dict(self) -> dict[str, Any]:
        """The pack as plain data (what the strategy and the API read)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "title": list(self.title),
            "buckets": list(self.buckets),
            "products": list(self.products),
            "product_types": list(self.product_types),
            "base": self.base,
            "components": list(self.components),
            "max_pct_bp": self.max_pct_bp,
            "max_amount": self.max_amount,
            "deadline_days": self.deadline_days,
            "max_instalments": self.max_instalments,
        }


@dataclass(frozen=True)
class Matrix:
    """A resolved approval matrix (amounts in minor units, percentages in basis points)."""

    name: str
    version: str
    title: tuple[str, str]
    ladder: tuple[str, ...]
    request_only: tuple[str, ...]
    self_approve: bool
    evidence_required: tuple[str, ...]
    waiver_deadline_days: int
    waiver_grace_days: int
    min_payment: int
    plan_max_instalments: int
    plan_first_due_days: int
    plan_grace_days: int
    plan_rate_bp: int
    plan_method: str
    min_instalment: int
    extract_lag_days: int
    budget_monthly: int
    budget_teams: dict[str, int]
    waiver_table: rules.DecisionTable
    plan_table: rules.DecisionTable
    packs: tuple[Pack, ...]
    payload: dict[str, Any] = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def rank(self, role: str | None) -> int:
        """1 … len(ladder) for a ladder role (higher = more authority), 0 for any other."""
        return self.ladder.index(role) + 1 if role in self.ladder else 0

    def authority(self, role_names: Sequence[str]) -> tuple[int, str | None]:
        """The highest ladder rank among ``role_names`` and that role; (0, None) for request-only roles
        (an agency user never approves, whatever else they hold) and for roles outside the ladder."""
        if any(r in self.request_only for r in role_names):
            return 0, None
        ranked = [(self.rank(r), r) for r in role_names if self.rank(r)]
        return max(ranked) if ranked else (0, None)

    def budget_for(self, team: str | None) -> int:
        """The monthly waiver budget of ``team`` (the default for a team not listed, and for none)."""
        return self.budget_teams.get(team or "", self.budget_monthly)

    def pack(self, pack_id: str) -> Pack | None:
        return next((p for p in self.packs if p.id == pack_id), None)

    def waiver_roles(self, lines: pl.DataFrame) -> pl.DataFrame:
        """``lines`` (kind, bucket, product, product_type, component, amount, pct_bp) with ``role`` and
        ``waiver_rule``: the first row of the waiver table that matches each line."""
        return rules.evaluate(lines, self.waiver_table, rule_column="waiver_rule")

    def plan_role(
        self, *, bucket: str, product: str, product_type: str, base: str, instalments: int
    ) -> tuple[str, str]:
        """(role, rule id) of the plan table's first matching row."""
        frame = pl.DataFrame(
            {
                "bucket": [bucket],
                "product": [product],
                "product_type": [product_type],
                "base": [base],
                "instalments": [instalments],
            }
        )
        row = rules.evaluate(frame, self.plan_table, rule_column="plan_rule").row(0, named=True)
        return str(row["role"] or self.ladder[-1]), str(row["plan_rule"] or "default")

    def role_limit(self, role: str, context: Mapping[str, Any]) -> tuple[str, int | None, int | None] | None:
        """The first waiver row of ``role`` whose conditions other than the amount and share match
        ``context``: (row id, max amount, max share in bp) — what that role may approve of this line."""
        for row in self.waiver_table.rows:
            if row.then.get("role") != role:
                continue
            fits = True
            for column, cond in row.when.items():
                if column in ("amount", "pct_bp"):
                    continue
                if "in" in cond and context.get(column) not in cond["in"]:
                    fits = False
            if fits:
                amount = row.when.get("amount", {}).get("le")
                pct = row.when.get("pct_bp", {}).get("le")
                return row.id, amount, pct
        return None
