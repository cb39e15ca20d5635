"""What the billing tasks import, imported once by the process their task processes are forked from.

Airflow 3 forks every task process from an executor's worker without a new interpreter, so a
module already imported there costs a task nothing. Named in ``[core] mp_forkserver_preload``
(the LocalExecutor's forkserver, with ``[scheduler] mp_start_method = forkserver``) and in the
Celery workers' ``imports`` (``airflow/celery_config.py``); ``tools/airflow_service.py`` sets the
one its executor needs, the compose file (Celery) the second. Without it each task imports these
for itself: Great Expectations alone is 2 to 4 CPU seconds, paid by each client's ``validate``.

Never imported by a DAG file: parsing must stay light (tests/dags checks it).
"""

from __future__ import annotations

import gc

# What our modules import inside functions, to keep DAG parsing light (tests/dags/test_preload.py
# checks that nothing is left out); then our modules themselves.
import adbc_driver_postgresql.dbapi  # noqa: F401  (extraction from a PostgreSQL DMS)
import alembic.command  # noqa: F401  (the ledger's migrations)
import alembic.config  # noqa: F401
import babel.dates  # noqa: F401  (zone names)
import babel.numbers  # noqa: F401
import great_expectations  # noqa: F401  (validate)
import great_expectations.data_context.types.base  # noqa: F401
import great_expectations.expectations  # noqa: F401
import matplotlib.backends.backend_agg  # noqa: F401  (the history charts)
import matplotlib.figure  # noqa: F401
import matplotlib.ticker  # noqa: F401
import num2words  # noqa: F401  (the invoice's amount in words)
import pandas  # noqa: F401
import psutil  # noqa: F401
import pyarrow.parquet  # noqa: F401
import weasyprint  # noqa: F401  (invoices and the FAQ)
import weasyprint.text.fonts  # noqa: F401
import xlsxwriter.worksheet  # noqa: F401

from include.dms_billing.airflow import (  # noqa: F401
    alerts, approval, each_client, monthly_tasks, objection_tasks, params, preview_tasks, smtp,
)
from include.dms_billing.flows import approval_steps, delivery_steps, list_steps, moments, preview  # noqa: F401
from include.dms_billing.ledger import run_turns  # noqa: F401
from include.dms_billing.mail import approval_email, messages, preview_email, revision_email  # noqa: F401
from include.dms_billing.outputs import charts, fonts, run_report  # noqa: F401
from include.dms_billing.source import batch_validation, clients, connections, validation  # noqa: F401

# What is imported now is kept for good: the garbage collector of every process forked from here
# leaves these objects alone, instead of walking them and so copying their memory page by page
# (Airflow does the same before forking its LocalExecutor workers).
gc.freeze()
