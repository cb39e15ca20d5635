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

.PHONY: help venv demo test constraints clean

help:
	@echo "make demo   build .venv, create the demo DMS database, bill $(DEMO_MONTH) through the DAG"
	@echo "make test   run the test suite"

$(STAMP): requirements.txt requirements-test.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt -c constraints.txt
	@touch $@

venv: $(STAMP)

demo: venv
	@mkdir -p $(DMS_BILLING_DATA)
	$(PY) -m include.dms_billing.demo_dms --url sqlite:///$(DEMO_DB)
	@$(AIRFLOW) db migrate > $(DMS_BILLING_DATA)/airflow-db-migrate.log 2>&1
	@echo "Running billing month $(DEMO_MONTH) through the DAG (log: $(DMS_BILLING_DATA)/demo-run.log) ..."
	@AIRFLOW_CONN_DMS_SOURCE=sqlite:///$(DEMO_DB) \
	  $(AIRFLOW) dags test dms_monthly_billing -c '{"billing_month": "$(DEMO_MONTH)"}' \
	  > $(DMS_BILLING_DATA)/demo-run.log 2>&1 \
	  || { tail -40 $(DMS_BILLING_DATA)/demo-run.log; exit 1; }
	@$(PY) -m include.dms_billing.run_report --month $(DEMO_MONTH)
	@echo
	@echo "Demo DMS database: $(DEMO_DB)"
	@echo "Airflow run log:   $(DMS_BILLING_DATA)/demo-run.log"

test: venv
	$(PY) -m pytest

# Pin every transitive dependency of the current .venv (run after changing requirements*.txt).
constraints:
	$(PY) -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(DMS_BILLING_DATA) .airflow .pytest_cache
