"""Registers the monthly run's deadline reference, so that the scheduler and the API server can
read it back from the serialized DAG (Airflow finds custom deadline references only in plugins)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.dms_billing.airflow.deadline import MonthRunDeadline


class BillingDeadlinesPlugin(AirflowPlugin):
    name = "billing_deadlines"
    deadline_references = [MonthRunDeadline]
