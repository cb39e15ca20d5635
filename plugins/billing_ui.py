"""The billing pages in Airflow's UI: a "Billing" entry in the navigation and a "Billing" tab on
every run, both served by the api-server behind its login (``include/dms_billing/airflow/billing_ui.py``).

Every Airflow component loads this file; only the api-server serves the app, so the app (FastAPI,
the ledger, the templates) is imported on its first request, not here.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/billing"  # the pages link to each other relative to it


class _BillingApp:
    """The billing FastAPI app as an ASGI app, imported when the api-server first calls it."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from include.dms_billing.airflow.billing_ui import app

        await app(scope, receive, send)

    def __repr__(self) -> str:  # what the UI's plugin list shows
        return "include.dms_billing.airflow.billing_ui.app"


class BillingUiPlugin(AirflowPlugin):
    name = "billing_ui"
    fastapi_apps = [{"app": _BillingApp(), "url_prefix": URL_PREFIX, "name": "Billing"}]
    external_views = [
        {"name": "Billing", "href": "billing/", "destination": "nav", "url_route": "billing",
         "nav_top_level": True},
        {"name": "Billing", "href": "billing/runs/{DAG_ID}/{RUN_ID}", "destination": "dag_run",
         "url_route": "billing-run"},
    ]
