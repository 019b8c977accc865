"""Which domain CLIs the ``recoup`` command mounts."""

from __future__ import annotations

import importlib

import typer

#: (module, attribute, name); each module exposes a Typer app or a function registering commands.
GROUPS: tuple[tuple[str, str, str | None], ...] = (
    ("recoup.portfolio.cli", "register", None),
    ("recoup.ledger.cli", "app", "ledger"),
    ("recoup.keys.cli", "app", "pii"),
    ("recoup.auth.cli", "app", "user"),
    ("recoup.cycle.cli", "app", "cycle"),
    ("recoup.reporting.cli", "app", "report"),
    ("recoup.simulate.cli", "app", "simulate"),
    ("recoup.scoring.cli", "app", "model"),
    ("recoup.contact.policy.cli", "app", "policy"),
    ("recoup.contact.cli", "app", "contact"),
    ("recoup.contact.cli", "qa_app", "qa"),
    ("recoup.contact.cli_dispatch", "register", None),
    ("recoup.contact.template_cli", "app", "template"),
    # holds, consent and consents join the contact group; `recoup complaint` is the register.
    ("recoup.complaints.cli", "mount", None),
    ("recoup.strategy.cli", "app", "strategy"),
    # evaluate / compare / train-response on the digital twin join the strategy group from the
    # evaluation package (production never imports it: tests/test_import_contract.py).
    ("recoup.evaluation.cli", "mount", None),
    ("recoup.cases.promise_cli", "app", "promise"),
    ("recoup.resolutions.cli", "app", "resolution"),
    ("recoup.cases.allocate_cli", "register", None),
    ("recoup.cases.people_cli", "team_app", "team"),
    ("recoup.cases.people_cli", "worker_app", "staff"),
    # `recoup agency …`, and `agencies` joins the report group.
    ("recoup.agencies.cli", "mount", None),
    ("recoup.legal.cli", "app", "legal"),
    ("recoup.legal.sale_cli", "writeoff_app", "writeoff"),
    ("recoup.legal.sale_cli", "sale_app", "sale"),
    ("recoup.web.cli", "register", None),
    ("recoup.demo", "register", None),
)


def mount(app: typer.Typer) -> None:
    for module_name, attr, name in GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Skip a domain that is not part of this build (the module or its package is absent);
            # a missing third-party dependency inside a present module is still an error.
            if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue
            raise
        obj = getattr(module, attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            obj(app)
