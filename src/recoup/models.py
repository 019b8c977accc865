"""Every domain's tables on one metadata, for Alembic and for tests."""

from __future__ import annotations

import importlib

from recoup.db import Base

#: Domain modules that define tables; Alembic sees a table only when its module is listed here.
MODEL_MODULES = (
    "recoup.lake.models",
    "recoup.configs.models",
    "recoup.auth.models",
    "recoup.portfolio.models",
    "recoup.ledger.models",
    "recoup.cases.models",
    "recoup.cases.work_models",
    "recoup.cycle.models",
    "recoup.scoring.models",
    "recoup.contact.models",
    "recoup.strategy.models",
    "recoup.keys.models",
    "recoup.privacy.models",
    "recoup.agencies.models",
    "recoup.complaints.models",
    "recoup.resolutions.models",
    "recoup.legal.models",
    "recoup.funding.models",
    "recoup.collateral.models",
    "recoup.writeback.models",
)

for _name in MODEL_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a domain not written yet
        if exc.name != _name:
            raise

metadata = Base.metadata
