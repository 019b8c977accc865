"""No traceback anywhere (issue 17 F11): each reported case, run through the real ``recoup``
command, ends with a coded error on one line (JSON with ``--json``) and a documented exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

RECOUP = str(Path(sys.executable).parent / "recoup")


def _case_files(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "afile").write_text("x", encoding="utf-8")
    (root / "list.json").write_text("[1, 2, 3]", encoding="utf-8")
    (root / "values.toml").write_text('[values]\nproduct_type = "x"\n', encoding="utf-8")
    day = root / "day"
    day.mkdir(exist_ok=True)
    (day / "loans.csv").write_text("loan_id\nL1\n", encoding="utf-8")
    pq = root / "pq"
    pq.mkdir(exist_ok=True)
    pl.DataFrame(
        {"borrower_id": [["a", "b"]], "name": [{"x": 1}], "customer_type": [b"\x00\xff"]}
    ).write_parquet(pq / "borrowers.parquet")
    (root / "odd.json").write_text('{"weird": 1}', encoding="utf-8")
    (root / "bad.json").write_text("{bad json", encoding="utf-8")
    (root / "date.json").write_text('{"due_date": "2026-13-45"}', encoding="utf-8")
    env_dir = root / "envdir"
    env_dir.mkdir(exist_ok=True)
    (env_dir / ".env").write_bytes(b"RECOUP_TIMEZONE=\xff\xfe\n")
    return {"root": root, "day": day, "pq": pq, "env_dir": env_dir}


# (name, argv, extra environment, expected exit status, expected code)
CASES: list[tuple[str, list[str], dict[str, str], int, str]] = [
    (
        "garbage-db-url",
        ["cycle", "status"],
        {"RECOUP_DATABASE_URL": "sqlite:garbage::"},
        78,
        "config.invalid",
    ),
    (
        "pg-unreachable",
        ["cycle", "status"],
        {"RECOUP_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/x"},
        69,
        "db.unavailable",
    ),
    ("link-domains-not-json", ["cycle", "status"], {"RECOUP_LINK_DOMAINS": "notjson"}, 78, "config.invalid"),
    ("data-dir-is-a-file", ["cycle", "status"], {"RECOUP_DATA_DIR": "{root}/afile"}, 74, "storage.error"),
    ("data-dir-under-proc", ["cycle", "status"], {"RECOUP_DATA_DIR": "/proc/recoup"}, 74, "storage.error"),
    ("bad-pii-key", ["cycle", "status"], {"RECOUP_PII_KEY": "c2VjcmV0a2V5"}, 78, "config.invalid"),
    (
        "mapping-is-a-list",
        ["import", "{day}", "--as-of", "2026-11-20", "--mapping", "{root}/list.json"],
        {},
        65,
        "",
    ),
    ("mapping-is-a-dir", ["import", "{day}", "--as-of", "2026-11-20", "--mapping", "/tmp"], {}, 65, ""),
    (
        "mapping-values-not-a-table",
        ["import", "{day}", "--as-of", "2026-11-20", "--mapping", "{root}/values.toml"],
        {},
        65,
        "",
    ),
    ("parquet-nested-columns", ["import", "{pq}", "--as-of", "2026-11-20"], {}, 65, ""),
    # no template is installed: not_found (66) comes first
    ("template-odd-keys", ["template", "render", "reminder:sms:zh_CN", "{root}/odd.json"], {}, 66, ""),
    ("template-bad-json", ["template", "render", "reminder:sms:zh_CN", "{root}/bad.json"], {}, 66, ""),
    ("template-bad-date", ["template", "render", "reminder:sms:zh_CN", "{root}/date.json"], {}, 66, ""),
    ("env-file-not-utf8", ["cycle", "status"], {"__cwd": "{env_dir}"}, 78, "config.invalid"),
]


def _run(argv: list[str], env: dict[str, str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOUP, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_reported_case_is_a_coded_error_without_traceback(tmp_path: Path) -> None:
    paths = _case_files(tmp_path / "cases")
    fmt = {k: str(v) for k, v in paths.items()}
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    base["RECOUP_DATA_DIR"] = str(tmp_path / "data")
    base["COLUMNS"] = "300"

    def one(
        case: tuple[str, list[str], dict[str, str], int, str],
    ) -> tuple[str, subprocess.CompletedProcess[str]]:
        name, argv, extra, _status, _code = case
        # A data directory per case: two first commands on one fresh SQLite database would race to
        # create it (the loser gets db.busy, exit 75), which is not what these cases are about.
        env = base | {"RECOUP_DATA_DIR": str(tmp_path / f"data-{name}")}
        env |= {k: v.format(**fmt) for k, v in extra.items() if k != "__cwd"}
        cwd = extra.get("__cwd", "{root}").format(**fmt)
        return name, _run([a.format(**fmt) for a in argv], env, cwd)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(one, CASES))
    for name, _argv, _extra, status, code in CASES:
        proc = results[name]
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out, (name, out)
        assert proc.returncode == status, (name, proc.returncode, out)
        if code:
            assert f"[{code}]" in out, (name, out)
        assert "c2VjcmV0a2V5" not in out  # a secret is never echoed


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "audit", "--from", "2026-11-01", "--to", "2026-11-02", "--json"],
        ["strategy", "decisions", "--as-of", "2026-11-20", "--json"],
        ["promise", "judge", "missing.json", "--json"],
    ],
)
def test_json_means_json_for_errors_too(tmp_path: Path, argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env |= {"RECOUP_DATA_DIR": str(tmp_path / "data"), "RECOUP_DATABASE_URL": "sqlite:garbage::"}
    proc = _run(argv, env, str(tmp_path))
    assert proc.returncode != 0, proc.stderr
    # The envelope is the command's stdout (docs/errors.md), one JSON object.
    envelope = json.loads(proc.stdout)
    assert set(envelope["error"]) == {"code", "message", "details"}
    assert "Traceback" not in proc.stderr


def test_two_first_commands_on_a_fresh_database_both_succeed(tmp_path: Path) -> None:
    """Migrations run one process at a time: the second waits for the first instead of db.busy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env["RECOUP_DATA_DIR"] = str(tmp_path / "data")
    procs = [
        subprocess.Popen(
            [RECOUP, "cycle", "status"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
