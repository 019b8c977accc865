"""Strategy documents: a named, versioned decision table from the decision frame to a treatment.

A strategy is stored as versioned configuration (kind ``strategy``) in this JSON (or TOML) shape::

    {"name": "default", "description": "…",
     "lender_name": "recoup 示例金融", "signature": "【recoup 示例金融】", "hotline": "400-000-0000",
     "payment_link": "https://pay.recoup.local/p/", "opt_out": {"zh_CN": "回T退订", "en": "…"},
     "send_hour": 10,
     "rows": [{"id": "mild-sms", "when": {"segment": "mild", "dpd": {"between": [1, 3]}},
               "then": {"treatment": "sms", "template": "reminder", "tone": "soft", "priority": 10},
               "required_notice": false, "note": "…"}],
     "default": {"treatment": "no_action"}}

``when`` uses the shared condition language of :mod:`recoup.rules` over the columns in :data:`INPUTS`;
``then`` sets ``treatment`` (a :class:`~recoup.contact.vocab.Treatment`) and optionally ``template``,
``tone``, ``queue`` and ``priority``. The first matching row decides (mode ``first``). A row flagged
``required_notice`` is a notice the law requires: it applies to every experiment arm, holdout included.
:func:`load_strategy` validates a document and names the node (row id) and field of every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recoup import rules
from recoup.contact.vocab import TREATMENT_CHANNEL, Treatment
from recoup.errors import RecoupError

__all__ = [
    "INPUTS",
    "MESSAGE_TREATMENTS",
    "OUTPUTS",
    "PERSISTENT_TREATMENTS",
    "SEGMENT_ALIASES",
    "TASK_TREATMENTS",
    "TONES",
    "Strategy",
    "StrategyDoc",
    "StrategyError",
    "condition_text",
    "load_strategy",
]

#: The decision frame's columns a strategy may test, with their types.
INPUTS: dict[str, rules.InputType] = {
    "segment": "str",
    "bucket": "str",
    "sub_bucket": "str",
    "dpd": "int",
    "dpd_parity": "int",  # dpd % 2: alternate two treatments day by day
    "days_in_bucket": "int",
    "score": "float",  # self-cure probability; null when no model is promoted
    "overdue_amount": "int",  # minor units
    "outstanding_principal": "int",  # minor units
    "customer_type": "str",
    "product_type": "str",
    "written_off": "bool",
    "has_promise": "bool",  # a debtor promise pending on D (made_on <= D <= due_date)
    "broken_promises": "int",  # the borrower's promises broken in the last 90 days
    "last_outcome": "str",
    "preferred_channel": "str",
}

#: What every row decides (``required_notice`` comes from the row's flag, not from ``then``).
OUTPUTS: dict[str, rules.OutputType] = {
    "treatment": "str",
    "template": "str",
    "tone": "str",
    "queue": "str",
    "priority": "int",
    "required_notice": "bool",
}
_THEN_FIELDS = ("treatment", "template", "tone", "queue", "priority")

TONES: tuple[str, ...] = ("soft", "neutral", "firm", "formal")

#: Treatments that become an outbox message (rendered from a template).
MESSAGE_TREATMENTS: frozenset[Treatment] = frozenset(
    {Treatment.SMS, Treatment.EMAIL, Treatment.IM, Treatment.PORTAL_LINK, Treatment.ROBOT_CALL}
)
#: Treatments that become a task in a people's queue.
TASK_TREATMENTS: frozenset[Treatment] = frozenset(
    t for t in Treatment if t not in MESSAGE_TREATMENTS and t is not Treatment.NO_ACTION
)
#: Tasks that describe a state (the account is with legal or an agency) rather than a day's work: an
#: open one is carried over instead of being planned again every day.
PERSISTENT_TREATMENTS: frozenset[Treatment] = frozenset({Treatment.LEGAL_REVIEW, Treatment.AGENCY_PLACEMENT})

#: Segment names a strategy may use besides the segment table's own values.
SEGMENT_ALIASES: dict[str, str] = {
    "轻度": "mild",
    "重度": "severe",
    "极重度": "extremely_severe",
    "extreme": "extremely_severe",
    "正常": "current",
}
DEFAULT_SEGMENTS: tuple[str, ...] = ("mild", "severe", "extremely_severe", "current")

_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,60}$")
_QUEUE = re.compile(r"^[a-z0-9_\-]{1,30}$")
_TEMPLATE = re.compile(r"^[A-Za-z0-9_.\-]{1,60}$")
RESERVED_NODE = "default"


class StrategyError(RecoupError):
    """A strategy or experiment document is invalid; ``details["errors"]`` lists node, field, message."""

    code = "strategy.invalid"
    http_status = 422
    exit_code = 65


class StrategyRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    when: dict[str, Any] = Field(default_factory=dict)
    then: dict[str, Any]
    required_notice: bool = False
    note: str = ""


class StrategyDoc(BaseModel):
    """A strategy document (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    lender_name: str = Field(default="recoup 示例金融", min_length=1, max_length=100)
    signature: str = Field(default="【recoup 示例金融】", max_length=40)
    hotline: str = Field(default="400-000-0000", max_length=40)
    payment_link: str = Field(default="https://pay.recoup.local/p/", pattern=r"^https://[^\s/]+/")
    opt_out: dict[str, str] = Field(
        default_factory=lambda: {"zh_CN": "回T退订", "en": "Reply T to opt out of texts · 回T退订"}
    )
    send_hour: int = Field(default=10, ge=8, le=20)
    rows: list[StrategyRow] = Field(min_length=1)
    default: dict[str, Any] = Field(default_factory=lambda: {"treatment": "no_action"})

    @property
    def link_domain(self) -> str:
        return self.payment_link.split("/")[2]

    @property
    def registered_signature(self) -> str | None:
        """The text inside 【…】 (what the SMS linter compares), or None without a signature."""
        m = re.fullmatch(r"【([^【】]{1,30})】", self.signature.strip())
        return m.group(1).strip() if m else None


@dataclass(frozen=True)
class Strategy:
    """A validated strategy: its document, the decision table built from it and its stored version."""

    doc: StrategyDoc
    table: rules.DecisionTable
    version: int | None = None

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def hash(self) -> str:
        return rules.table_hash(self.table)[:12]

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}" if self.version is not None else f"{self.name} (draft)"

    def rows(self) -> dict[str, StrategyRow]:
        return {r.id: r for r in self.doc.rows}


class _Problems:
    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[dict[str, Any]] = []

    def add(self, node: str | None, field: str, problem: str) -> None:
        where = f"strategy {self.label}" + (f', row "{node}"' if node is not None else "")
        self.errors.append({"node": node, "field": field, "message": f"{where}: {field}: {problem}"})

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        lines = [e["message"] for e in self.errors]
        head = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
        raise StrategyError(head, details={"strategy": self.label, "errors": self.errors})


def _label(raw: Mapping[str, Any], version: int | None) -> str:
    name = raw.get("name") if isinstance(raw.get("name"), str) else "?"
    return f"{name} v{version}" if version is not None else f"{name} (draft)"


def _check_then(
    then: Mapping[str, Any], node: str, problems: _Problems, *, required_notice: bool = False
) -> dict[str, Any]:
    """Validate a ``then`` (or ``default``) and fill the optional outputs; problems name node and field."""
    out: dict[str, Any] = {"template": None, "tone": None, "queue": None, "priority": 0}
    for key in then:
        if key not in _THEN_FIELDS:
            problems.add(node, f"then.{key}", f"unknown field; fields: {', '.join(_THEN_FIELDS)}")
    raw_t = then.get("treatment")
    treatment: Treatment | None = None
    if raw_t is None:
        problems.add(node, "then.treatment", "missing; every row decides a treatment")
    else:
        try:
            treatment = Treatment(raw_t)
        except ValueError:
            problems.add(
                node,
                "then.treatment",
                f"{_q(raw_t)} is not a treatment; one of {', '.join(t.value for t in Treatment)}",
            )
    out["treatment"] = treatment.value if treatment is not None else raw_t
    template = then.get("template")
    if template is not None and (not isinstance(template, str) or not _TEMPLATE.match(template)):
        problems.add(node, "then.template", f"{_q(template)} is not a template name (letters, digits, _ . -)")
    elif template is None and treatment in MESSAGE_TREATMENTS:
        problems.add(
            node, "then.template", f"a message treatment ({treatment}) needs a template, e.g. reminder"
        )
    out["template"] = template
    tone = then.get("tone")
    if tone is not None and tone not in TONES:
        problems.add(node, "then.tone", f"{_q(tone)} is not a tone; one of {', '.join(TONES)}")
    out["tone"] = tone
    queue = then.get("queue")
    if queue is not None and (not isinstance(queue, str) or not _QUEUE.match(queue)):
        problems.add(node, "then.queue", f"{_q(queue)} is not a queue name (a-z, 0-9, _ -; up to 30)")
    elif queue is None and treatment in TASK_TREATMENTS:
        problems.add(node, "then.queue", f"a task treatment ({treatment}) needs a queue, e.g. early")
    out["queue"] = queue
    priority = then.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 1000:
        problems.add(node, "then.priority", f"{_q(priority)} is not an integer from 0 to 1000")
    out["priority"] = priority
    if required_notice and treatment is not None and TREATMENT_CHANNEL[treatment] is None:
        problems.add(node, "required_notice", f"a required notice must contact the borrower, not {treatment}")
    out["required_notice"] = required_notice
    return out


def _q(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _normalise_segments(cond: Any, node: str, segments: Iterable[str] | None, problems: _Problems) -> Any:
    """Map 轻度/重度/极重度 (and ``extreme``) to the segment table's values; values the segment table
    cannot produce are errors (unless ``segments`` is None: stored versions are not re-checked)."""
    known = set(segments) if segments is not None else None

    def one(v: Any) -> Any:
        v = SEGMENT_ALIASES.get(v, v) if isinstance(v, str) else v
        if known is not None and isinstance(v, str) and v not in known:
            problems.add(node, "when.segment", f"{_q(v)} is not a segment; one of {', '.join(sorted(known))}")
        return v

    if isinstance(cond, list):
        return [one(v) for v in cond]
    if isinstance(cond, dict):
        out: dict[str, Any] = {}
        for op, operand in cond.items():
            if op in ("eq", "ne"):
                out[op] = one(operand)
            elif op in ("in", "not_in") and isinstance(operand, list):
                out[op] = [one(v) for v in operand]
            else:
                out[op] = operand
        return out
    return one(cond)


def load_strategy(
    data: Mapping[str, Any] | StrategyDoc,
    *,
    version: int | None = None,
    segments: Iterable[str] | None = DEFAULT_SEGMENTS,
) -> Strategy:
    """Validate a strategy document and build its decision table; raise :class:`StrategyError` naming the
    node (row id) and field of every problem, e.g. ``strategy default v3, row "mild-sms": then.treatment:
    "smss" is not a treatment; …``. ``version`` is the stored (or about-to-be-stored) version."""
    raw: Mapping[str, Any] = data.model_dump(mode="json") if isinstance(data, StrategyDoc) else data
    if not isinstance(raw, Mapping):
        raise StrategyError("a strategy document must be a JSON object / TOML table")
    problems = _Problems(_label(raw, version))
    try:
        doc = StrategyDoc.model_validate(raw)
    except ValidationError as exc:
        raw_rows = raw.get("rows")
        for err in exc.errors():
            loc = list(err["loc"])
            node: str | None = None
            if len(loc) >= 2 and loc[0] == "rows" and isinstance(loc[1], int):
                rid = None
                if isinstance(raw_rows, list) and isinstance(raw_rows[loc[1]], Mapping):
                    rid = raw_rows[loc[1]].get("id")
                node = rid if isinstance(rid, str) else f"#{loc[1] + 1}"
                loc = loc[2:]
            field = ".".join(str(p) for p in loc) or "row"
            problems.add(node, field, err["msg"][:1].lower() + err["msg"][1:])
        problems.raise_if_any()
        raise  # pragma: no cover - pydantic never raises an empty ValidationError
    seen: set[str] = set()
    table_rows: list[dict[str, Any]] = []
    for row in doc.rows:
        if not _ID.match(row.id):
            problems.add(
                row.id, "id", "use 1–60 letters, digits, _ . - (the id names the node in every decision)"
            )
        elif row.id == RESERVED_NODE:
            problems.add(row.id, "id", f'"{RESERVED_NODE}" is reserved for the strategy\'s default')
        elif row.id in seen:
            problems.add(row.id, "id", "duplicate id; each row needs its own")
        seen.add(row.id)
        when: dict[str, Any] = {}
        for column, cond in row.when.items():
            if column not in INPUTS:
                problems.add(row.id, f"when.{column}", f"unknown column; columns: {', '.join(INPUTS)}")
                continue
            when[column] = (
                _normalise_segments(cond, row.id, segments, problems) if column == "segment" else cond
            )
        then = _check_then(row.then, row.id, problems, required_notice=row.required_notice)
        table_rows.append({"id": row.id, "when": when, "then": then, "note": row.note})
    default = _check_then(doc.default, RESERVED_NODE, problems)
    found_already = bool(problems.errors)
    table: rules.DecisionTable | None = None
    try:
        table = rules.load_table(
            {
                "name": doc.name,
                "version": version or 0,
                "mode": "first",
                "inputs": INPUTS,
                "outputs": OUTPUTS,
                "rows": table_rows,
                "default": default,
            }
        )
    except rules.RuleTableError as exc:
        # The evaluator's checks (operators, operands): re-worded to name the node and field. Problems with
        # ids and outcomes were reported above in the strategy's own words.
        for err in exc.details.get("errors", []):
            field = str(err.get("field", "?"))
            if found_already and not field.startswith("when"):
                continue
            problem = str(err.get("message", "")).split(f"{field}: ", 1)[-1]
            problems.add(err.get("row_id"), field, problem)
    problems.raise_if_any()
    assert table is not None
    return Strategy(doc=doc, table=table, version=version)


_SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def condition_text(when: Mapping[str, Any]) -> str:
    """``{"segment": {"eq": "mild"}, "dpd": {"between": [1, 3]}}`` → ``segment = mild and dpd 1–3``."""

    def show(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    parts: list[str] = []
    for column, cond in when.items():
        ops = cond if isinstance(cond, dict) else ({"in": cond} if isinstance(cond, list) else {"eq": cond})
        for op, v in ops.items():
            if op == "between":
                parts.append(f"{column} {v[0]}–{v[1]}")
            elif op in ("in", "not_in"):
                parts.append(f"{column} {'in' if op == 'in' else 'not in'} {{{', '.join(map(show, v))}}}")
            elif op == "is_null":
                parts.append(f"{column} is {'' if v else 'not '}null")
            else:
                parts.append(f"{column} {_SYMBOLS.get(op, op)} {show(v)}")
    return " and ".join(parts) or "always"
