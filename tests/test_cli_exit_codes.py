"""One exit-status table and JSON errors (issue 16 item 8, "Why" 11): every command of the CLI, made to
fail, ends with a status of the documented table; with ``--json`` stdout is the one error envelope.
docs/errors.md is generated from the code and checked here."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from recoup import cli
from recoup.errors import EXIT_STATUSES, RecoupError

UNKNOWN = "--no-such-option-here"


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """``cli.run`` sets the process umask (0o077) as the real command does; put it back."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def _leaves() -> list[tuple[str, ...]]:
    cli._mount()
    root = typer.main.get_command(cli.app)

    def walk(cmd: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                yield from walk(sub, (*path, name))
        else:
            yield path

    return list(walk(root, ()))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.run(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def _envelope(stdout: str) -> dict[str, Any]:
    doc = json.loads(stdout)
    assert set(doc) == {"error"}, stdout
    assert set(doc["error"]) == {"code", "message", "details"}, stdout
    assert isinstance(doc["error"]["details"], dict)
    return dict(doc["error"])


def test_every_command_turns_a_usage_error_into_64_and_the_envelope(
    capsys: pytest.CaptureFixture[str],
) -> None:
    leaves = _leaves()
    assert len(leaves) >= 50  # the whole CLI was walked, groups and their subcommands
    for path in leaves:
        status, out, err = _run(capsys, *path, "--json", UNKNOWN)
        assert status == 64, (path, out, err)
        error = _envelope(out)
        # (a command without a --json option of its own reports --json as the unknown option: still JSON)
        assert error["code"] == "usage" and "No such option" in error["message"], (path, error)
        assert "Traceback" not in err
        # Without --json: one readable line on stderr, stdout empty.
        status, out, err = _run(capsys, *path, UNKNOWN)
        assert status == 64 and out == "" and "[usage]" in err and "Traceback" not in err, (path, err)


# (argv, expected status, expected code). Each runs on an empty data directory (the conftest's).
FAILURES: list[tuple[list[str], int, str]] = [
    (["cycle", "run", "--as-of", "2026-13-40", "--json"], 64, "usage"),
    (["cycle", "run", "--from", "2026-11-20", "--to", "nope", "--json"], 64, "usage"),
    (["cycle", "run", "--json"], 64, "usage"),
    (["cycle", "run", "--as-of", "2026-11-20", "--json"], 66, "cycle.no_extract"),
    (["import", "--as-of", "2026-11-20", "--json"], 64, "usage"),  # missing argument
    (["import", "day", "--as-of", "2026-11-40", "--json"], 64, "usage"),
    (["import", "missing-day", "--as-of", "2026-11-20", "--json"], 66, "import.not_found"),
    (["import", "loans", "missing.csv", "--as-of", "2026-11-20", "--json"], 66, "import.not_found"),
    (["report", "rollrates", "--month", "2026-13", "--json"], 64, "usage"),
    (["report", "collectors", "--month", "2026-13", "--json"], 64, "reporting.bad_month"),
    (["report", "portfolio", "--as-of", "2026-02-30", "--json"], 64, "usage"),
    (["report", "portfolio", "--as-of", "2026-11-20", "--json"], 66, ""),
    (["template", "lint", "--channel", "fax", "--text", "您好", "--json"], 64, "linter.bad_input"),
    (["template", "lint", "missing.txt", "--json"], 66, "linter.bad_file"),
    (["policy", "audit", "--from", "2026-11-01", "--to", "x", "--json"], 64, "usage"),
    (["promise", "judge", "missing.json", "--json"], 65, "promise.bad_input"),
    (["strategy", "decisions", "--as-of", "2026-13-01", "--json"], 64, "usage"),
    (["allocate", "--as-of", "2026-13-01", "--json"], 64, "allocation.bad_option"),
    (["simulate", "generate", "--start", "2026-13-01", "--out", "x", "--json"], 64, "usage"),
    (["dispatch", "run", "--batch", "0", "--json"], 64, "usage"),
    (["cycle", "status", "-n", "zero", "--json"], 64, "usage"),
]


@pytest.mark.parametrize(("argv", "status", "code"), FAILURES, ids=[" ".join(f[0][:3]) for f in FAILURES])
def test_failure_paths_exit_with_a_documented_status_and_the_envelope(
    capsys: pytest.CaptureFixture[str], argv: list[str], status: int, code: str
) -> None:
    got, out, err = _run(capsys, *argv)
    assert got in EXIT_STATUSES, (argv, got, out, err)
    assert got == status, (argv, got, out, err)
    error = _envelope(out)
    if code:
        assert error["code"] == code, (argv, error)
    assert "Traceback" not in err


def test_usage_error_without_json_is_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "cycle", "run", "--as-of", "2026-13-40")
    assert status == 64 and out == ""
    assert "[usage]" in err and "--as-of '2026-13-40' is not a date (YYYY-MM-DD)" in " ".join(err.split())


def test_an_unexpected_exception_is_70_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: Any, **_k: Any) -> None:
        raise ZeroDivisionError("secret 13800138000")

    monkeypatch.setattr("recoup.cycle.runner.status", boom)
    status, _out, _err = _run(capsys, "cycle", "status", "--json")
    # cycle status has no --json: a usage error; without it, the crash is internal.error.
    assert status == 64
    status, _out, err = _run(capsys, "cycle", "status")
    assert status == 70 and "Traceback" not in err and "13800138000" not in err
    assert "[internal.error]" in err and "ZeroDivisionError" in err


def test_every_error_class_has_a_status_of_the_table_and_one_status_per_code() -> None:
    from recoup.errors_doc import catalogue, conflicts

    entries = catalogue()
    assert conflicts(entries) == []
    assert {e.exit_code for e in entries} <= set(EXIT_STATUSES)
    assert RecoupError.exit_code == 65


def test_docs_errors_md_is_generated_from_the_code() -> None:
    from recoup.errors_doc import DOC, render

    stale = "docs/errors.md is out of date: run `python -m recoup.errors_doc`"
    assert DOC.read_text("utf-8") == render(), stale


def test_logs_get_wide_tables_and_progress_lines(tmp_path: Path) -> None:
    """Not a terminal: a table is never cut to 80 columns, and progress is timestamped lines."""
    import io
    import re

    from rich.table import Table

    from recoup.console import LOG_WIDTH, make_console, progress_lines

    console = make_console()  # pytest's stdout is not a terminal
    assert console.width == LOG_WIDTH
    buf = io.StringIO()
    console.file = buf
    table = Table(title="roll rates")
    for i in range(12):
        table.add_column(f"bucket M{i} → M{i + 1}")
    table.add_row(*[f"{96.123456 + i:.4f} %" for i in range(12)])
    console.print(table)
    text = buf.getvalue()
    assert "…" not in text and "107.1235 %" in text
    assert max(len(line) for line in text.splitlines()) > 80

    err = io.StringIO()
    import sys

    old, sys.stderr = sys.stderr, err
    try:
        with progress_lines("import") as report:
            report("reading loans.csv")
            report("reading loans.csv")
            report("writing the lake")
    finally:
        sys.stderr = old
    lines = err.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ recoup import: ", line) for line in lines)
    assert lines[1].endswith("reading loans.csv") and "finished in" in lines[-1]


def test_hand_written_exit_tables_in_the_docs_agree_with_the_code() -> None:
    """docs/reliability.md keeps a short table of the refusals it explains: each code's status there is
    the code's status in the catalogue."""
    import re

    from recoup.errors_doc import DOC, catalogue

    status = {e.code: e.exit_code for e in catalogue()}
    checked = 0
    for line in (DOC.parent / "reliability.md").read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[1].isdigit():
            continue
        for code in re.findall(r"`([a-z_.]+)`", cells[0]):
            assert code in status, (code, line)
            assert status[code] == int(cells[1]), (code, line)
            checked += 1
    assert checked >= 10
