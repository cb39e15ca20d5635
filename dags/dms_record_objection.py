"""
### Record an objection to a billed month

Sokrio staff record here a client's objection that was found valid. Per the billing contract
(section 5) the objected month's invoice is **not** re-issued: the objection becomes a credit (or
debit) line on the client's **next** invoice, priced at the objected month's unit price, applied
exactly once.

**User ids** go one per line (a column pasted from the client's list works; blank lines, spaces
and commas between ids are ignored). A line that is not a whole number refuses the run, naming
the line. From the REST API, a script or `airflow dags test`, send them as a JSON list,
`"user_ids": [12, 40]` (numbers or digit strings, one id per item), or as the form's text,
`"user_ids": "12\n40"`; an item that is not an id refuses the run, naming the item.

Before anything is written the objection is checked: the month's invoice has been issued, every
user id was on that month's billed list, and no user-month is already under an accepted
objection. A refused objection fails this run with a message naming every problem; nothing is
written.

**Many at once:** put a CSV path in *Bulk CSV file* (columns `client_code, billing_month,
user_id, reason, decided_by, direction`, one row per user); the whole file is recorded or none
of it. The other fields are then ignored.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from include.dms_billing.airflow.alerts import BillingAlertNotifier
from include.dms_billing.airflow.params import MONTH_PATTERN, SCHEDULE_TZ


@dag(
    dag_id="dms_record_objection",
    schedule=None,
    start_date=pendulum.datetime(2023, 5, 1, tz=SCHEDULE_TZ),
    catchup=False,
    doc_md=__doc__,
    tags=["billing", "dms", "objections"],
    default_args={"retries": 0, "on_failure_callback": BillingAlertNotifier()},
    params={
        # Airflow's form marks a field required, and keeps Trigger disabled while it is empty, unless
        # its type admits null. No field is required here: a bulk CSV needs none of the others, so
        # the task refuses a single objection without a client code, month, user ids, reason or
        # decider, naming each (ledger/objections.py).
        "client_code": Param("", type=["string", "null"], title="Client code",
                             description="The client's code in the DMS, e.g. MEGHNA."),
        "billing_month": Param("", type=["string", "null"], pattern=f"^({MONTH_PATTERN})?$",
                               title="Billing month",
                               description="The month objected to, YYYY-MM. Its invoice must be out."),
        # Text or a JSON list: Airflow's form shows a param of several types as a textarea that
        # keeps what is typed as text unless it reads as a JSON list ("multiline": a textarea too).
        "user_ids": Param("", type=["string", "array", "null"], format="multiline", title="User ids",
                          description="The DMS user ids concerned, one per line (e.g. pasted from the "
                                      "list's user_id column); blank lines and spaces are ignored."),
        "reason": Param("", type=["string", "null"], title="Reason",
                        description="Why the objection is valid."),
        "decided_by": Param("", type=["string", "null"], title="Decided by",
                            description="Who at Sokrio accepted it."),
        "direction": Param("credit", type="string", enum=["credit", "debit"], title="Credit or debit",
                           description="credit: the client pays less on the next invoice; debit: more."),
        "csv_path": Param("", type=["string", "null"], title="Bulk CSV file",
                          description="Optional: a CSV of many objections (see the DAG docs); all or nothing."),
    },
)
def dms_record_objection():
    @task
    def record(params=None, run_id=None) -> list[dict]:
        """Validate and record the objection(s); returns what was recorded."""
        from include.dms_billing.airflow import objection_tasks

        return objection_tasks.record_objections(params, run_id)

    record()


dms_record_objection()
