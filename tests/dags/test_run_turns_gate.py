"""The DAG takes turns: the gate right after ``plan_run``, the release as its teardown; a backfill
may not name a billing month."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.dms_billing.airflow import monthly_tasks
from include.dms_billing.core.jobs import RunRequestError, check_backfill_conf
from tests.conftest import PROJECT


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_monthly_billing"]


def test_every_billing_task_waits_for_the_turn_and_the_turn_is_given_back_whatever_happened(dag) -> None:
    gate, release = dag.get_task("wait_for_turn"), dag.get_task("release_turn")
    assert gate.upstream_task_ids == {"plan_run"}
    assert gate.mode == "reschedule" and gate.poke_interval <= 30 and gate.timeout >= 7 * 24 * 3600
    assert gate.is_setup and release.is_teardown and release.upstream_task_ids == {"report", "wait_for_turn"}
    gated = {t.task_id for t in gate.get_flat_relatives(upstream=False)} - {"any_task_failed", "release_turn"}
    work = {t.task_id for t in dag.tasks} - {"plan_run", "wait_for_turn", "release_turn", "any_task_failed"}
    assert gated == work  # every client task, the finance summary and the report are in the turn
    assert {t.task_id for t in release.get_flat_relatives(upstream=True)} >= work


def test_a_billing_month_in_a_backfill_is_refused_saying_how_to_backfill() -> None:
    with pytest.raises(RunRequestError) as refused:
        check_backfill_conf("2023-05", "backfill")
    message = str(refused.value)
    for words in ("would make every run of the backfill bill that one month", "airflow backfill create",
                  "--from-date 2023-05-01T00:00:00+06:00 --to-date 2023-07-01T00:00:00+06:00",
                  "bills May, June and July 2023", "Backfill dialog"):
        assert words in message, words
    check_backfill_conf(None, "backfill")  # a backfill by dates
    check_backfill_conf("2023-05", "manual")  # a month by hand
    check_backfill_conf("2023-05", "scheduled")


def test_the_refusal_fails_plan_run_without_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monthly_tasks, "load_config", lambda: pytest.fail("refused before anything is read"))
    with pytest.raises(AirflowFailException, match="airflow backfill create"):
        monthly_tasks.plan("2023-05", [], None, "backfill")


def test_a_run_with_no_client_needs_no_turn() -> None:
    done = monthly_tasks.wait_for_turn([], {}, ti=None, dag_run=SimpleNamespace(run_id="x"))
    assert done.is_done
