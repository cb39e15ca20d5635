"""The steps of each DAG: engines, paths and configuration in; files and ledger rows out. Imports every package below it, never airflow."""
