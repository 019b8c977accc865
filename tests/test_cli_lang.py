"""One language setting for the CLI (issue 16 item 9, why-list 12): ``RECOUP_LOCALE`` or ``recoup --lang``
selects zh_CN or en for what the CLI prints; the catalogs translate every CLI string; ``--json`` is never
translated; ``policy check`` names each rule and its reason.

The demo runs once per language (200 loans, 2 days, both at once): with ``RECOUP_LOCALE=en`` it prints no
Chinese except data (the demo's two agencies have Chinese names; no borrower data is printed); by default
its headings are Chinese."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policy_cases import ALL
from recoup.cli import run
from recoup.web import catalog

RECOUP = str(Path(sys.executable).with_name("recoup"))
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


@pytest.fixture(autouse=True)
def _no_lang_left_behind() -> Iterator[None]:
    """``--lang`` holds for the run in this process; later tests start from the setting again."""
    from recoup.i18n import set_cli_locale

    yield
    set_cli_locale(None)


def _env(data: Path, locale: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_") or k.startswith("RECOUP_TEST_")}
    env["RECOUP_DATA_DIR"] = str(data)
    if locale is not None:
        env["RECOUP_LOCALE"] = locale
    return env


def _recoup(data: Path, locale: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECOUP, *args], env=_env(data, locale), capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """``recoup demo --loans 200 --days 2`` with RECOUP_LOCALE=en and with the default, run side by side."""
    procs: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    for name, locale in (("en", "en"), ("default", None)):
        data = tmp_path_factory.mktemp(f"demo-{name}")
        args = [RECOUP, "demo", "--loans", "200", "--days", "2", "--serve", "0"]
        proc = subprocess.Popen(
            args, env=_env(data, locale), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs[name] = (data, proc)
    out: dict[str, tuple[Path, str]] = {}
    for name, (data, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
        out[name] = (data, stdout)
    return out


#: Runs several ``recoup`` commands in one process (one start-up): [{"status", "out"}] as JSON.
_BATCH = """
import contextlib, io, json, sys
from recoup.cli import run
done = []
for argv in json.loads(sys.argv[1]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = run(argv)
    done.append({"status": status, "out": buf.getvalue()})
sys.stdout.write(json.dumps(done))
"""


def _batch(data: Path, locale: str | None, *argvs: list[str]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-c", _BATCH, json.dumps(argvs)],
        env=_env(data, locale),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    runs: list[dict[str, Any]] = json.loads(proc.stdout)
    for argv, r in zip(argvs, runs, strict=True):
        assert r["status"] == 0, (argv, r)
    return runs


def _foreign_lines(text: str, data_values: list[str]) -> list[str]:
    """Lines with Chinese characters once the data values (names) are taken out."""
    bad = []
    for line in text.splitlines():
        for value in data_values:
            line = line.replace(value, "")
        if CJK.search(line):
            bad.append(line.strip())
    return bad


# --- the catalogs ---------------------------------------------------------------------------------------


def test_every_cli_string_is_translated_with_the_same_placeholders() -> None:
    ids = catalog.extract_cli()
    assert len(ids) > 100, "the CLI marks its strings with recoup.i18n._"
    zh, en = catalog.load("zh_CN"), catalog.load("en")
    for msgid in ids:
        assert (m := zh.get(msgid)) is not None and m.string, f"zh_CN lacks {msgid!r}"
        assert (m := en.get(msgid)) is not None and m.string, f"en lacks {msgid!r}"
    assert catalog.placeholder_mismatches("zh_CN") == []
    assert catalog.placeholder_mismatches("en") == []
    assert "Portfolio as of {as_of}" in ids and "In short" in ids


def test_a_marked_string_without_a_translation_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = catalog.extract_cli()
    monkeypatch.setattr(catalog, "extract_cli", lambda: [*ids, "A new CLI line nobody translated {n}"])
    assert "A new CLI line nobody translated {n}" in catalog.missing("zh_CN")


def test_labels_one_function_per_vocabulary() -> None:
    from recoup.labels import (
        bucket_label,
        class_label,
        outbox_label,
        product_label,
        segment_label,
        treatment_label,
        verdict_label,
    )

    assert (product_label("cash_loan", "en"), product_label("cash_loan", "zh_CN")) == ("Cash loan", "现金贷")
    assert (segment_label("mild", "en"), segment_label("mild", "zh_CN")) == ("Mild", "轻度")
    assert treatment_label("agency_placement", "en") == "Agency placement"
    assert treatment_label("agency_placement", "zh_CN") == "委外催收"
    assert class_label("special_mention", "en") == "Special mention"
    assert (bucket_label("M3", "en"), bucket_label("C", "en")) == ("M3", "C (current)")
    assert verdict_label("deferred", "zh_CN") == "顺延"
    assert outbox_label("expired", "zh_CN", with_code=True) == "已过期 · expired"
    assert product_label("payday", "en") == "payday"  # an unknown code is shown as it is


# --- --lang -----------------------------------------------------------------------------------------------


def test_a_bad_lang_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--lang", "fr", "db", "heads"]) == 64
    assert "zh_CN or en" in capsys.readouterr().err
    assert run(["--lang", "fr", "policy", "presets", "--json"]) == 64
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "usage"
    # The error header follows the language, even for a usage error found before the command runs.
    assert run(["--lang", "en", "--bogus"]) == 64
    assert capsys.readouterr().err.startswith("error [usage]")
    assert run(["--bogus"]) == 64
    assert capsys.readouterr().err.startswith("错误 [usage]")


def _scenario(tmp_path: Path) -> Path:
    case = next(c for c in ALL if c["name"] == "us-7in7-full")
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(case["scenario"]), "utf-8")
    return path


def test_policy_check_names_each_rule_and_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.config import get_settings

    path = _scenario(tmp_path)
    assert run(["policy", "check", str(path), "--json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    rules = {r for v in doc["verdicts"] for r in v["rules"]}
    assert "US-7IN7" in rules

    assert run(["--lang", "en", "policy", "check", str(path), "--table"]) == 0
    en = " ".join(capsys.readouterr().out.split())
    assert "US-7IN7" in en and "At most 7 calls about a debt in 7 consecutive days" in en
    assert "12 CFR" in en and not CJK.search(en)

    monkeypatch.setenv("RECOUP_LOCALE", "en")
    get_settings.cache_clear()
    assert run(["--lang", "zh_CN", "policy", "check", str(path), "--table"]) == 0  # --lang beats the setting
    zh = " ".join(capsys.readouterr().out.split())
    assert "7天内就同一债务致电不超过7次" in zh and "联系策略判定" in zh

    # --json is never translated: the same object in either language.
    assert run(["--lang", "zh_CN", "policy", "check", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == doc


# --- the demo and the daily job's commands ----------------------------------------------------------


def test_demo_in_english_prints_no_chinese_but_data(demos: dict[str, tuple[Path, str]]) -> None:
    data, out = demos["en"]
    (listed,) = _batch(data, "en", ["agency", "list", "--json"])
    names = [a["name"] for a in json.loads(listed["out"])["agencies"]]
    assert _foreign_lines(out, names) == []
    for heading in ("Portfolio as of", "By product", "Five-category class", "In short", "audit ledger"):
        assert heading in out
    assert "Cash loan" in out and "cash_loan" not in out  # vocabulary as words, not codes
    assert "Agency placement" in out and "agency_placement" not in out
    # The closing summary explains cases against accounts; the ledger's hash comes last, labelled.
    assert "one case per borrower" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("audit ledger: verified") and "head hash" in last


def test_demo_by_default_prints_chinese_headings(demos: dict[str, tuple[Path, str]]) -> None:
    _data, out = demos["default"]
    for heading in ("资产组合", "按产品", "五级分类", "小结", "审计账本", "合计", "委外催收", "现金贷"):
        assert heading in out, heading
    assert "Portfolio as of" not in out and "By product" not in out


def test_the_daily_jobs_commands_follow_the_language(demos: dict[str, tuple[Path, str]]) -> None:
    data, _out = demos["en"]
    listed, people, cycle, dispatch, agencies, collectors, zh = _batch(
        data,
        "en",
        ["agency", "list", "--json"],
        ["report", "collectors", "--month", "2026-09", "--json"],
        ["cycle", "status", "-n", "6"],
        ["dispatch", "status"],
        ["report", "agencies", "--month", "2026-09"],
        ["report", "collectors", "--month", "2026-09"],
        ["--lang", "zh_CN", "report", "agencies", "--month", "2026-09"],  # --lang beats RECOUP_LOCALE
    )
    names = [a["name"] for a in json.loads(listed["out"])["agencies"]]
    names += [c["display_name"] for c in json.loads(people["out"])["collectors"] if c["display_name"]]
    for r in (dispatch, agencies, collectors):
        assert _foreign_lines(r["out"], names) == [], r["out"]
    # cycle status lists the recorded runs: its headings follow the language; a step's recorded detail
    # is the text the run wrote.
    head = "\n".join(cycle["out"].splitlines()[:4])
    assert "Daily cycle runs" in head and "Finished (UTC)" in head and not CJK.search(head)
    assert "Recovery rate" in agencies["out"] and "Outbox" in dispatch["out"]
    assert "委外机构" in zh["out"] and "回收率" in zh["out"] and "Recovery rate" not in zh["out"]
