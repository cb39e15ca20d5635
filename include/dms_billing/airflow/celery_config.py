"""The Celery workers' configuration: Airflow's own, plus what they import before forking.

Named by ``[celery] celery_config_options``. A Celery worker imports its ``imports`` once, in its
main process, before it starts the pool whose processes run the task supervisors, so every task
process inherits ``preload``'s modules instead of importing them (see ``preload``). The scheduler
reads this dict too, to publish tasks; it does not import ``imports``.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": ("include.dms_billing.airflow.preload",)}
