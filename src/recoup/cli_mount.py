"""Which domain CLIs the ``recoup`` command mounts."""

from __future__ import annotations

import importlib

import typer

#: (module, attribute, name, commands): each module exposes a Typer app or a function registering
#: commands; ``commands`` lists the top-level command names the entry adds or extends (a function that
#: adds to another group names that group too), so ``recoup NAME …`` imports only the entries naming
#: NAME (start-up time; tests/test_cli_mount.py checks every name against a full mount).
GROUPS: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("recoup.portfolio.cli", "register", None, ("import",)),
    ("recoup.ledger.cli", "app", "ledger", ("ledger",)),
    ("recoup.keys.cli", "app", "pii", ("pii",)),
    ("recoup.auth.cli", "app", "user", ("user",)),
    ("recoup.cycle.cli", "app", "cycle", ("cycle",)),
    ("recoup.reporting.cli", "app", "report", ("report",)),
    ("recoup.simulate.cli", "app", "simulate", ("simulate",)),
    ("recoup.scoring.cli", "app", "model", ("model",)),
    ("recoup.contact.policy.cli", "app", "policy", ("policy",)),
    ("recoup.contact.cli", "app", "contact", ("contact",)),
    ("recoup.contact.cli", "qa_app", "qa", ("qa",)),
    ("recoup.contact.cli_dispatch", "register", None, ("dispatch", "worker")),
    ("recoup.contact.template_cli", "app", "template", ("template",)),
    # holds, consent and consents join the contact group; `recoup complaint` is the register.
    ("recoup.complaints.cli", "mount", None, ("complaint", "contact")),
    ("recoup.strategy.cli", "app", "strategy", ("strategy",)),
    # evaluate / compare / train-response on the digital twin join the strategy group from the
    # evaluation package (production never imports it: tests/test_import_contract.py).
    ("recoup.evaluation.cli", "mount", None, ("strategy",)),
    # `recoup config prices|capacity`: the lender's treatment prices and capacity (versioned).
    ("recoup.strategy.config_cli", "app", "config", ("config",)),
    ("recoup.cases.promise_cli", "app", "promise", ("promise",)),
    ("recoup.resolutions.cli", "app", "resolution", ("resolution",)),
    ("recoup.cases.allocate_cli", "register", None, ("allocate",)),
    ("recoup.cases.people_cli", "team_app", "team", ("team",)),
    ("recoup.cases.people_cli", "worker_app", "staff", ("staff",)),
    # `recoup agency …`, and `agencies` joins the report group.
    ("recoup.agencies.cli", "mount", None, ("agency", "report")),
    ("recoup.legal.cli", "app", "legal", ("legal",)),
    ("recoup.legal.sale_cli", "writeoff_app", "writeoff", ("writeoff",)),
    ("recoup.legal.sale_cli", "sale_app", "sale", ("sale",)),
    ("recoup.writeback.cli", "app", "writeback", ("writeback",)),
    # `recoup funding …`, and `creditors` joins the report group; `recoup collateral …`.
    ("recoup.funding.cli", "mount", None, ("funding", "report")),
    ("recoup.collateral.cli", "app", "collateral", ("collateral",)),
    ("recoup.web.cli", "register", None, ("serve",)),
    ("recoup.demo", "register", None, ("demo",)),
)


def entries_for(command: str | None) -> list[int]:
    """The GROUPS entries ``recoup COMMAND`` needs, in order; every entry when the command is None or
    names none of them (``recoup --help``, a typo: the full list is shown)."""
    chosen = [i for i, entry in enumerate(GROUPS) if command is not None and command in entry[3]]
    return chosen or list(range(len(GROUPS)))


def mount(app: typer.Typer, command: str | None = None, done: set[int] | None = None) -> None:
    """Mount the entries ``recoup COMMAND`` needs (all when ``command`` is None); ``done`` remembers
    what this app has mounted already, so a later call adds only the rest."""
    mounted = set() if done is None else done
    for index in entries_for(command):
        if index not in mounted:
            mounted.add(index)
            mount_entry(app, index)


def mount_entry(app: typer.Typer, index: int) -> None:
    """Mount GROUPS[index] on ``app`` (an absent domain is skipped)."""
    module_name, attr, name, _commands = GROUPS[index]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Skip a domain that is not part of this build (the module or its package is absent);
        # a missing third-party dependency inside a present module is still an error.
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return
        raise
    obj = getattr(module, attr)
    if isinstance(obj, typer.Typer):
        app.add_typer(obj, name=name)
    else:
        obj(app)
