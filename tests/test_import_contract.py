"""The import contract (issue 14, item 1): production decisioning never imports the digital twin.

No module of ``recoup.cycle``, ``recoup.strategy``, ``recoup.scoring``, ``recoup.contact`` or
``recoup.cases`` imports ``recoup.simulate`` or ``recoup.evaluation`` — at module level, inside a
function, under ``TYPE_CHECKING``, as ``from recoup import simulate``, relatively, or by a literal
``importlib.import_module("…")`` / ``__import__("…")``. An AST walk (no dependency; import-linter's
graph does not see ``import_module`` strings) names each offending module and line. The evaluation
package and the twin remain importable, and ``recoup strategy evaluate`` keeps its place and options.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import recoup

ROOT = Path(recoup.__file__).resolve().parent
PRODUCTION = ("cycle", "strategy", "scoring", "contact", "cases")
FORBIDDEN = ("recoup.simulate", "recoup.evaluation")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    path: str
    line: int
    target: str  # the module imported (absolute)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.module}) imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, name: str, level: int) -> str:
    """An absolute module name for ``from <level dots><name> import …`` in ``module``."""
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _is_import_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in ("import_module", "__import__")


def imports_of(source: str, module: str, path: str, is_package: bool = False) -> Iterator[Import]:
    """Every import in ``source`` at any depth (functions, classes, ``if TYPE_CHECKING``, ``try``); for
    ``from X import a, b``, ``X`` when it is forbidden, else ``X.a``, ``X.b`` (each may be a submodule)."""
    for node in ast.walk(ast.parse(source, filename=path)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.module or "", node.level)
            # ``from recoup import simulate``: the names may be submodules; one finding per statement.
            targets = [base] if _forbidden(base) else [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and _is_import_call(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                name = first.value
                if name.startswith("."):  # import_module(".x", package="recoup")
                    anchor = node.args[1] if len(node.args) > 1 else None
                    for kw in node.keywords:
                        if kw.arg == "package":
                            anchor = kw.value
                    pkg = anchor.value if isinstance(anchor, ast.Constant) else module
                    level = len(name) - len(name.lstrip("."))
                    name = _resolve(str(pkg), True, name.lstrip("."), level)
                targets = [name]
        for target in targets:
            yield Import(module, path, getattr(node, "lineno", 0), target)


def _forbidden(target: str) -> bool:
    return any(target == f or target.startswith(f + ".") for f in FORBIDDEN)


def _production_files() -> list[Path]:
    files = [p for pkg in PRODUCTION for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 50, files  # the walk found the packages
    return files


def violations() -> list[Import]:
    out: list[Import] = []
    for path in _production_files():
        rel = str(path.relative_to(ROOT.parent.parent))  # src/recoup/…
        found = imports_of(path.read_text("utf-8"), _module_name(path), rel, path.name == "__init__.py")
        out.extend(i for i in found if _forbidden(i.target))
    return out


def test_production_never_imports_the_twin_or_the_evaluation() -> None:
    bad = violations()
    assert not bad, "production imports the twin or the evaluation:\n" + "\n".join(map(str, bad))


def _graph() -> dict[str, list[Import]]:
    """Every recoup module → its imports of other recoup modules (at any depth), each resolved to the
    module that runs: ``from recoup.x import name`` → ``recoup.x`` unless ``recoup.x.name`` is a module;
    importing ``recoup.a.b`` also runs ``recoup.a``'s ``__init__``."""
    files = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    graph: dict[str, list[Import]] = {}
    for name, path in files.items():
        rel = str(path.relative_to(ROOT.parent.parent))
        edges: list[Import] = []
        for i in imports_of(path.read_text("utf-8"), name, rel, path.name == "__init__.py"):
            target = i.target
            while target not in files and "." in target:
                target = target.rsplit(".", 1)[0]
            parts = target.split(".")
            for k in range(2, len(parts) + 1):  # recoup.a, recoup.a.b, …
                mod = ".".join(parts[:k])
                if mod in files and mod != name:
                    edges.append(Import(i.module, i.path, i.line, mod))
        graph[name] = edges
    return graph


def test_nothing_production_imports_reaches_the_twin() -> None:
    """Transitively too: no chain of imports (at any depth) from a production module through other
    recoup modules (``portfolio``, ``lake``, ``web.deps`` …) reaches the twin or the evaluation."""
    graph = _graph()
    start = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in PRODUCTION]
    via: dict[str, Import | None] = dict.fromkeys(start)
    queue = list(start)
    bad: list[str] = []
    while queue:
        module = queue.pop(0)
        for edge in graph[module]:
            if edge.target in via:
                continue
            via[edge.target] = edge
            if _forbidden(edge.target):
                chain, step = [], via[edge.target]
                while step is not None:
                    chain.append(str(step))
                    step = via[step.module]
                bad.append("\n  ← ".join(chain))
            else:
                queue.append(edge.target)
    assert len(via) > len(start)  # the walk followed imports out of the production packages
    assert not bad, "production reaches the twin or the evaluation:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "target", "line"),
    [
        ("import recoup.simulate", "recoup.simulate", 1),
        ("import recoup.simulate.events as ev", "recoup.simulate.events", 1),
        ("from recoup.simulate import DEFAULT_PARAMS", "recoup.simulate", 1),
        ("from recoup import simulate", "recoup.simulate", 1),
        ("from recoup import evaluation as e", "recoup.evaluation", 1),
        ("x = 1\ndef f():\n    from recoup.evaluation.evaluate import evaluate\n", "recoup.evaluation", 3),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from recoup.simulate import World\n",
            "recoup.simulate",
            3,
        ),
        (
            "import importlib\nm = importlib.import_module('recoup.simulate.world')",
            "recoup.simulate.world",
            2,
        ),
        (
            "from importlib import import_module\nimport_module('recoup.evaluation.cli')",
            "recoup.evaluation",
            2,
        ),
        ("import importlib\nimportlib.import_module('.simulate', 'recoup')", "recoup.simulate", 2),
        ("__import__('recoup.simulate')", "recoup.simulate", 1),
        ("from ..simulate import World", "recoup.simulate", 1),
        ("from .. import evaluation", "recoup.evaluation", 1),
    ],
)
def test_the_walk_sees_every_form_of_import(source: str, target: str, line: int) -> None:
    found = [
        i
        for i in imports_of(source, "recoup.strategy.example", "src/recoup/strategy/example.py")
        if _forbidden(i.target)
    ]
    assert found, f"not seen: {source!r}"
    assert found[0].line == line and found[0].target.startswith(target)
    assert str(found[0]).startswith(f"src/recoup/strategy/example.py:{line} (recoup.strategy.example)")


def test_allowed_imports_are_not_flagged() -> None:
    source = textwrap.dedent(
        """
        from recoup import rules
        from recoup.strategy.day_record import DayEvents
        import recoup.simulated_annealing  # a name that only starts like the twin's
        import importlib
        importlib.import_module("recoup.strategy.kernel")
        """
    )
    assert not [i for i in imports_of(source, "recoup.cycle.x", "x.py") if _forbidden(i.target)]


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_production_modules_load_without_the_twin() -> None:
    """Importing every production module (and what it imports at module level, transitively) leaves
    the twin and the evaluation unloaded."""
    code = textwrap.dedent(
        f"""
        import importlib, json, pkgutil, sys
        for pkg in {PRODUCTION!r}:
            root = importlib.import_module("recoup." + pkg)
            for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
                importlib.import_module(info.name)
        print(json.dumps(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))))
        """
    )
    res = _run(code)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []


def test_the_evaluation_and_the_twin_import() -> None:
    import recoup.evaluation.cli
    import recoup.evaluation.compare
    import recoup.evaluation.evaluate
    import recoup.evaluation.optimised
    import recoup.evaluation.training
    import recoup.simulate

    assert recoup.evaluation.evaluate.evaluate is not None
    assert recoup.evaluation.optimised.optimised_config is not None
    assert recoup.simulate.World is not None
    # The twin writes its events in production's columns, not the reverse.
    from recoup.simulate.events import SCHEMAS, DayEvents
    from recoup.strategy import day_record

    assert SCHEMAS is day_record.SCHEMAS and DayEvents is day_record.DayEvents


def test_production_prices_equal_the_twins_defaults() -> None:
    """Production's price list is its own (``recoup.strategy.prices``) and today has the twin's numbers,
    so the optimiser's results did not move when it stopped reading the twin (issue 14, item 5 makes it
    configuration)."""
    from recoup.simulate import DEFAULT_PARAMS
    from recoup.strategy.prices import TREATMENT_PRICES, price_list

    assert price_list() == {k: int(v.cost) for k, v in DEFAULT_PARAMS.treatments.items()}
    assert all(isinstance(v, int) for v in TREATMENT_PRICES.values())


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("evaluate", ("--strategy", "--loans", "--days", "--seed", "--perturb", "--model", "--json")),
        ("compare", ("--seeds", "--loans", "--days", "--perturb", "--jobs", "--model", "--json")),
        ("train-response", ("--loans", "--days", "--seed", "--horizon", "--out", "--json")),
    ],
)
def test_strategy_cli_keeps_the_evaluation_commands(command: str, options: tuple[str, ...]) -> None:
    res = _run("import sys; from recoup.cli import main; main()", "strategy", command, "--help")
    assert res.returncode == 0, res.stderr
    for option in options:
        assert option in res.stdout, (option, res.stdout)
