-- Run once by the postgres image, when its data volume is first created
-- (files in /docker-entrypoint-initdb.d are ignored on an existing volume).
-- The `billing` database holds the billing ledger (Airflow connection `billing_db`);
-- Airflow's own metadata lives in the `airflow` database (POSTGRES_DB).
-- On a volume created before this file existed:
--   docker compose exec postgres createdb -U airflow billing
CREATE DATABASE billing;
