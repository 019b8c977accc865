"""One language for every CLI group (issue 16 item 9): a representative command of each group prints its
headings, labels and messages in English with ``--lang en`` — no Chinese but the data the test seeds (a
team and an agency with Chinese names) — and in Chinese with ``--lang zh_CN``. Run in-process through
``recoup.cli.run`` (one start-up, one migrated database for both languages)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from recoup.auth import service as auth
from recoup.cli import run
from recoup.db import get_engine, upgraded_session
from recoup.labels_domain import legal_stage_label, one_language, resolution_status_label

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
#: Data the test seeds: the only Chinese an English run may print.
TEAM = "催收一组"
AGENCY = "金盾资产"

#: (command, a Chinese heading or message it prints with --lang zh_CN, its English counterpart).
COMMANDS: list[tuple[list[str], str, str]] = [
    (["user", "list"], "用户", "Users"),
    (["team", "list"], "团队", "Teams"),
    (["staff", "list"], "催收人员", "Workers"),
    (["promise", "judge", "{promise}"], "承诺还款（截至 2026-11-27）", "Promises to pay (as of 2026-11-27)"),
    (["resolution", "list"], "分期、减免与和解", "Plans, waivers and settlements"),
    (["resolution", "matrix", "show"], "审批层级 催收员 < 组长", "ladder collector < team lead"),
    (["legal", "stages"], "可转至", "May move to"),
    (["legal", "matters"], "暂无法律案件", "no legal matter"),
    (["writeoff", "list"], "暂无核销", "no write-off"),
    (["sale", "list"], "暂无债权转让", "no debt sale"),
    (["complaint", "list"], "投诉（待处理）", "Complaints (open)"),
    (["contact", "holds"], "共 0 条暂停", "0 holds"),
    (["qa", "queue"], "质检复核", "QA reviews"),
    (["template", "list"], "话术模板", "Message templates"),
    (["strategy", "show"], "委外催收", "Agency placement"),
    (["strategy", "experiment"], "无运行中的实验", "no experiment is running"),
    (["model", "list"], "暂无模型版本", "no model versions yet"),
    (["simulate", "stats", "{sim}"], "M1 出催率与 90+ 回收率", "M1 cure and 90+ recovery"),
    (["agency", "list"], "可接案？", "May place?"),
    (["writeback", "list"], "暂无回写指令", "no instruction"),
    (["funding", "partner", "list"], "暂无资金方", "no funding partner registered"),
    (["collateral", "list"], "暂无押品", "no collateral"),
    (["ledger", "verify"], "账本校验通过", "ledger OK"),
    (["pii", "fingerprint"], "查询密钥：由个人信息密钥派生", "lookup key: derived from the PII key"),
    (["db", "upgrade"], "数据库已升级至 head", "database at head"),
]

PROMISES = {
    "as_of": "2026-11-27",
    "promises": [
        {"id": "p1", "made_at": "2026-11-10T10:00:00+08:00", "by": "debtor", "amount": "500.00",
         "due_date": "2026-11-20"},
        {"id": "p2", "made_at": "2026-11-10T10:00:00+08:00", "by": "third_party", "amount": "100.00",
         "due_date": "2026-11-30"},
    ],
    "payments": [
        {"id": "x1", "received_date": "2026-11-18", "amount": "300.00", "seen_in_extract": "2026-11-19",
         "payer": "debtor"},
    ],
}  # fmt: skip


@pytest.fixture(autouse=True)
def _no_lang_left_behind() -> Iterator[None]:
    """``--lang`` holds for the run in this process; later tests start from the setting again."""
    from recoup.i18n import set_cli_locale

    yield
    set_cli_locale(None)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    umask = os.umask(0o022)  # run() sets 0o077 for the process: keep the test process's own
    os.umask(umask)
    try:
        status = run(list(argv))
    finally:
        os.umask(umask)
    out, err = capsys.readouterr()
    assert status == 0, (argv, out, err)
    assert "Traceback" not in out + err
    return out


def _foreign(text: str) -> list[str]:
    """Lines with Chinese characters once the seeded data values are taken out."""
    return [
        line.strip() for line in text.splitlines() if CJK.search(line.replace(TEAM, "").replace(AGENCY, ""))
    ]


def test_every_converted_group_prints_one_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    promise = tmp_path / "promises.json"
    promise.write_text(json.dumps(PROMISES), "utf-8")
    sim = tmp_path / "sim"
    # The data both languages read; what the seeding commands print is checked too.
    with upgraded_session() as session:
        auth.do_ensure_default_roles(session=session)
        auth.do_create_user("alice", "correct horse battery", roles=["collector"], session=session)
    created = _run(capsys, "--lang", "en", "team", "create", TEAM, "--kind", "collection")
    assert f"created team {TEAM} (collection), id 1" in created
    profile = _run(capsys, "--lang", "zh_CN", "staff", "set", "alice", "--team", TEAM, "--kind", "collector")
    assert "已创建 alice 的人员档案" in profile
    registered = _run(capsys, "--lang", "zh_CN", "agency", "register", "JDZG", "--name", AGENCY)
    assert f"已登记机构 JDZG（{AGENCY}）：白名单候选" in registered
    generated = _run(capsys, "--lang", "en", "simulate", "generate", "--loans", "20", "--days", "2",
                     "--start", "2026-01-05", "--out", str(sim))  # fmt: skip
    assert "Wrote 2 day directories 2026-01-05 … 2026-01-06" in generated and not CJK.search(generated)

    for argv, zh, en in COMMANDS:
        args = [a.format(promise=promise, sim=sim) for a in argv]
        english = _run(capsys, "--lang", "en", *args)
        assert _foreign(english) == [], (args, english)
        assert en in english, (args, en, english)
        chinese = _run(capsys, "--lang", "zh_CN", *args)
        assert zh in " ".join(chinese.split()) or zh in chinese, (args, zh, chinese)
        assert en not in chinese, (args, en, chinese)
    get_engine().dispose()


def test_vocabulary_and_enum_values_are_words_in_either_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    promise = tmp_path / "promises.json"
    promise.write_text(json.dumps(PROMISES), "utf-8")
    english = _run(capsys, "--lang", "en", "promise", "judge", str(promise))
    # 300.00 of the 500.00 due on 11-20 was paid by 11-27: partially kept; p2 (a third party's): not counted.
    assert "partially kept" in english and "not counted" in english and "(third party)" in english
    assert "partially_kept" not in english and "not_counted" not in english
    chinese = _run(capsys, "--lang", "zh_CN", "promise", "judge", str(promise))
    assert "部分履约" in chinese and "不计入" in chinese and "（第三方）" in chinese
    # --json is never translated: the codes, the same in either language.
    coded = json.loads(_run(capsys, "--lang", "zh_CN", "promise", "judge", str(promise), "--json"))
    assert [p["status"] for p in coded["promises"]] == ["partially_kept", "not_counted"]

    assert (legal_stage_label("payment_order", "en"), legal_stage_label("payment_order", "zh_CN")) == (
        "payment order",
        "支付令",
    )
    assert (
        resolution_status_label("pending", "zh_CN") == "待审批" and resolution_status_label("x", "en") == "x"
    )
    note = "报送不良信息前告知本人 · notice before negative credit reporting"
    assert one_language(note, "en") == "notice before negative credit reporting"
    assert one_language(note, "zh_CN") == "报送不良信息前告知本人"
    assert one_language("plain · text", "zh_CN") == "plain · text"  # not a 中文 · English pair
