"""The hand-written policy scenarios (tests/policy_cases.py) judged by the engine and by the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policy_cases import ALL, CN, US
from recoup.contact.policy.scenario import ScenarioError, check_scenario, load_scenario


def _check(case: dict[str, Any], out: dict[str, Any]) -> None:
    got = {v["id"]: v for v in out["verdicts"]}
    assert set(got) == set(case["expected"]), case["name"]
    for pid, exp in case["expected"].items():
        v = got[pid]
        assert v["verdict"] == exp[0], f"{case['name']}/{pid}: {v}"
        assert set(v["rules"]) == exp[1], f"{case['name']}/{pid}: {v}"
        if exp[0] == "deferred":
            want = dt.datetime.fromisoformat(exp[2])
            assert dt.datetime.fromisoformat(v["defer_until"]) == want, f"{case['name']}/{pid}: {v}"
            # Shown on the borrower's clock: the offset is the borrower's offset at that instant.
            assert v["defer_until"].endswith(exp[2][-6:]), f"{case['name']}/{pid}: {v}"
        else:
            assert "defer_until" not in v


def test_enough_scenarios() -> None:
    assert len(CN) >= 30 and len(US) >= 30 and len(ALL) >= 60


@pytest.mark.parametrize("case", ALL, ids=[c["name"] for c in ALL])
def test_scenario(case: dict[str, Any]) -> None:
    _check(case, check_scenario(case["scenario"]))


def _recoup(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECOUP_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "recoup.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_check(tmp_path: Path) -> None:
    case = next(c for c in ALL if c["name"] == "us-7in7-full")
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(case["scenario"]), "utf-8")
    result = _recoup(tmp_path, "policy", "check", str(path), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    _check(case, out)
    assert out["preset"].startswith("us@builtin.")
    bad = tmp_path / "bad.json"
    bad.write_text('{"now": "2026-11-24T10:00:00", "proposed": []}', "utf-8")
    result = _recoup(tmp_path, "policy", "check", str(bad))
    assert result.returncode == 65 and "now" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"proposed": [{"id": "p", "at": "2026-11-24T10:00:00", "channel": "call", "destination": "m"}]},
         "proposed[0].at"),
        ({"proposed": [{"id": "p", "at": "2026-11-24T10:00:00+08:00", "channel": "phone",
                        "destination": "m"}]}, "proposed[0].channel"),
        ({"borrower": {"timezone": "Mars/Olympus"}}, "borrower.timezone"),
        ({"borrower": {"flags": ["rich"]}}, "borrower.flags"),
        ({"borrower": {"holds": [{"kind": "nap", "start": "2026-11-24T10:00:00+08:00"}]}},
         "borrower.holds[0].kind"),
        ({"history": [{"at": "2026-11-24T10:00:00+08:00", "channel": "call", "destination": "m",
                       "outcome": "ok"}]}, "history[0].outcome"),
        ({"surprise": 1}, "surprise"),
    ],
)  # fmt: skip
def test_invalid_scenario_names_the_field(patch: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {
        "preset": "cn",
        "now": "2026-11-24T10:00:00+08:00",
        "proposed": [{"id": "p", "at": "2026-11-24T10:00:00+08:00", "channel": "call", "destination": "m"}],
    }
    with pytest.raises(ScenarioError) as err:
        load_scenario({**base, **patch})
    assert field in err.value.message


def test_unknown_preset_is_clear() -> None:
    from recoup.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no preset 'xx'"):
        check_scenario({"preset": "xx", "now": "2026-11-24T10:00:00+08:00", "proposed": []})


def test_cli_presets_copy_show_and_audit(tmp_path: Path) -> None:
    result = _recoup(
        tmp_path, "policy", "copy", "cn", "cn-strict", "--set", "CN-FREQ-CONN.max=2", "--by", "officer"
    )
    assert result.returncode == 0, result.stderr
    assert "cn-strict@1" in result.stdout
    shown = _recoup(tmp_path, "policy", "show", "cn-strict", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["version"] == "cn-strict@1" and data["rules"]["CN-FREQ-CONN"]["max"] == 2
    bad = _recoup(tmp_path, "policy", "copy", "cn", "x", "--set", "CN-FREQ-CONN.maxx=2")
    assert bad.returncode == 65 and "CN-FREQ-CONN" in bad.stderr and "maxx" in bad.stderr
    audit = _recoup(tmp_path, "policy", "audit", "--from", "2026-11-01", "--to", "2026-11-30", "--json")
    assert audit.returncode == 0, audit.stderr
    assert json.loads(audit.stdout) == {"violations": [], "count": 0}
