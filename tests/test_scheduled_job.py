"""The lender's scheduled job (issue 16, acceptance): ``scripts/daily_job.sh`` runs import → cycle →
dispatch → report with ``--json`` for five days of a simulated lender's extracts; every step exits 0 and
every stdout is one JSON object. A day whose extract is missing stops the job with exit 66 and the error
envelope; a bad day given to the job is a usage error (64)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "daily_job.sh"
BIN = Path(sys.executable).parent
FIRST = dt.date(2026, 11, 16)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(5)]
STEPS = ("import", "cycle", "dispatch", "report")

pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["RECOUP_DATA_DIR"] = str(tmp_path / "data")
    return env


def _job(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_five_days_of_the_daily_job_exit_0_and_print_json(tmp_path: Path) -> None:
    env = _env(tmp_path)
    argv = ["simulate", "generate", "--loans", "250", "--start", FIRST.isoformat(), "--days", "5"]
    gen = subprocess.run(
        [str(BIN / "recoup"), *argv, "--seed", "7", "--out", str(tmp_path / "extracts")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gen.returncode == 0, gen.stderr
    jobs = tmp_path / "data" / "jobs"
    for i, day in enumerate(DAYS):
        args = (["--full"] if i == 0 else []) + ["extracts", day.isoformat()]
        proc = _job(env, tmp_path, *args)
        assert proc.returncode == 0, (day, proc.stderr)
        assert "Traceback" not in proc.stderr
        for step in STEPS:
            assert f"daily job {day}: {step} exit 0" in proc.stderr
            out = (jobs / day.isoformat() / f"{step}.json").read_text("utf-8")
            assert len(out.strip().splitlines()) == 1, (step, out)  # one JSON object, one line
            doc = json.loads(out)
            assert isinstance(doc, dict) and "error" not in doc, (step, doc)
        imported = json.loads((jobs / day.isoformat() / "import.json").read_text("utf-8"))
        assert imported["as_of"] == day.isoformat() and imported["published"] is True
        assert imported["rejected"] == 0
        cycle = json.loads((jobs / day.isoformat() / "cycle.json").read_text("utf-8"))
        assert [r["as_of"] for r in cycle["runs"]] == [day.isoformat()]
        assert all(s["status"] in {"done", "skipped"} for s in cycle["runs"][0]["steps"]), cycle
        sent = json.loads((jobs / day.isoformat() / "dispatch.json").read_text("utf-8"))
        assert set(sent["counts"]) >= {"sent", "blocked", "expired"}
        report = json.loads((jobs / day.isoformat() / "report.json").read_text("utf-8"))
        assert report["as_of"] == day.isoformat()
        # Progress went to the step's log as timestamped lines (stderr is not a terminal).
        log = (jobs / day.isoformat() / "cycle.log").read_text("utf-8")
        assert "recoup cycle: started" in log and "recoup cycle: finished in" in log

    # The next day's extract has not arrived: the job stops at the import with 66 and the envelope.
    missing = (DAYS[-1] + dt.timedelta(days=1)).isoformat()
    proc = _job(env, tmp_path, "extracts", missing)
    assert proc.returncode in {65, 66}, proc.stderr
    error = json.loads((jobs / missing / "import.json").read_text("utf-8"))
    assert set(error["error"]) == {"code", "message", "details"}
    assert not (jobs / missing / "cycle.json").exists()  # the job stopped at the failed step

    # A day that is not a date is a usage error, as JSON too.
    proc = _job(env, tmp_path, "extracts", "2026-13-40")
    assert proc.returncode == 64, proc.stderr
    error = json.loads((jobs / "2026-13-40" / "import.json").read_text("utf-8"))
    assert error["error"]["code"] == "usage"
