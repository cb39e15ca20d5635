"""Sensors of the billing DAGs (Airflow puts ``plugins/`` on the path of every component)."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseSensorOperator, timezone

from include.dms_billing.airflow.moments import MOMENTS


class WaitForBatchMoment(BaseSensorOperator):
    """Wait, deferred in the triggerer, until a moment of a batch of clients' billing month.

    ``moment`` names, in ``include.dms_billing.airflow.moments.MOMENTS``, the function that works the
    moment out from the batch (ISO text, e.g. ``month_closes_at``); it runs when the task runs,
    so no separate task computes it, and any check it makes (a bad timezone, say) fails this
    client's batch here (the refused clients of a run share a batch of their own, and each is named). The moment is the task's return value: the UI shows what was waited for.

    It succeeds at once, without deferring, when the moment has already passed: backfills,
    retries and late runs do not wait at all. The deferral has no timeout: a long holiday may
    put the first working day more than a week after the month.
    """

    template_fields = ("batch", "run")  # XComs resolved as they are, never rendered as Jinja

    def __init__(self, *, batch: Any, run: Any, moment: str, **kwargs: Any) -> None:
        if moment not in MOMENTS:  # checked when the DAG is parsed, not when it runs
            raise ValueError(f"unknown moment {moment!r}: expected one of {tuple(MOMENTS)}")
        super().__init__(**kwargs)
        self.batch = batch
        self.run = run  # the run's facts (month, intent), as plan_run pushed them
        self.moment = moment

    def execute(self, context: Any) -> str:
        target = MOMENTS[self.moment](self.batch, self.run)
        if timezone.utcnow() >= timezone.parse(target):
            self.log.info("%s (%s) has already passed; nothing to wait for", target, self.moment)
            return target
        self.defer(trigger=DateTimeTrigger(moment=timezone.parse(target)), method_name="execute_complete",
                   kwargs={"target": target})

    def execute_complete(self, context: Any, target: str, event: Any = None) -> str:
        return target

    def poke(self, context: Any) -> bool:  # required by the base class; ``execute`` never pokes
        raise NotImplementedError("WaitForBatchMoment defers instead of poking")
