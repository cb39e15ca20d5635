"""The billing pages inside Airflow's UI: a FastAPI app the api-server mounts (``plugins/billing_ui.py``).

Read-only, from the ledger and the stored outputs (``views/``); every action stays a DAG, and
the page links to it. Every route needs an Airflow login with read access to the runs of
``dms_monthly_billing``, checked through the auth manager as the REST API checks it: no login is
401, a user without access 403. Months and client codes are checked before any path is built
(``views/downloads.py``); URLs and logs carry nothing but codes and months.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from include.dms_billing.airflow.billing_runs import DAG_ID
from include.dms_billing.core.billing_month import BillingMonth

if TYPE_CHECKING:
    import sqlalchemy as sa

    from include.dms_billing.outputs.paths import ClientMonthPaths
    from include.dms_billing.views.downloads import Download
    from include.dms_billing.views.month_board import ClientRow, MonthBoard


app = FastAPI(
    title="Sokrio DMS billing",
    description="The billing month per client, read from the ledger and the stored outputs (README, "
                "'The billing page').",
    dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID))],
    docs_url=None, redoc_url=None, openapi_url=None,  # served without the routes' login check: off
)

StateQuery = Annotated[str | None, Query(description="failed, held, not sent, invoiced, objected or revised")]
SortQuery = Annotated[str, Query(description="client, billable, change, list, invoice, total, due or state")]


@cache
def _ledger() -> sa.Engine:
    """The ``billing_db`` connection as the api-server finds it (environment, secrets backend or
    metadata database), else the default SQLite ledger under ``DMS_BILLING_DATA``; one per process."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    from include.dms_billing.airflow.resources import LEDGER_CONN_ID
    from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
    from include.dms_billing.source.connections import sqlalchemy_url

    try:
        url = sqlalchemy_url(Connection.get_connection_from_secrets(LEDGER_CONN_ID))
    except AirflowNotFoundException:
        url = default_ledger_url()
    return ledger_engine(url)


def _month(text: str | None) -> BillingMonth:
    """The month asked for, else the latest month with outputs, else the month that just ended."""
    from include.dms_billing.outputs.paths import data_root
    from include.dms_billing.views.month_board import latest_month

    if text:
        try:
            return BillingMonth.parse(text)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None
    return latest_month(data_root())


def _choice(value: str | None, allowed: object, what: str) -> None:
    if value is not None and value not in allowed:
        raise HTTPException(422, f"unknown {what} {value!r}: one of {', '.join(allowed)}")


def _board_rows(month: BillingMonth, state: str | None, sort: str, desc: bool,
                codes: frozenset[str] = frozenset()) -> tuple[MonthBoard, list[ClientRow]]:
    from include.dms_billing.outputs.paths import data_root
    from include.dms_billing.views.month_board import SORTS, STATES, read_board, select_rows

    _choice(state, STATES, "state")
    _choice(sort, SORTS, "sort")
    board = read_board(_ledger(), data_root(), month)
    return board, select_rows(board.rows, state, sort, desc, codes)


@app.get("/", response_class=HTMLResponse, summary="The billing page: one month, one row per client")
def month_page(month: str | None = None, state: StateQuery = None, sort: SortQuery = "client",
               desc: bool = False) -> str:
    from include.dms_billing.views.pages import month_page as render

    board, rows = _board_rows(_month(month), state or None, sort, desc)
    return render(board, rows, state=state or None, sort=sort, descending=desc, base="", action="")


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, summary="A run's Billing tab")
def run_tab(dag_id: str, run_id: str, state: StateQuery = None, sort: SortQuery = "client", desc: bool = False) -> str:
    """The month a run of ``dms_monthly_billing`` bills and its clients (all, or its ``clients``)."""
    from include.dms_billing.airflow.billing_runs import run_scope
    from include.dms_billing.views.pages import month_page as render

    scope = run_scope(dag_id, run_id)
    if scope.month is None:
        return f"<!DOCTYPE html><p>{scope.note}</p>"
    board, rows = _board_rows(scope.month, state or None, sort, desc, scope.clients)
    return render(board, rows, state=state or None, sort=sort, descending=desc, base="../../",
                  action="", run={"run_id": run_id, "note": scope.note})


@app.get("/clients/{client_code}", response_class=HTMLResponse, summary="A client's 12 months")
def client_page(client_code: str, month: str | None = None) -> str:
    from include.dms_billing.outputs.paths import data_root
    from include.dms_billing.views.pages import client_page as render
    from include.dms_billing.views.pages import client_year

    paths = _paths(month, client_code)
    return render(client_year(_ledger(), data_root(), BillingMonth.parse(paths.billing_month), client_code), "../")


@app.get("/clients/{client_code}/chart.png", summary="A client's 12 months as the list email's chart")
def client_chart(client_code: str, month: str | None = None) -> Response:
    from include.dms_billing.outputs.charts import client_chart_png
    from include.dms_billing.outputs.paths import data_root
    from include.dms_billing.views.pages import client_year

    paths = _paths(month, client_code)
    history = client_year(_ledger(), data_root(), BillingMonth.parse(paths.billing_month), client_code)
    return Response(client_chart_png(history), media_type="image/png")


def _paths(month: str | None, client_code: str) -> ClientMonthPaths:
    from include.dms_billing.outputs.paths import data_root
    from include.dms_billing.views.downloads import NotFound, client_paths

    try:
        return client_paths(data_root(), str(_month(month)), client_code)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _file(make: Callable[[], Download]) -> Response:
    from include.dms_billing.views.downloads import NotFound

    try:
        found = make()
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    if found.filename:
        headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return Response(found.content, media_type=found.media_type, headers=headers)


@app.get("/files/{month}/{client_code}/list.csv", summary="The list's CSV, as stored")
def list_csv(month: str, client_code: str) -> Response:
    from include.dms_billing.views import downloads

    return _file(lambda: downloads.list_csv(_paths(month, client_code)))


@app.get("/files/{month}/{client_code}/list.xlsx", summary="The list's workbook, as the list email attaches it")
def list_xlsx(month: str, client_code: str) -> Response:
    from include.dms_billing.core.config import load_config
    from include.dms_billing.views import downloads

    return _file(lambda: downloads.list_xlsx(_paths(month, client_code), load_config()))


@app.get("/files/{month}/{client_code}/invoice.pdf", summary="The month's invoice PDF, as stored")
def invoice_pdf(month: str, client_code: str) -> Response:
    from include.dms_billing.views import downloads

    return _file(lambda: downloads.invoice_pdf(_ledger(), _paths(month, client_code)))


@app.get("/files/{month}/{client_code}/report/{inner:path}", summary="The validation report (Data Docs)")
def report(month: str, client_code: str, inner: str) -> Response:
    from include.dms_billing.views import downloads

    return _file(lambda: downloads.report_file(_paths(month, client_code), inner))


@app.get("/api/months", summary="The months with outputs, newest first")
def months() -> JSONResponse:
    from include.dms_billing.outputs.paths import data_root
    from include.dms_billing.views.month_board import months_with_outputs

    return JSONResponse([str(m) for m in months_with_outputs(data_root())])


@app.get("/api/months/{month}", summary="The month per client, as the page shows it")
def month_json(month: str, state: StateQuery = None, sort: SortQuery = "client", desc: bool = False) -> JSONResponse:
    from dataclasses import replace

    board, rows = _board_rows(_month(month), state or None, sort, desc)
    return JSONResponse(replace(board, rows=rows).to_data())


@app.get("/api/months/{month}/clients/{client_code}/history", summary="A client's 12 months ending at month")
def history_json(month: str, client_code: str) -> JSONResponse:
    from include.dms_billing.outputs.paths import data_root
    from include.dms_billing.views.pages import client_year

    paths = _paths(month, client_code)
    return JSONResponse(client_year(_ledger(), data_root(), BillingMonth.parse(paths.billing_month),
                                    client_code).to_data())
