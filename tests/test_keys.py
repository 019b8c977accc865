"""Keys and settings that would silently lose data (issue 17 F14, F15, F17), through the real command."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

RECOUP = str(Path(sys.executable).parent / "recoup")
BORROWERS = "borrower_id,name,national_id,customer_type\nC1,张伟,110101199003071233,个人\n"
OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    return env | {"RECOUP_DATA_DIR": str(data), "COLUMNS": "300"} | extra


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOUP, *args], env=env, capture_output=True, text=True, timeout=180)


def _day(root: Path, name: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "borrowers.csv").write_text(BORROWERS + f"C{len(name)}{name},李娜,,个人\n", encoding="utf-8")
    return d


def test_another_key_or_a_lost_key_is_refused_and_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data)
    first = _run(env, "import", str(_day(tmp_path, "d1")), "--as-of", "2026-11-20")
    assert first.returncode == 0, first.stderr
    # F14: the database, the lake and the key are private to their owner.
    assert stat.S_IMODE((data / "recoup.db").stat().st_mode) == 0o600
    lake_files = [p for p in (data / "lake").rglob("*") if p.is_file()]
    assert lake_files and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in lake_files)
    assert stat.S_IMODE((data / "lake").stat().st_mode) == 0o700
    # F15: another valid key is refused, and is not echoed.
    other = _run(
        _env(data, RECOUP_PII_KEY=OTHER_KEY), "import", str(_day(tmp_path, "d2")), "--as-of", "2026-11-21"
    )
    assert other.returncode == 78, other.stderr
    assert "config.invalid" in other.stderr and "not the key" in other.stderr
    assert OTHER_KEY not in other.stderr + other.stdout
    # F15: a deleted key file is not silently regenerated.
    key_file = data / "secrets" / "pii.key"
    key = key_file.read_text()
    key_file.unlink()
    lost = _run(env, "import", str(tmp_path / "d2"), "--as-of", "2026-11-21")
    assert lost.returncode == 78 and "missing" in lost.stderr, lost.stderr
    assert not key_file.exists()
    # The original key, restored, works again.
    key_file.write_text(key)
    again = _run(env, "import", str(tmp_path / "d2"), "--as-of", "2026-11-21")
    assert again.returncode == 0, again.stderr


def test_an_explicit_sqlite_database_must_exist(tmp_path: Path) -> None:
    """F17: a typo in RECOUP_DATABASE_URL creates no directory and no empty database."""
    missing_dir = tmp_path / "nonexistent" / "dir"
    p = _run(_env(tmp_path / "data", RECOUP_DATABASE_URL=f"sqlite:///{missing_dir}/x.db"), "dispatch", "run")
    assert p.returncode == 78 and "does not exist" in p.stderr, p.stderr
    assert not missing_dir.parent.exists()
    url = f"sqlite:///{tmp_path}/x.db"
    p = _run(_env(tmp_path / "data", RECOUP_DATABASE_URL=url), "dispatch", "run")
    assert p.returncode == 78 and "recoup db upgrade" in p.stderr, p.stderr
    assert not (tmp_path / "x.db").exists()
    assert _run(_env(tmp_path / "data", RECOUP_DATABASE_URL=url), "db", "upgrade").returncode == 0
    assert _run(_env(tmp_path / "data", RECOUP_DATABASE_URL=url), "dispatch", "run").returncode == 0
