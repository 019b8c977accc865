"""The digital twin (issue 3): a simulated lender and its borrowers, in the loop with recoup.

- :class:`World` steps the book one day at a time: recoup's executed :class:`Action` s go in, that day's
  :class:`DayEvents` (payments, attempt outcomes, promises, offers, replies, complaints) come out, and
  :meth:`World.extract` gives the core system's extract (full snapshot or delta).
- :func:`generate_history` writes a history without treatments as day directories.
- :data:`DEFAULT_PARAMS` are frozen by :func:`params_hash` (recorded in docs/simulator.md).

Repayment follows the controlled self-exciting process of DESIGN.md §5, sampled exactly
(:mod:`recoup.simulate.hawkes`); docs/simulator.md documents the model, the parameters and their sources.
"""

from recoup.simulate.defaults import DEFAULT_PARAMS
from recoup.simulate.events import Action, DayEvents
from recoup.simulate.generate import generate_history
from recoup.simulate.params import BorrowerType, SimParams, SimulateError, params_hash
from recoup.simulate.world import World

__all__ = [
    "DEFAULT_PARAMS",
    "Action",
    "BorrowerType",
    "DayEvents",
    "SimParams",
    "SimulateError",
    "World",
    "generate_history",
    "params_hash",
]
