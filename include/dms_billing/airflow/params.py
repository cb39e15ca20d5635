"""The params both billing DAGs share, and the run's intent read from them (light: DAG files import it)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from include.dms_billing.core.billing_month import SCHEDULE_TIMEZONE
from include.dms_billing.core.jobs import RunIntent

SCHEDULE_TZ = SCHEDULE_TIMEZONE
# Airflow pools (created by ``make service`` and the compose file): how many extractions may query
# the production DMS at once, and how many tasks may send through the mail relay at once.
SOURCE_POOL = "dms_source"
SMTP_POOL = "smtp"
MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"  # YYYY-MM; each DAG anchors it (one allows it empty)

# Every mapped client task is labelled with its client code in the grid, the task list and the
# logs, not with 0, 1, 2...: the preview's TaskFlow tasks get the job as the keyword ``job``
# (``op_kwargs``), the waits hold it as their ``job`` field.
CLIENT_MAP_INDEX = "{{ (task.op_kwargs['job'] if task.op_kwargs is defined else task.job)['client_code'] }}"
CLIENT_TASKS = {"map_index_template": CLIENT_MAP_INDEX}  # a client task group's default_args
# A batch's tasks are labelled with its clients: the code of a one-client batch, else
# "first..last (count)" (``ClientBatch.label``); TaskFlow tasks get it as ``batch``, the waits as
# their ``batch`` field.
BATCH_MAP_INDEX = "{{ (task.op_kwargs['batch'] if task.op_kwargs is defined else task.batch)['label'] }}"
BATCH_TASKS = {"map_index_template": BATCH_MAP_INDEX}  # the batch task group's default_args


def clients_param(description: str) -> Param:
    return Param([], type="array", items={"type": "string"}, title="Clients", description=description)


def deliver_param(description: str) -> Param:
    return Param(None, type=["null", "boolean"], title="Deliver", description=description)


def resend_param(description: str) -> Param:
    return Param(False, type="boolean", title="Resend", description=description)


def run_type_name(run_type: Any) -> str | None:
    """The run type as text (Airflow may hand over its enum)."""
    return None if run_type is None else getattr(run_type, "value", str(run_type))


def run_intent(deliver: bool | None, resend: bool, run_type: Any) -> RunIntent:
    """Decided at planning, from the params and the run type, so no mapped task reads the run."""
    return RunIntent.of(deliver, resend, run_type_name(run_type))


def max_batches() -> int:
    """How many batches a run may have: ``[dms_billing] max_batches`` in Airflow's configuration
    (``AIRFLOW__DMS_BILLING__MAX_BATCHES``), by default the deployment's ``[core] parallelism``, so
    that every batch can run at once; never more than ``[core] max_map_length`` allows."""
    from airflow.configuration import conf

    parallelism = conf.getint("core", "parallelism", fallback=32)
    wanted = conf.getint("dms_billing", "max_batches", fallback=parallelism)
    return max(1, min(wanted, conf.getint("core", "max_map_length", fallback=1024)))
