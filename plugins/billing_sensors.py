"""Sensors of the billing DAGs (Airflow puts ``plugins/`` on the path of every component)."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import timezone


class WaitUntilSensor(DateTimeSensorAsync):
    """Wait for ``target_time`` in the triggerer, holding no worker slot while it waits.

    Unlike its parent it succeeds at once, without deferring, when the time has already
    passed: backfills, retries and late runs do not wait at all.
    """

    def execute(self, context: Any) -> None:
        if timezone.utcnow() >= self._moment:
            self.log.info("%s has already passed; nothing to wait for", self._moment.isoformat())
            return
        super().execute(context)
