"""Champion/challenger experiments: a stable hash we define ourselves, assignment that keeps an account in
its arm across days and runs, shares within 1 percentage point on 100,000 accounts (acceptance), an
untreated holdout that still gets the notices the law requires, and a randomised exploration share."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from sqlalchemy.orm import Session

from recoup.strategy import experiments, service
from recoup.strategy.definition import Strategy, StrategyError, load_strategy
from recoup.strategy.experiments import (
    Experiment,
    assign_arms,
    load_experiment,
    stable_hash,
    stable_hash_one,
    stable_uniform,
)
from recoup.strategy.kernel import Plan, decide

AS_OF = dt.date(2026, 11, 20)
N = 100_000


def _ids(n: int = N) -> pl.Series:
    return pl.Series("loan_id", [f"L{i:09d}" for i in range(n)])


def _exp(**kw: Any) -> Experiment:
    doc: dict[str, Any] = {
        "name": "gentle-2026-12",
        "arms": [
            {"name": "champion", "strategy": "default", "share": 0.6},
            {"name": "gentle", "strategy": "gentle", "share": 0.25},
        ],
        "holdout": 0.15,
    }
    return load_experiment({**doc, **kw})


def test_the_hash_is_ours_and_pinned() -> None:
    # FNV-1a 64 (the published test vector for "a"), then the splitmix64 finaliser.
    assert experiments._fnv1a(b"a") == 0xAF63DC4C8601EC8C
    ids = pl.Series(["L000000001", "L2", "", "借款-一号", "x" * 70, "42"])
    assert [int(h) for h in stable_hash(ids, "exp-1")] == [stable_hash_one("exp-1", i) for i in ids.to_list()]
    # Pinned: these numbers must never change, on any machine or library version, or every running
    # experiment would reshuffle its accounts.
    assert stable_hash_one("exp-1", "L000000001") == 7004656602051376245
    assert int(stable_hash(pl.Series(["L000000001"]), "exp-1")[0]) == 7004656602051376245
    # Integer ids hash as their decimal text; slices and chunked series give the same values.
    assert np.array_equal(stable_hash(pl.Series([42, 7]), "s"), stable_hash(pl.Series(["42", "7"]), "s"))
    big = _ids(1000)
    chunked = pl.concat([big.slice(0, 300), big.slice(300)], rechunk=False)
    assert np.array_equal(stable_hash(chunked, "s"), stable_hash(big, "s"))
    assert np.array_equal(stable_hash(big.slice(500, 10), "s"), stable_hash(big, "s")[500:510])
    u = stable_uniform(big, "s")
    assert ((u >= 0) & (u < 1)).all()
    with pytest.raises(ValueError):
        stable_hash(pl.Series(["a", None]), "s")


def test_assignment_is_stable_across_days_runs_and_order() -> None:
    exp = _exp()
    ids = _ids(20_000)
    arms = assign_arms(ids, exp)
    again = assign_arms(ids, exp)
    assert arms.equals(again)
    # Order and the rest of the book do not matter: a shuffled subset gets the same arms.
    perm = np.random.default_rng(1).permutation(ids.len())[:5000]
    assert assign_arms(ids.gather(perm), exp).equals(arms.gather(perm))
    # Across days: the decisions of two days give every account the same arm.
    champion = load_strategy(
        {"name": "default", "rows": [{"id": "all", "then": {"treatment": "no_action"}}]}, version=1
    )
    plan = Plan(champion=champion, experiment=exp, arms={"champion": champion, "gentle": champion})
    frame = pl.DataFrame({"loan_id": ids, "dpd": pl.Series([5] * ids.len())})
    d1 = decide(frame, plan, as_of=AS_OF)
    d2 = decide(frame, plan, as_of=AS_OF + dt.timedelta(days=30))
    assert d1.get_column("arm").equals(d2.get_column("arm")) and d1.get_column("arm").equals(arms)
    # Another experiment name reshuffles (independent randomisation per experiment).
    other = assign_arms(ids, _exp(name="another"))
    assert 0.4 < float((other == arms).mean()) < 0.6  # ≈ 0.6² + 0.25² + 0.15² = 0.445 by chance
    # By borrower: all of a borrower's loans share the arm.
    byb = _exp(unit="borrower")
    loans = pl.DataFrame(
        {"loan_id": [f"L{i}" for i in range(6000)], "borrower_id": [f"B{i // 3}" for i in range(6000)]}
    )
    d = decide(
        loans,
        Plan(champion=champion, experiment=byb, arms={"champion": champion, "gentle": champion}),
        as_of=AS_OF,
    )
    assert d.group_by("borrower_id").agg(pl.col("arm").n_unique()).get_column("arm").max() == 1


def test_shares_within_one_percentage_point_on_100000_accounts() -> None:
    """Acceptance: within 1 pp of the configured shares on 100,000 accounts."""
    for shares, holdout in (
        ([0.6, 0.25], 0.15),
        ([0.5, 0.5], 0.0),
        ([0.9, 0.05], 0.05),
        ([0.34, 0.33], 0.33),
    ):
        exp = load_experiment(
            {
                "name": f"e-{shares[0]}",
                "arms": [{"name": f"a{i}", "strategy": "s", "share": s} for i, s in enumerate(shares)],
                "holdout": holdout,
            }
        )
        arms = assign_arms(_ids(), exp)
        counts = dict(arms.value_counts().iter_rows())
        assert sum(counts.values()) == N
        expected = {f"a{i}": s for i, s in enumerate(shares)} | ({"holdout": holdout} if holdout else {})
        assert set(counts) == set(expected)
        for arm, share in expected.items():
            assert abs(counts[arm] / N - share) < 0.01, (arm, counts[arm] / N, share)


def _ladder() -> tuple[Strategy, Strategy]:
    notice = {
        "id": "notice",
        "when": {"dpd": 25},
        "then": {"treatment": "sms", "template": "credit_notice", "tone": "formal", "priority": 90},
        "required_notice": True,
    }
    champion = load_strategy(
        {
            "name": "default",
            "rows": [
                notice,
                {
                    "id": "call",
                    "when": {"dpd": {"ge": 16}},
                    "then": {"treatment": "agent_call", "queue": "early"},
                },
                {"id": "text", "then": {"treatment": "sms", "template": "reminder"}},
            ],
        },
        version=4,
    )
    gentle = load_strategy(
        {"name": "gentle", "rows": [{"id": "mail", "then": {"treatment": "email", "template": "reminder"}}]},
        version=2,
    )
    return champion, gentle


def test_holdout_gets_no_action_except_required_notices_and_challengers_their_strategy() -> None:
    champion, gentle = _ladder()
    exp = _exp()
    plan = Plan(champion=champion, experiment=exp, arms={"champion": champion, "gentle": gentle})
    n = 30_000
    frame = pl.DataFrame({"loan_id": _ids(n), "dpd": pl.Series(np.tile([3, 20, 25], n // 3))})
    d = decide(frame, plan, as_of=AS_OF)
    hold = d.filter(pl.col("arm") == "holdout")
    assert 0.14 < hold.height / n < 0.16
    # Holdout: required notices go out (dpd 25); everything else is no_action, with the reason.
    notices = hold.filter(pl.col("dpd") == 25)
    assert (
        set(notices.get_column("treatment").to_list()) == {"sms"}
        and notices.get_column("required_notice").all()
    )
    assert (
        notices.get_column("reasons")[0]
        == "dpd=25 → row notice (required notice, sent to every arm); arm holdout of gentle-2026-12"
    )
    rest = hold.filter(pl.col("dpd") != 25)
    assert set(rest.get_column("treatment").to_list()) == {"no_action"}
    assert rest.get_column("template").null_count() == rest.height and set(rest.get_column("priority")) == {0}
    assert rest.filter(pl.col("dpd") == 20).get_column("reasons")[0] == (
        "dpd=20 → row call; holdout: no_action instead of agent_call; arm holdout of gentle-2026-12"
    )
    assert set(hold.get_column("strategy_version").to_list()) == {4}  # the champion decided them
    # The challenger arm: its own strategy, except the champion's required notice.
    ch = d.filter(pl.col("arm") == "gentle")
    own = ch.filter(pl.col("dpd") != 25)
    assert set(own.get_column("treatment").to_list()) == {"email"}
    assert set(zip(own.get_column("strategy"), own.get_column("strategy_version"), strict=True)) == {
        ("gentle", 2)
    }
    owed = ch.filter(pl.col("dpd") == 25)
    assert set(owed.get_column("node").to_list()) == {"notice"} and set(
        owed.get_column("strategy").to_list()
    ) == {"default"}
    assert "the champion's required notice" in owed.get_column("reasons")[0]
    champ = d.filter(pl.col("arm") == "champion")
    assert set(champ.filter(pl.col("dpd") == 20).get_column("treatment").to_list()) == {"agent_call"}
    assert set(d.get_column("experiment").to_list()) == {"gentle-2026-12"}


def test_exploration_share_and_bookkeeping() -> None:
    champion, gentle = _ladder()
    options = ["sms", "robot_call", "agent_call", "no_action"]
    exp = _exp(exploration=0.05, exploration_treatments=options)
    plan = Plan(champion=champion, experiment=exp, arms={"champion": champion, "gentle": gentle})
    frame = pl.DataFrame({"loan_id": _ids(), "dpd": pl.Series(np.tile([3, 20, 25, 7], N // 4))})
    d = decide(frame, plan, as_of=AS_OF)
    eligible = d.filter((pl.col("arm") != "holdout") & ~pl.col("required_notice"))
    explored = d.filter(pl.col("explored"))
    assert abs(explored.height / eligible.height - 0.05) < 0.005
    # Never the holdout, never a required notice; the treatment is one of the options, about uniformly.
    assert explored.filter((pl.col("arm") == "holdout") | pl.col("required_notice")).height == 0
    counts = dict(explored.get_column("treatment").value_counts().iter_rows())
    assert set(counts) == set(options) and all(
        abs(c / explored.height - 0.25) < 0.04 for c in counts.values()
    )
    row = explored.filter(
        (pl.col("arm") == "champion") & (pl.col("dpd") == 20) & (pl.col("treatment") == "sms")
    ).row(0, named=True)
    assert row["reasons"].endswith("; explored: sms instead of agent_call; arm champion of gentle-2026-12")
    assert (row["template"], row["queue"], row["node"]) == ("reminder", None, "call")
    # Propensity of the logged treatment: (1 − 0.05)·[strategy's] + 0.05/4·[an option].
    assert row["propensity"] == pytest.approx(0.0125)
    kept = d.filter(~pl.col("explored") & (pl.col("arm") == "champion") & (pl.col("dpd") == 20)).row(
        0, named=True
    )
    assert kept["treatment"] == "agent_call" and kept["propensity"] == pytest.approx(0.95 + 0.0125)
    mail = d.filter(~pl.col("explored") & (pl.col("arm") == "gentle") & (pl.col("dpd") == 3)).row(
        0, named=True
    )
    assert mail["treatment"] == "email" and mail["propensity"] == pytest.approx(
        0.95
    )  # email is not an option
    assert set(d.filter(pl.col("arm") == "holdout").get_column("propensity").to_list()) == {1.0}
    # Reproducible for the day, different the next day.
    assert decide(frame, plan, as_of=AS_OF).get_column("explored").equals(d.get_column("explored"))
    tomorrow = decide(frame, plan, as_of=AS_OF + dt.timedelta(days=1)).get_column("explored")
    both = (tomorrow & d.get_column("explored")).sum()
    assert both < 0.2 * explored.height  # independent draws overlap ≈ 5 %


def test_experiment_validation_names_the_field() -> None:
    def problems(**kw: Any) -> list[str]:
        with pytest.raises(StrategyError) as info:
            _exp(**kw)
        return [e["message"] for e in info.value.details["errors"]]

    assert problems(holdout=0.05) == [
        "experiment gentle-2026-12: arms: shares plus holdout add up to 0.9, not 1"
    ]
    bad_arms = [
        {"name": "holdout", "strategy": "default", "share": 0.5},
        {"name": "b", "strategy": "x", "share": 0.25},
    ]
    assert any("arms[0].name" in m and "reserved" in m for m in problems(arms=bad_arms))
    msgs = problems(exploration_treatments=["sms", "smss", "agency_placement"], exploration=0.1)
    assert msgs == [
        'experiment gentle-2026-12: exploration_treatments[1]: "smss" is not a treatment',
        'experiment gentle-2026-12: exploration_treatments[2]: "agency_placement" '
        "may not be chosen at random",
    ]
    msgs = problems(arms=[{"name": "a", "strategy": "s", "share": 1.5}], holdout=0.0)
    assert msgs[0].startswith(
        "experiment gentle-2026-12: arms[0].share: input should be less than or equal to 1"
    )
    assert problems(exploration=0.9)[0].startswith("experiment gentle-2026-12: exploration:")


def test_experiments_in_the_configuration_store(session: Session) -> None:
    assert service.current_experiment(session=session) is None
    plan = service.load_plan(session=session)
    assert plan.experiment is None and plan.champion.label == "default v1"
    doc: dict[str, Any] = {
        "name": "e1",
        "arms": [
            {"name": "champion", "strategy": "default", "share": 0.8},
            {"name": "gentle", "strategy": "gentle", "share": 0.1},
        ],
        "holdout": 0.1,
    }
    with pytest.raises(StrategyError, match=r"^experiment e1: arms\[1\]\.strategy: no strategy gentle"):
        service.do_save_experiment(doc, session=session)
    gentle = {"name": "gentle", "rows": [{"id": "all", "then": {"treatment": "sms", "template": "reminder"}}]}
    service.do_save_strategy(gentle, session=session)
    service.do_save_experiment(doc, session=session)
    plan = service.load_plan(session=session)
    assert plan.experiment is not None and plan.experiment.name == "e1"
    assert plan.champion.label == "default v1" and plan.strategy_for("gentle").label == "gentle v1"
    stopped = service.do_stop_experiment(session=session)
    assert stopped is not None and service.load_plan(session=session).experiment is None
