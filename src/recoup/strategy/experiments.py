"""Champion/challenger experiments: stable hash assignment, an untreated holdout, and exploration.

An experiment document (configuration kind ``strategy_experiment``)::

    {"name": "gentle-2026-12",
     "arms": [{"name": "champion", "strategy": "default", "share": 0.8},
              {"name": "gentle", "strategy": "gentle", "version": 2, "share": 0.1}],
     "holdout": 0.1, "unit": "loan",
     "exploration": 0.02, "exploration_treatments": ["sms", "robot_call", "agent_call", "no_action"]}

The first arm is the champion. Arm shares plus the holdout add up to 1.

**Assignment** maps (experiment name, account id) to u ∈ [0, 1) by a hash we define ourselves, so it is
the same on every machine, every day and every library version: FNV-1a (64-bit) over the UTF-8 bytes of
``name + "\\x1f" + id`` followed by the splitmix64 finaliser, u = top 53 bits / 2⁵³. The arms take
consecutive intervals of [0, 1) in document order and the holdout takes the last one. An account keeps
its arm as long as the experiment's name and shares are unchanged. It is vectorised in numpy over the
ids' byte buffer (the loop runs over byte positions, never over accounts).

**Holdout** accounts are decided by the champion strategy but get ``no_action``, except rows flagged
``required_notice`` (notices the law requires), which apply to every arm.

**Exploration**: a share of the other accounts (never holdout, never a required notice) gets a
treatment drawn uniformly from ``exploration_treatments`` instead, recorded as ``explored``; the draw
hashes the day too, so it changes daily but a rerun of the same day draws the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recoup.contact.vocab import Treatment
from recoup.strategy.definition import StrategyError

__all__ = [
    "HOLDOUT",
    "Arm",
    "Experiment",
    "assign_arms",
    "exploration_draw",
    "load_experiment",
    "stable_hash",
    "stable_hash_one",
    "stable_uniform",
]

HOLDOUT = "holdout"
CHAMPION = "champion"
#: Treatments exploration may never choose: irreversible, or decisions the law reserves for people.
NOT_EXPLORABLE: frozenset[Treatment] = frozenset(
    {Treatment.LEGAL_REVIEW, Treatment.AGENCY_PLACEMENT, Treatment.LAWYER_LETTER, Treatment.FIELD_VISIT}
)

U64 = npt.NDArray[np.uint64]
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = np.uint64(0x100000001B3)
_MASK = (1 << 64) - 1


# ---------------------------------------------------------------------------------------- stable hash


def _fnv1a(data: bytes, h: int = _FNV_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _MASK
    return h


def _splitmix_one(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def stable_hash_one(salt: str, key: str) -> int:
    """The reference (one id, pure Python): splitmix64(FNV-1a-64(salt + "\\x1f" + key))."""
    return _splitmix_one(_fnv1a((salt + "\x1f" + key).encode("utf-8")))


def _splitmix(z: U64) -> U64:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: U64 = z ^ (z >> np.uint64(31))
    return out


def stable_hash(ids: pl.Series, salt: str) -> U64:
    """:func:`stable_hash_one` for every id, vectorised (integer ids hash as their decimal text)."""
    text = ids.cast(pl.String)
    if text.null_count():
        raise ValueError("cannot assign an arm to a null id")
    n = text.len()
    h: U64 = np.full(n, _fnv1a((salt + "\x1f").encode("utf-8")), dtype=np.uint64)
    if n == 0:
        return h
    arr = text.to_arrow()
    arr = (arr.combine_chunks() if hasattr(arr, "combine_chunks") else arr).cast("large_string")
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    # FNV-1a byte by byte: the loop runs over byte positions (≤ the longest id), not over accounts.
    for j in range(int(lengths.max(initial=0))):
        live = lengths > j
        byte = data[starts[live] + j].astype(np.uint64)
        h[live] = (h[live] ^ byte) * _FNV_PRIME
    return _splitmix(h)


def stable_uniform(ids: pl.Series, salt: str) -> npt.NDArray[np.float64]:
    """u ∈ [0, 1) per id: the hash's top 53 bits / 2⁵³ (exact in a float64)."""
    out: npt.NDArray[np.float64] = (stable_hash(ids, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out


# ---------------------------------------------------------------------------------------- documents


class Arm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")
    strategy: str = Field(min_length=1, max_length=80)
    version: int | None = Field(default=None, ge=1)
    share: float = Field(gt=0, le=1)


class Experiment(BaseModel):
    """A validated experiment document (see the module docstring); build it with :func:`load_experiment`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    arms: list[Arm] = Field(min_length=1)
    holdout: float = Field(default=0.0, ge=0, lt=1)
    unit: Literal["loan", "borrower"] = "loan"
    exploration: float = Field(default=0.0, ge=0, le=0.5)
    exploration_treatments: list[str] = Field(
        default_factory=lambda: ["sms", "robot_call", "agent_call", "no_action"]
    )
    active: bool = True

    @property
    def champion(self) -> Arm:
        return self.arms[0]

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms] + ([HOLDOUT] if self.holdout > 0 else [])

    @property
    def unit_column(self) -> str:
        return "loan_id" if self.unit == "loan" else "borrower_id"


def load_experiment(data: dict[str, Any] | Experiment) -> Experiment:
    """Validate an experiment; errors name the experiment and the field (``arms[1].share``)."""
    raw = data.model_dump() if isinstance(data, Experiment) else data
    name = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else "?"
    errors: list[dict[str, Any]] = []

    def add(field: str, problem: str) -> None:
        errors.append({"field": field, "message": f"experiment {name}: {field}: {problem}"})

    try:
        exp = Experiment.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            add(field or "experiment", err["msg"][:1].lower() + err["msg"][1:])
        exp = None
    if exp is not None:
        names = [a.name for a in exp.arms]
        for i, arm in enumerate(exp.arms):
            if arm.name == HOLDOUT:
                add(f"arms[{i}].name", f'"{HOLDOUT}" is reserved for the untreated holdout')
            elif names.count(arm.name) > 1:
                add(f"arms[{i}].name", f'duplicate arm "{arm.name}"')
        total = sum(a.share for a in exp.arms) + exp.holdout
        if abs(total - 1.0) > 1e-9:
            add("arms", f"shares plus holdout add up to {total:.6g}, not 1")
        for i, t in enumerate(exp.exploration_treatments):
            try:
                treatment = Treatment(t)
            except ValueError:
                add(f"exploration_treatments[{i}]", f'"{t}" is not a treatment')
                continue
            if treatment in NOT_EXPLORABLE:
                add(f"exploration_treatments[{i}]", f'"{t}" may not be chosen at random')
        if exp.exploration > 0 and not exp.exploration_treatments:
            add("exploration_treatments", "exploration needs at least one treatment")
    if errors:
        lines = [e["message"] for e in errors]
        head = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
        raise StrategyError(head, details={"experiment": name, "errors": errors})
    assert exp is not None
    return exp


# ---------------------------------------------------------------------------------------- assignment


def assign_arms(ids: pl.Series, experiment: Experiment | None) -> pl.Series:
    """The arm of every id (``champion`` for all without an experiment); stable across days and runs."""
    if experiment is None:
        return pl.Series("arm", [CHAMPION] * ids.len(), dtype=pl.String)
    u = stable_uniform(ids, experiment.name)
    shares = [a.share for a in experiment.arms]
    # Cut points: arms in document order, the holdout last; u past the last arm's cut is holdout.
    cuts = np.cumsum(np.asarray(shares, dtype=np.float64))
    idx = np.searchsorted(cuts, u, side="right")
    names = [a.name for a in experiment.arms]
    labels = np.asarray([*names, HOLDOUT if experiment.holdout > 0 else names[-1]], dtype=object)
    return pl.Series("arm", labels[np.minimum(idx, len(names))], dtype=pl.String)


@dataclass(frozen=True)
class Draw:
    """Exploration for one day: who explores (``explore``) and which treatment index each would get."""

    explore: npt.NDArray[np.bool_]
    pick: npt.NDArray[np.int64]


def exploration_draw(ids: pl.Series, experiment: Experiment, as_of: dt.date) -> Draw:
    """Who explores on ``as_of`` (share ``exploration``) and a uniform pick among the treatments."""
    day = as_of.isoformat()
    u = stable_uniform(ids, f"{experiment.name}\x1fexplore\x1f{day}")
    v = stable_uniform(ids, f"{experiment.name}\x1fpick\x1f{day}")
    k = max(len(experiment.exploration_treatments), 1)
    return Draw(u < experiment.exploration, np.minimum((v * k).astype(np.int64), k - 1))
