"""``recoup team`` and the worker-profile commands (``recoup staff``), run through ``recoup.cli.main``:
teams and profiles are created and changed, audited with ids only, listed with the cases each worker
holds; every bad value is a coded error (the JSON envelope with ``--json``), never a traceback, and
writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select

from floor_factories import make_case
from recoup import cli, cli_mount
from recoup.auth import service as auth
from recoup.cases import people
from recoup.cases.models import Case, Team, WorkerProfile
from recoup.db import get_engine, session_scope, upgraded_session
from recoup.ledger.models import LedgerEntry

PASSWORD = "correct horse battery"
RECOUP = str(Path(sys.executable).parent / "recoup")
Run = Callable[..., tuple[int, str, str]]


def _mounted_name(attr: str, default: str) -> str:
    """The name :mod:`recoup.cli_mount` gives ``people_cli.<attr>`` (``default`` if it is not mounted)."""
    for module, name_attr, name, _commands in cli_mount.GROUPS:
        if module == "recoup.cases.people_cli" and name_attr == attr and name:
            return name
    return default


TEAM = _mounted_name("team_app", "team")
WORKER = _mounted_name("worker_app", "worker")


@pytest.fixture
def db() -> Iterator[None]:
    """The default database of the test's data dir, migrated, with alice (collector), bob (collector)
    and lena (team lead)."""
    with upgraded_session() as session:
        auth.do_ensure_default_roles(session=session)
        for name, role in (("alice", "collector"), ("bob", "collector"), ("lena", "team_lead")):
            auth.do_create_user(name, PASSWORD, roles=[role], session=session)
    yield
    get_engine().dispose()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``run("team", "list")`` → (exit status, stdout, stderr) of ``recoup.cli.main`` on an app that
    mounts the people commands under their mounted names."""
    from recoup.cases.people_cli import team_app, worker_app

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
    app.add_typer(team_app, name=TEAM)
    app.add_typer(worker_app, name=WORKER)
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli, "_mount", lambda argv=None: None)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["recoup", *args])
        umask = os.umask(0o022)  # main() sets 0o077 for the process: keep the test process's own
        os.umask(umask)
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        finally:
            os.umask(umask)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return invoke


def _ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def _error(result: tuple[int, str, str], exit_code: int, code: str) -> dict[str, object]:
    """The JSON envelope of a failed ``--json`` run: stdout is the envelope (docs/errors.md)."""
    status, out, err = result
    assert status == exit_code, (out, err)
    envelope = json.loads(out)
    assert envelope["error"]["code"] == code, envelope
    detail: dict[str, object] = envelope["error"]
    return detail


def _ledger(kind: str) -> list[LedgerEntry]:
    with session_scope() as session:
        return list(
            session.scalars(select(LedgerEntry).where(LedgerEntry.kind == kind).order_by(LedgerEntry.seq))
        )


def _count(model: type[Team] | type[WorkerProfile]) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ------------------------------------------------------------------------------------------------- teams


def test_team_create_and_list(db: None, run: Run) -> None:
    out = _ok(run(TEAM, "create", "M1 早催", "--kind", "collection", "--lead", "lena"))
    assert "M1 早催" in out and "已创建团队" in out
    created = json.loads(_ok(run(TEAM, "create", "Field", "--kind", "field", "--json")))
    assert created["team"]["name"] == "Field" and created["team"]["lead"] is None

    listed = json.loads(_ok(run(TEAM, "list", "--json")))
    teams = {t["name"]: t for t in listed["teams"]}
    assert teams["M1 早催"]["kind"] == "collection" and teams["M1 早催"]["lead"] == "lena"
    assert teams["Field"]["members"] == 0
    assert "M1 早催" in _ok(run(TEAM, "list"))

    entries = _ledger("team.create")
    assert len(entries) == 2 and entries[0].actor == "cli"
    assert set(entries[0].payload) == {"team_id", "kind", "lead_id"}  # ids only, not the name
    assert "M1" not in json.dumps(entries[0].payload, ensure_ascii=False)


def test_team_errors_are_coded_and_write_nothing(db: None, run: Run) -> None:
    _ok(run(TEAM, "create", "A", "--kind", "collection"))
    err = _error(run(TEAM, "create", "A", "--kind", "legal", "--json"), 65, "conflict")
    assert "already a team called 'A'" in str(err["message"])
    err = _error(
        run(TEAM, "create", "B", "--kind", "collection", "--lead", "nobody", "--json"), 66, "not_found"
    )
    assert "nobody" in str(err["message"])
    err = _error(run(TEAM, "create", "B", "--kind", "sales", "--json"), 65, "people.invalid")
    assert "skip_trace" in str(err["message"])  # the allowed kinds are listed
    _error(run(TEAM, "create", " B", "--kind", "collection", "--json"), 65, "people.invalid")
    _error(run(TEAM, "create", "x" * 81, "--kind", "collection", "--json"), 65, "people.invalid")
    assert _count(Team) == 1 and len(_ledger("team.create")) == 1
    code, out, err_text = run(TEAM, "create", "A", "--kind", "collection")  # without --json: one line
    assert code == 65 and out == "" and "[conflict]" in err_text


# ----------------------------------------------------------------------------------------------- workers


def test_worker_set_creates_then_changes_only_what_is_given(db: None, run: Run) -> None:
    _ok(run(TEAM, "create", "M1", "--kind", "collection", "--lead", "lena"))
    options = ["--team", "M1", "--kind", "collector", "--pools", "m1, m1-yue", "--language", "zh,yue"]
    options += ["--product", "cash_loan", "--region", "GD，SZ", "--cap", "300", "--weight", "1.5"]
    options += ["--minutes", "480", "--agency-code", "", "--active"]
    out = _ok(run(WORKER, "set", "alice", *options))
    assert "已创建 alice 的人员档案" in out  # the default language, zh_CN
    [row] = json.loads(_ok(run(WORKER, "list", "--json")))["workers"]
    assert row == {
        "username": "alice",
        "team": "M1",
        "kind": "collector",
        "pools": ["m1", "m1-yue"],
        "skills": {"language": ["zh", "yue"], "product": ["cash_loan"], "region": ["GD", "SZ"]},
        "cap": 300,
        "weight": 1.5,
        "daily_minutes": 480,
        "agency_code": None,
        "active": True,
        "held": 0,
    }

    changed = json.loads(_ok(run(WORKER, "set", "alice", "--cap", "250", "--region", "", "--json")))
    assert changed == {"username": "alice", "created": False, "changed": ["cap", "skills"]}
    [row] = json.loads(_ok(run(WORKER, "list", "--json")))["workers"]
    assert row["cap"] == 250 and row["pools"] == ["m1", "m1-yue"] and row["team"] == "M1"
    assert row["skills"] == {"language": ["zh", "yue"], "product": ["cash_loan"]}  # region cleared

    assert "alice 无变化" in _ok(run(WORKER, "set", "alice", "--cap", "250"))
    _ok(run(WORKER, "set", "alice", "--inactive", "--kind", "agency", "--agency-code", "AG01", "--no-team"))
    [row] = json.loads(_ok(run(WORKER, "list", "--json")))["workers"]
    assert row["active"] is False and row["kind"] == "agency" and row["agency_code"] == "AG01"
    assert row["team"] is None

    entries = _ledger("worker.set")
    assert len(entries) == 3  # created, changed, changed; "unchanged" appends nothing
    assert entries[0].payload["created"] is True
    first = entries[0].payload
    assert entries[1].payload == {
        "user_id": first["user_id"],
        "team_id": first["team_id"],
        "created": False,
        "fields": ["cap", "skills"],
    }
    assert entries[2].payload["team_id"] is None
    assert sorted(entries[2].payload["fields"]) == ["active", "agency_code", "kind", "team_id"]
    assert all("AG01" not in json.dumps(e.payload) and "alice" not in json.dumps(e.payload) for e in entries)


def test_a_new_profile_takes_the_model_defaults(db: None, run: Run) -> None:
    _ok(run(WORKER, "set", "bob"))
    [row] = json.loads(_ok(run(WORKER, "list", "--json")))["workers"]
    defaults = {"kind": "collector", "pools": [], "skills": {}, "cap": 500, "weight": 1.0}
    defaults |= {"daily_minutes": 420, "active": True, "team": None, "agency_code": None, "held": 0}
    assert row == {"username": "bob", **defaults}


#: (options of `set alice`, exit status, error code, a part of the message)
BAD_WORKER_VALUES: list[tuple[list[str], int, str, str]] = [
    (["--pools", "m1,m9,zz"], 65, "people.invalid", "m9, zz"),
    (["--cap", "-1"], 65, "people.invalid", "cap"),
    (["--weight", "0"], 65, "people.invalid", "weight"),
    (["--weight", "nan"], 65, "people.invalid", "weight"),
    (["--weight", "inf"], 65, "people.invalid", "weight"),
    (["--minutes", "0"], 65, "people.invalid", "minutes"),
    (["--minutes", "1441"], 65, "people.invalid", "minutes"),
    (["--kind", "boss"], 65, "people.invalid", "field_agent"),
    (["--language", "z" * 41], 65, "people.invalid", "language"),
    (["--agency-code", "A" * 65], 65, "people.invalid", "agency code"),
    (["--team", "nope"], 66, "not_found", "nope"),
    (["--team", "M1", "--no-team"], 65, "people.invalid", "--no-team"),
]


def test_bad_worker_values_are_coded_errors_and_write_nothing(db: None, run: Run) -> None:
    _ok(run(TEAM, "create", "M1", "--kind", "collection"))
    for args, exit_code, code, says in BAD_WORKER_VALUES:
        err = _error(run(WORKER, "set", "alice", *args, "--json"), exit_code, code)
        assert says in str(err["message"]), (args, err)
    assert _count(WorkerProfile) == 0 and not _ledger("worker.set")


def test_an_unknown_pool_lists_the_known_ones(db: None, run: Run) -> None:
    known = people.known_pools()
    assert known == ["m1-yue", "m1", "m2m3", "m4plus"]  # the default allocation table's pools, in order
    err = _error(run(WORKER, "set", "alice", "--pools", "m2", "--json"), 65, "people.invalid")
    details = err["details"]
    assert isinstance(details, dict) and details["known"] == known and details["value"] == ["m2"]
    assert all(p in str(err["message"]) for p in known)


def test_an_unknown_user_is_not_found(db: None, run: Run) -> None:
    err = _error(run(WORKER, "set", "zed", "--cap", "3", "--json"), 66, "not_found")
    assert "zed" in str(err["message"]) and "recoup user create" in str(err["message"])


def test_worker_list_counts_the_open_cases_each_holds(db: None, run: Run) -> None:
    _ok(run(TEAM, "create", "M1", "--kind", "collection"))
    _ok(run(TEAM, "create", "M2", "--kind", "collection"))
    _ok(run(WORKER, "set", "alice", "--team", "M1"))
    _ok(run(WORKER, "set", "bob", "--team", "M2", "--pools", "m2m3"))
    with session_scope() as session:
        alice = auth.get_user("alice", session=session)
        assert alice is not None
        for _ in range(2):
            make_case(session, holder=alice)
        closed = make_case(session, holder=alice)
        session.get_one(Case, closed.id).status = "closed"
        make_case(session)  # nobody's

    workers = {w["username"]: w for w in json.loads(_ok(run(WORKER, "list", "--json")))["workers"]}
    assert workers["alice"]["held"] == 2 and workers["bob"]["held"] == 0
    only_m2 = json.loads(_ok(run(WORKER, "list", "--team", "M2", "--json")))["workers"]
    assert [w["username"] for w in only_m2] == ["bob"]
    _error(run(WORKER, "list", "--team", "M3", "--json"), 66, "not_found")
    members = {t["name"]: t["members"] for t in json.loads(_ok(run(TEAM, "list", "--json")))["teams"]}
    assert members == {"M1": 1, "M2": 1}
    table = _ok(run(WORKER, "list"))
    assert "alice" in table and "2/500" in table


def test_empty_lists_say_how_to_start(db: None, run: Run) -> None:
    assert "recoup team create" in _ok(run(TEAM, "list"))
    assert "set" in _ok(run(WORKER, "list"))
    assert json.loads(_ok(run(WORKER, "list", "--json"))) == {"workers": []}


def test_names_are_printed_as_text_not_markup(db: None, run: Run) -> None:
    _ok(run(TEAM, "create", "[bold]Ops[/bold]", "--kind", "verification"))
    assert "[bold]Ops[/bold]" in _ok(run(TEAM, "list"))


def test_the_installed_command_mounts_them(tmp_path: Path) -> None:
    """The real ``recoup`` executable (as ``recoup.cli_mount`` mounts it): a coded error and exit status."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {"RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    listed = subprocess.run(
        [RECOUP, TEAM, "list", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"teams": []}
    bad = subprocess.run(
        [RECOUP, WORKER, "set", "nobody", "--pools", "m9", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 65
    assert json.loads(bad.stdout)["error"]["code"] == "people.invalid"  # with --json the envelope is stdout
    assert "Traceback" not in bad.stderr
