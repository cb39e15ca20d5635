# Sokrio DMS billing: `make demo` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AIRFLOW := $(VENV)/bin/airflow
STAMP := $(VENV)/.installed

export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export GX_ANALYTICS_ENABLED := false
export DMS_BILLING_DATA ?= $(CURDIR)/data

DEMO_DB := $(DMS_BILLING_DATA)/demo_dms.sqlite
DEMO_MONTH ?= 2023-05

.PHONY: help venv demo service test test-scale bench screenshots constraints clean

help:
	@echo "make demo   build .venv, create the demo DMS database, bill $(DEMO_MONTH) through the DAG"
	@echo "make test   run the test suite"
	@echo "make bench  measure a month close at scale on the local PostgreSQL (docs/benchmarks.md)"
	@echo "make service  run Airflow as a service on loopback over the demo data (Ctrl-C stops it)"

$(STAMP): requirements.txt requirements-test.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt -c constraints.txt
	@touch $@

venv: $(STAMP)

SMTP_PORT ?= 8025
OUTBOX := $(DMS_BILLING_DATA)/outbox

demo: venv
	@mkdir -p $(DMS_BILLING_DATA)
	$(PY) -m include.dms_billing.demo.demo_dms --url sqlite:///$(DEMO_DB)
	@$(AIRFLOW) db migrate > $(DMS_BILLING_DATA)/airflow-db-migrate.log 2>&1
	@echo "Local SMTP server on 127.0.0.1:$(SMTP_PORT), keeping every email in $(OUTBOX)"
	@$(PY) -m tools.outbox_smtp --dir $(OUTBOX) --port $(SMTP_PORT) > $(DMS_BILLING_DATA)/smtp.log 2>&1 & \
	  smtp_pid=$$!; trap 'kill $$smtp_pid 2>/dev/null' EXIT; sleep 1; \
	  echo "Billing $(DEMO_MONTH) through the DAG, delivering (log: $(DMS_BILLING_DATA)/demo-run.log) ..."; \
	  AIRFLOW_CONN_DMS_SOURCE=sqlite:///$(DEMO_DB) \
	  AIRFLOW_CONN_SMTP_DEFAULT='smtp://127.0.0.1:$(SMTP_PORT)?disable_tls=true&disable_ssl=true' \
	  $(AIRFLOW) dags test dms_monthly_billing -c '{"billing_month": "$(DEMO_MONTH)", "deliver": true}' \
	  > $(DMS_BILLING_DATA)/demo-run.log 2>&1 \
	  || { tail -40 $(DMS_BILLING_DATA)/demo-run.log; exit 1; }
	@$(PY) -m include.dms_billing.outputs.run_report --month $(DEMO_MONTH)
	@echo
	@echo "Invoices (PDF):"; ls -1 $(DMS_BILLING_DATA)/invoices/billing_month=$(DEMO_MONTH)/*/*.pdf | sed 's/^/  /'
	@echo "Emails received by the local SMTP server:"; ls -1 $(OUTBOX)/*.eml | sed 's/^/  /'
	@echo "Finance summary:   $(DMS_BILLING_DATA)/finance/billing_month=$(DEMO_MONTH)/finance_summary.csv"
	@echo "Billing ledger:    $(DMS_BILLING_DATA)/ledger.sqlite"
	@echo "Demo DMS database: $(DEMO_DB)"
	@echo "Airflow run log:   $(DMS_BILLING_DATA)/demo-run.log"

# Airflow as a service on loopback (PostgreSQL metadata DB, api-server, scheduler, dag-processor,
# triggerer; LocalExecutor) over the demo data, until Ctrl-C. UI: http://127.0.0.1:8080
# `make service CELERY_WORKERS=2`: the CeleryExecutor with two workers (Redis on 127.0.0.1:6379).
# Log in as datateam or finance (`make service SERVICE_USERS="alice:viewer"` adds users); the
# passwords are in $AIRFLOW_SERVICE_PASSWORDS_FILE, or generated into data/airflow-service/passwords.json.
# Pools: DMS_SOURCE_SLOTS extractions query the DMS at once, SMTP_SLOTS tasks send at once.
CELERY_WORKERS ?= 0
SERVICE_USERS ?=
DMS_SOURCE_SLOTS ?= 2
SMTP_SLOTS ?= 4
service: venv
	$(PY) -m tools.airflow_service --data $(DMS_BILLING_DATA) --smtp-port $(SMTP_PORT) \
	  --celery-workers $(CELERY_WORKERS) $(addprefix --user ,$(SERVICE_USERS)) \
	  --pool dms_source:$(DMS_SOURCE_SLOTS) --pool smtp:$(SMTP_SLOTS)

PYTEST_ARGS ?=
test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The tests of a month at full scale (1,100 clients through the DAG, about 20 minutes here).
test-scale: venv
	$(PY) -m pytest -m scale $(PYTEST_ARGS)

# A month close at scale on the local PostgreSQL: 100 and then 1,000 clients over the same 500,000
# users (one client of 50,000), 2.5M/5M/25M logins a month; the stages against the database's
# own floor, the whole month through `airflow dags test` and through the scheduler; writes
# docs/benchmarks.md. The first run loads each database (9 to 14 minutes); later runs reuse them.
# Then the billing page of 1,000 clients (its figure goes in docs/benchmarks.md by hand).
# A small try: $(PY) -m tools.bench --clients 20 --users 20000 --months 2023-11 (--help for more).
bench: venv
	$(PY) -m tools.bench
	$(PY) -m tools.bench_billing_page --service

# Pin every transitive dependency of the current .venv (run after changing requirements*.txt).
# The demo's invoice, list email and finance email as PNG for the README (after `make demo`).
screenshots: venv
	$(PY) -m tools.document_screenshots --outbox $(OUTBOX) --month $(DEMO_MONTH) --out docs/screenshots

constraints:
	$(PY) -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(DMS_BILLING_DATA) .airflow .pytest_cache
