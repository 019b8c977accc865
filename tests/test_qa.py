"""Quality inspection (录音质检): machine checks on transcripts, the human sample, appeals, stand-downs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.contact.models import ContactAttempt, QaFinding, QaReview
from recoup.contact.qa import (
    QaConfig,
    QaError,
    Segment,
    agency_scores,
    check_transcript,
    do_appeal,
    do_decide_appeal,
    do_import_transcripts,
    do_review,
    do_sweep_recordings,
    in_sample,
    stood_down,
)
from recoup.contact.service import do_record_attempt
from recoup.contact.vocab import AttemptOutcome, Channel, Party
from recoup.errors import ConflictError
from recoup.pii import PiiCipher

SH = dt.timezone(dt.timedelta(hours=8))
CFG = QaConfig(institution_names=("示例消费金融", "Example Finance"), preset="cn", sample_rate=0.0)
CIPHER = PiiCipher(bytes(range(32)))


def seg(speaker: str, start: float, text: str) -> Segment:
    return Segment(speaker=speaker, start=start, end=start + 4, text=text)


POLITE = [
    seg("agent", 0.5, "您好，我是示例消费金融的客服小王，请问是张先生吗？"),
    seg("customer", 5, "是我。"),
    seg("agent", 8, "您的借款已逾期14天，逾期金额1234.56元，请问什么时候方便还款？"),
    seg("customer", 15, "我明天发工资就还。"),
    seg("agent", 20, "好的，感谢您的配合，还款请通过官方App。"),
]


def test_a_polite_call_with_a_heard_promise_is_clean() -> None:
    assert check_transcript(POLITE, disposition="promise_to_pay", config=CFG) == []


def test_institution_not_named_at_the_start() -> None:
    segs = [seg("agent", 1, "喂，张先生吗？你的钱什么时候还？"), *POLITE[1:]]
    issues = check_transcript(segs, disposition=None, config=CFG)
    assert [i.rule for i in issues] == ["CN-ID"]
    late = [seg("agent", 1, "喂？"), seg("agent", 40, "我是示例消费金融的"), *POLITE[1:]]
    assert "CN-ID" in [i.rule for i in check_transcript(late, disposition=None, config=CFG)]


def test_promise_logged_but_not_heard() -> None:
    segs = [*POLITE[:3], seg("customer", 15, "我现在没钱，别打了。")]
    issues = check_transcript(segs, disposition="promise_to_pay", config=CFG)
    assert [i.rule for i in issues] == ["QA-PTP-UNHEARD"]
    en = [
        seg("agent", 0, "Hello, this is Example Finance calling about your account."),
        seg("customer", 5, "OK, I'll pay on Friday."),
    ]
    assert check_transcript(en, disposition="promise_to_pay", config=CFG) == []


def test_red_line_words_are_caught_with_the_time() -> None:
    segs = [*POLITE[:2], seg("agent", 9.5, "你这个老赖，不还钱就等着我们上门找你家人！")]
    issues = check_transcript(segs, disposition=None, config=CFG)
    red = [i for i in issues if i.severity == "red_line"]
    assert red and all(i.at_seconds == 9.5 for i in red)


def _attempt(
    session: Session,
    ext: str,
    *,
    by: str = "ag1-07",
    agency: str | None = "AG1",
    disposition: str | None = None,
    recording: str | None = "rec.wav",
    outcome: AttemptOutcome = AttemptOutcome.CONVERSATION,
) -> ContactAttempt:
    return do_record_attempt(
        session=session,
        source="collector",
        external_id=ext,
        borrower_key="B1",
        at=dt.datetime(2026, 11, 24, 10, tzinfo=SH),
        channel=Channel.CALL,
        party=Party.DEBTOR,
        destination="13800000001",
        outcome=outcome,
        made_by=by,
        agency=agency,
        disposition=disposition,
        recording_ref=recording,
        cipher=CIPHER,
    )


def _file(tmp_path: Path, lines: list[dict[str, object]]) -> Path:
    path = tmp_path / "transcripts.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), "utf-8")
    return path


def test_import_stand_down_review_appeal(session: Session, tmp_path: Path) -> None:
    _attempt(session, "c1", disposition="promise_to_pay")
    _attempt(session, "c2", by="ag1-08")
    rude = [
        POLITE[0].model_dump(),
        {"speaker": "agent", "start": 9, "end": 12, "text": "你就是个骗子，不要脸"},
    ]
    path = _file(
        tmp_path,
        [
            {"call_id": "c1", "segments": [s.model_dump() for s in POLITE]},
            {"call_id": "c2", "segments": rude},
            {"call_id": "unknown", "segments": rude},
        ],
    )
    rep = do_import_transcripts(path, session=session, config=CFG)
    assert (rep.transcripts, rep.unknown_calls) == (2, 1)
    assert (
        rep.red_lines >= 1
        and not stood_down("ag1-07", session=session)
        and stood_down("ag1-08", session=session)
    )
    # Importing again changes nothing.
    again = do_import_transcripts(path, session=session, config=CFG)
    assert (again.transcripts, again.findings) == (0, 0)
    review = session.scalars(select(QaReview)).one()
    assert review.reason == "red_line" and review.status == "queued"
    do_review(review.id, session=session, reviewer="qa-lead", passed=False, note="insults")
    assert {f.status for f in session.scalars(select(QaFinding))} == {"confirmed"}
    with pytest.raises(Exception, match="collector"):
        do_appeal(review.id, session=session, collector="someone-else", note="not me")
    do_appeal(review.id, session=session, collector="ag1-08", note="the customer insulted me first")
    with pytest.raises(Exception, match="different reviewer"):
        do_decide_appeal(review.id, session=session, reviewer="qa-lead", upheld=False)
    do_decide_appeal(review.id, session=session, reviewer="qa-head", upheld=True, note="words are red lines")
    assert stood_down("ag1-08", session=session)  # upheld: the stand-down stays
    with pytest.raises(ConflictError):
        do_review(review.id, session=session, reviewer="x", passed=True)
    ((agency, red, total),) = agency_scores(session=session)
    assert agency == "AG1" and red >= 1 and total >= red


def test_overturned_appeal_lifts_the_stand_down(session: Session, tmp_path: Path) -> None:
    _attempt(session, "c3", by="ag2-01", agency="AG2")
    rude = [POLITE[0].model_dump(), {"speaker": "agent", "start": 9, "end": 12, "text": "老赖，小心你家人"}]
    do_import_transcripts(_file(tmp_path, [{"call_id": "c3", "segments": rude}]), session=session, config=CFG)
    assert stood_down("ag2-01", session=session)
    review = session.scalars(select(QaReview)).one()
    do_review(review.id, session=session, reviewer="r1", passed=False)
    do_appeal(review.id, session=session, collector="ag2-01", note="transcription error")
    do_decide_appeal(review.id, session=session, reviewer="r2", upheld=False)
    assert not stood_down("ag2-01", session=session)
    assert {f.status for f in session.scalars(select(QaFinding))} == {"dismissed"}
    assert agency_scores(session=session) == []


def test_bad_line_names_the_line_and_writes_nothing(session: Session, tmp_path: Path) -> None:
    _attempt(session, "c1")
    path = _file(
        tmp_path,
        [
            {"call_id": "c1", "segments": [s.model_dump() for s in POLITE]},
            {"call_id": "c1", "segments": [{"speaker": "robot", "start": 0, "end": 1, "text": "x"}]},
        ],
    )
    with pytest.raises(QaError, match=r"line 2: segments\.0\.speaker"):
        do_import_transcripts(path, session=session, config=CFG)
    assert session.scalars(select(QaFinding)).first() is None


def test_connected_calls_without_a_recording(session: Session) -> None:
    _attempt(session, "r1", recording=None)
    _attempt(session, "r2", recording="x.wav")
    _attempt(session, "r3", recording=None, outcome=AttemptOutcome.NO_ANSWER)
    start = dt.datetime(2026, 11, 24, tzinfo=SH)
    assert do_sweep_recordings(session=session, start=start, end=start + dt.timedelta(days=1)) == 1
    assert do_sweep_recordings(session=session, start=start, end=start + dt.timedelta(days=1)) == 0
    f = session.scalars(select(QaFinding)).one()
    assert f.rule == "CN-REC"


def test_sample_is_stable_and_near_the_rate() -> None:
    ids = [f"collector:call-{i}" for i in range(20_000)]
    picked = [i for i in ids if in_sample(i, 0.05)]
    assert abs(len(picked) / len(ids) - 0.05) < 0.005
    assert picked == [i for i in ids if in_sample(i, 0.05)]
    assert set(picked) <= {i for i in ids if in_sample(i, 0.10)}  # a larger rate keeps the smaller sample
