"""The one decision-table evaluator: rows of conditions over frame columns → an outcome.

Buckets, case grades, segments, strategy nodes, assignment rules, early warnings and alerts are all
:class:`DecisionTable` s, stored as versioned configuration (plain JSON, see :meth:`DecisionTable.model_dump`)
and evaluated vectorised over a Polars frame by :func:`evaluate`, which records which row matched.

JSON format::

    {"name": "buckets", "version": 1, "mode": "first",
     "inputs": {"dpd": "int"}, "outputs": {"bucket": "str"},
     "rows": [{"id": "C", "when": {"dpd": {"le": 0}}, "then": {"bucket": "C"}, "note": "current"},
              {"id": "M1", "when": {"dpd": {"between": [1, 30]}}, "then": {"bucket": "M1"}}],
     "default": null}

A ``when`` maps an input column to a condition: a dict of operator → operand, ANDed (``eq ne lt le gt ge``
take a scalar, ``in``/``not_in`` a non-empty list, ``between`` ``[lo, hi]`` inclusive, ``is_null`` a bool);
a bare scalar means ``eq`` and a bare list means ``in``. Conditions on several columns are ANDed, and an
empty ``when`` always matches. Dates are ISO strings. A null value never matches a comparison; only
``{"is_null": true}`` matches it. :func:`load_table` normalises bare values to operator dicts.

Mode ``"first"``: the first matching row (in table order) sets the outputs and the rule-id column
``<name>_rule``; when none matches, ``default`` applies (rule id null). Mode ``"all"``: ``<name>_rules`` is
the list of every matching row id in table order and ``<output>_all`` the list of that output's values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, TypeVar

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recoup.configs.service import canonical_json
from recoup.errors import RecoupError

InputType = Literal["int", "float", "str", "bool", "date"]
OutputType = Literal["int", "str", "bool", "float"]

OPERATORS: tuple[str, ...] = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "between", "is_null")
_ORDERED_OPS = frozenset({"lt", "le", "gt", "ge", "between"})
_SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
_POLARS_TYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "str": pl.String(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
}
_INDEX_DTYPE = pl.UInt32()

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
Report = Callable[[str], None]


class RuleTableError(RecoupError):
    """A decision table is invalid or does not fit a frame; ``details["errors"]`` lists every problem."""

    code = "rules.invalid"


class RuleRow(BaseModel):
    """One row: ``when`` (column → condition, ANDed; empty = always) → ``then`` (every output)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    when: dict[str, Any] = Field(default_factory=dict)
    then: dict[str, Any] = Field(default_factory=dict)
    note: str = ""


class DecisionTable(BaseModel):
    """Rows of conditions over typed ``inputs`` → typed ``outputs``; build it with :func:`load_table`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = 1
    mode: Literal["first", "all"] = "first"
    inputs: dict[str, InputType]
    outputs: dict[str, OutputType]
    rows: list[RuleRow]
    default: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------- validation


class _Problems:
    """Collects problems as (row position, row id, field, message) and raises them all at once."""

    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.errors: list[dict[str, Any]] = []

    def add(self, field: str, problem: str, *, row: int | None = None, row_id: str | None = None) -> None:
        where = f"table {self.table!r}"
        if row is not None:
            where += f" row {row}" + (f" ({row_id!r})" if row_id is not None else "")
        message = f"{where}, {field}: {problem}"
        self.errors.append({"row": row, "row_id": row_id, "field": field, "message": message})

    def raise_if_any(self, what: str) -> None:
        if not self.errors:
            return
        lines = [e["message"] for e in self.errors]
        head = lines[0] if len(lines) == 1 else f"{what} ({len(lines)} problems):\n  " + "\n  ".join(lines)
        raise RuleTableError(head, details={"table": self.table, "errors": self.errors})


def _type_word(kind: str) -> str:
    return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}.get(
        kind, "an ISO date string (YYYY-MM-DD)"
    )


def _fit_value(value: Any, kind: str) -> tuple[bool, Any]:
    """(fits, normalised JSON value) for an operand or outcome of declared type ``kind``."""
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if kind == "str":
        return isinstance(value, str), value
    if kind == "bool":
        return isinstance(value, bool), value
    if isinstance(value, date) and not isinstance(
        value, datetime
    ):  # date inputs: accept date objects, store ISO strings
        return True, value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        try:
            return True, date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    return False, value


def _check_operand(op: str, operand: Any, kind: str, report: Report) -> Any:
    """Validate one operator's operand (``report`` records a problem); return it normalised."""
    if op == "is_null":
        if not isinstance(operand, bool):
            report(f"operator 'is_null' needs true or false, got {operand!r}")
        return operand
    if kind == "bool" and op in _ORDERED_OPS:
        report(f"operator {op!r} does not apply to a bool input")
        return operand
    if op in ("in", "not_in", "between"):
        if not isinstance(operand, list | tuple) or not operand:
            report(f"operator {op!r} needs a non-empty list, got {operand!r}")
            return operand
        if op == "between" and len(operand) != 2:
            report(f"operator 'between' needs [lo, hi], got {list(operand)!r}")
            return operand
        values = []
        for item in operand:
            ok, norm = _fit_value(item, kind)
            if not ok:
                report(
                    f"operand {item!r} of {op!r} does not fit the {kind} input; expected {_type_word(kind)}"
                )
            values.append(norm)
        fits = all(_fit_value(v, kind)[0] for v in operand)
        if op == "between" and len(values) == 2 and fits and values[0] > values[1]:
            report(f"operator 'between' has lo {values[0]!r} > hi {values[1]!r}")
        return values
    if operand is None:
        report(f"operator {op!r} needs a value, got null; use {{'is_null': true}} to test for null")
        return operand
    ok, norm = _fit_value(operand, kind)
    if not ok:
        report(f"operand {operand!r} of {op!r} does not fit the {kind} input; expected {_type_word(kind)}")
    return norm


def _check_condition(cond: Any, kind: str, report: Report) -> dict[str, Any]:
    """Validate and normalise one condition (bare scalar → eq, bare list → in)."""
    if isinstance(cond, list | tuple):
        cond = {"in": list(cond)}
    elif not isinstance(cond, dict):
        cond = {"eq": cond}
    if not cond:
        report("condition is empty; leave the column out of 'when' to match always")
    out: dict[str, Any] = {}
    for op, operand in cond.items():
        if op not in OPERATORS:
            report(f"operator {op!r} unknown; allowed: {', '.join(OPERATORS)}")
            continue
        out[op] = _check_operand(op, operand, kind, report)
    return out


def _check_outcome(
    outcome: dict[str, Any], outputs: Mapping[str, str], field: str, problems: _Problems, **where: Any
) -> dict[str, Any]:
    """Validate an outcome (``then`` or ``default``): exactly the outputs, each value of its type or null."""
    out: dict[str, Any] = {}
    for name in outputs:
        if name not in outcome:
            problems.add(field, f"missing output {name!r}", **where)
    for name, value in outcome.items():
        if name not in outputs:
            problems.add(
                f"{field}.{name}", f"unknown output; outputs: {', '.join(outputs) or '(none)'}", **where
            )
            continue
        kind = outputs[name]
        ok, norm = _fit_value(value, kind)
        if value is not None and not ok:
            problems.add(f"{field}.{name}", f"value {value!r} is not {_type_word(kind)} ({kind})", **where)
        out[name] = norm
    return out


def _structure_problems(name: str, exc: ValidationError, raw: Mapping[str, Any]) -> _Problems:
    """Turn pydantic's structural errors into table/row/field problems."""
    problems = _Problems(name)
    raw_rows = raw.get("rows")
    for err in exc.errors():
        loc = list(err["loc"])
        row = row_id = None
        if len(loc) >= 2 and loc[0] == "rows" and isinstance(loc[1], int):
            row = loc[1] + 1
            if isinstance(raw_rows, list) and isinstance(raw_rows[loc[1]], Mapping):
                rid = raw_rows[loc[1]].get("id")
                row_id = rid if isinstance(rid, str) else None
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or ("row" if row is not None else "table")
        problems.add(field, err["msg"][:1].lower() + err["msg"][1:], row=row, row_id=row_id)
    return problems


def load_table(data: Mapping[str, Any] | DecisionTable) -> DecisionTable:
    """Validate a table (JSON mapping or model), normalise its conditions; raise :class:`RuleTableError`."""
    raw: Mapping[str, Any] = data.model_dump() if isinstance(data, DecisionTable) else data
    name = raw.get("name") if isinstance(raw, Mapping) else None
    name = name if isinstance(name, str) else "?"
    try:
        table = DecisionTable.model_validate(raw)
    except ValidationError as exc:
        _structure_problems(name, exc, raw if isinstance(raw, Mapping) else {}).raise_if_any(
            f"decision table {name!r} is invalid"
        )
        raise  # pragma: no cover - pydantic never raises an empty ValidationError
    problems = _Problems(table.name)
    if not table.name.strip():
        problems.add("name", "must not be empty")
    if not table.rows:
        problems.add("rows", "must not be empty; a table needs at least one row")
    for out in table.outputs:
        if out in (f"{table.name}_rule", f"{table.name}_rules"):
            problems.add(f"outputs.{out}", "clashes with the rule-id column the evaluator adds")
    seen: dict[str, int] = {}
    rows: list[RuleRow] = []
    for pos, row in enumerate(table.rows, start=1):
        where: dict[str, Any] = {"row": pos, "row_id": row.id}
        if not row.id.strip():
            problems.add("id", "must not be empty", **where)
        elif row.id in seen:
            problems.add("id", f"duplicate id; row {seen[row.id]} has the same id", **where)
        else:
            seen[row.id] = pos
        when: dict[str, Any] = {}
        for column, cond in row.when.items():
            field = f"when.{column}"
            if column not in table.inputs:
                known = ", ".join(table.inputs) or "(none)"
                problems.add(field, f"unknown input column; inputs: {known}", **where)
                continue

            def report(problem: str, field: str = field, where: dict[str, Any] = where) -> None:
                problems.add(field, problem, **where)

            when[column] = _check_condition(cond, table.inputs[column], report)
        then = _check_outcome(row.then, table.outputs, "then", problems, **where)
        rows.append(RuleRow(id=row.id, when=when, then=then, note=row.note))
    default = table.default
    if default is not None:
        if table.mode == "all":
            problems.add("default", "only mode 'first' uses a default; remove it")
        default = _check_outcome(default, table.outputs, "default", problems)
    problems.raise_if_any(f"decision table {table.name!r} is invalid")
    return table.model_copy(update={"rows": rows, "default": default})


def _dtype_fits(kind: str, dtype: pl.DataType) -> bool:
    if dtype == pl.Null:
        return True
    if kind == "int":
        return dtype.is_integer()
    if kind == "float":
        return dtype.is_numeric()
    if kind == "str":
        return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
    if kind == "bool":
        return dtype == pl.Boolean
    return dtype == pl.Date


def check_frame(table: DecisionTable, schema: Mapping[str, pl.DataType]) -> None:
    """Raise :class:`RuleTableError` if the frame ``schema`` lacks an input column or has an unfit dtype."""
    problems = _Problems(table.name)
    expected = {
        "int": "an integer dtype",
        "float": "a numeric dtype",
        "str": "String, Categorical or Enum",
        "bool": "Boolean",
        "date": "Date",
    }
    for column, kind in table.inputs.items():
        if column not in schema:
            problems.add(f"inputs.{column}", "input column is missing from the frame")
        elif not _dtype_fits(kind, schema[column]):
            problems.add(
                f"inputs.{column}",
                f"column has dtype {schema[column]}; input type {kind} needs {expected[kind]}",
            )
    problems.raise_if_any(f"frame does not fit decision table {table.name!r}")


# ---------------------------------------------------------------------------------------------- evaluation


def _literal(value: Any, kind: str) -> Any:
    return date.fromisoformat(value) if kind == "date" else value


def _condition_expr(column: pl.Expr, cond: Mapping[str, Any], kind: str) -> pl.Expr:
    """One column's condition as a boolean expression (null where the value is null, except is_null)."""
    dtype = _POLARS_TYPES[kind]
    parts: list[pl.Expr] = []
    for op, operand in cond.items():
        if op == "is_null":
            parts.append(column.is_null() if operand else column.is_not_null())
        elif op in ("in", "not_in"):
            values = pl.Series([_literal(v, kind) for v in operand], dtype=dtype).implode()
            member = column.is_in(values)
            parts.append(member if op == "in" else column.is_not_null() & ~member)
        elif op == "between":
            lo, hi = (pl.lit(_literal(v, kind), dtype=dtype) for v in operand)
            parts.append(column.is_between(lo, hi, closed="both"))
        else:
            lit = pl.lit(_literal(operand, kind), dtype=dtype)
            compare = {
                "eq": column.eq,
                "ne": column.ne,
                "lt": column.lt,
                "le": column.le,
                "gt": column.gt,
                "ge": column.ge,
            }[op]
            parts.append(compare(lit))
    return pl.all_horizontal(parts) if parts else pl.lit(True)


def _row_matches(table: DecisionTable, schema: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    """One boolean expression per row: True where every condition holds (never null)."""
    columns: dict[str, pl.Expr] = {}
    for name, kind in table.inputs.items():
        if name in schema:
            col = pl.col(name)
            columns[name] = col if schema[name] == _POLARS_TYPES[kind] else col.cast(_POLARS_TYPES[kind])
    matches = []
    for row in table.rows:
        parts = [_condition_expr(columns[c], cond, table.inputs[c]) for c, cond in row.when.items()]
        matches.append(pl.all_horizontal(parts).fill_null(False) if parts else pl.lit(True))
    return matches


def _lookup(index: pl.Expr, values: Sequence[Any], dtype: pl.DataType) -> pl.Expr:
    """Map row indices 0…n−1 to ``values`` (a small lookup, vectorised)."""
    return index.replace_strict(
        pl.Series(range(len(values)), dtype=_INDEX_DTYPE), pl.Series(values, dtype=dtype), return_dtype=dtype
    )


def _temp_name(schema: Mapping[str, pl.DataType], base: str) -> str:
    name = base
    while name in schema:
        name = "_" + name
    return name


def evaluate(frame: F, table: DecisionTable, *, rule_column: str | None = None) -> F:
    """Add the table's outcome columns and the matched rule id(s) to ``frame`` (eager or lazy, same type out).

    Mode ``"first"``: each output (typed per ``outputs``) and ``rule_column`` (default ``<name>_rule``) from
    the first matching row; ``default`` (or nulls, rule id null) where none matches. Mode ``"all"``:
    ``rule_column`` (default ``<name>_rules``, list[str]) and ``<output>_all`` lists, in table order.
    """
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    check_frame(table, schema)
    matches = _row_matches(table, schema)
    ids: list[str] = [row.id for row in table.rows]
    out_types = {name: _POLARS_TYPES[kind] for name, kind in table.outputs.items()}
    tmp = _temp_name(schema, f"__{table.name}_row_index")
    idx = pl.col(tmp)
    if table.mode == "first":
        n = len(table.rows)
        chain: Any = pl
        for i, match in enumerate(matches):
            chain = chain.when(match).then(pl.lit(i, dtype=_INDEX_DTYPE))
        index_expr: pl.Expr = chain.otherwise(pl.lit(n, dtype=_INDEX_DTYPE))  # n = no match → default
        default = table.default or {}
        added = [_lookup(idx, [*ids, None], pl.String()).alias(rule_column or f"{table.name}_rule")]
        for name, dtype in out_types.items():
            values = [row.then.get(name) for row in table.rows] + [default.get(name)]
            added.append(_lookup(idx, values, dtype).alias(name))
    else:
        hits = [pl.when(m).then(pl.lit(i, dtype=_INDEX_DTYPE)) for i, m in enumerate(matches)]
        index_expr = pl.concat_list(hits).list.drop_nulls()
        added = [
            idx.list.eval(_lookup(pl.element(), ids, pl.String())).alias(rule_column or f"{table.name}_rules")
        ]
        for name, dtype in out_types.items():
            values = [row.then.get(name) for row in table.rows]
            added.append(idx.list.eval(_lookup(pl.element(), values, dtype)).alias(f"{name}_all"))
    return frame.with_columns(index_expr.alias(tmp)).with_columns(added).drop(tmp)


# ---------------------------------------------------------------------------------------------- rendering


def _words(column: str, cond: Mapping[str, Any]) -> str:
    parts = []
    for op, operand in cond.items():
        if op == "is_null":
            parts.append(f"{column} is {'' if operand else 'not '}null")
        elif op == "between":
            parts.append(f"{column} between {operand[0]!r} and {operand[1]!r}")
        elif op in ("in", "not_in"):
            items = ", ".join(repr(v) for v in operand)
            parts.append(f"{column} {'in' if op == 'in' else 'not in'} {{{items}}}")
        else:
            parts.append(f"{column} {_SYMBOLS[op]} {operand!r}")
    return " and ".join(parts)


def _outcome_words(outcome: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in outcome.items()) or "(no outputs)"


def describe(table: DecisionTable) -> str:
    """A human-readable rendering: a header, then one line per row (id, conditions, outcome, note)."""
    how = "first match wins" if table.mode == "first" else "all matches"
    inputs = ", ".join(f"{k} {v}" for k, v in table.inputs.items()) or "none"
    outputs = ", ".join(f"{k} {v}" for k, v in table.outputs.items()) or "none"
    lines = [f"decision table {table.name!r} v{table.version} ({how}; inputs: {inputs}; outputs: {outputs})"]
    for pos, row in enumerate(table.rows, start=1):
        cond = " and ".join(_words(c, v) for c, v in row.when.items())
        line = f"  {pos}. {row.id}: {f'if {cond}' if cond else 'always'} → {_outcome_words(row.then)}"
        lines.append(line + (f"  # {row.note}" if row.note else ""))
    if table.mode == "first":
        fallback = _outcome_words(table.default) if table.default is not None else "outputs null"
        lines.append(f"  otherwise → {fallback} (no rule)")
    return "\n".join(lines)


def table_hash(table: DecisionTable) -> str:
    """sha256 of the table's canonical JSON: record it to pin the exact version that decided."""
    return hashlib.sha256(canonical_json(table.model_dump(mode="json"))).hexdigest()
