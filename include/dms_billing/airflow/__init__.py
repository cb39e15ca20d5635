"""The Airflow edge: one task adapter per DAG, resources, retries, alerts, SMTP, sensors. The only package that imports Airflow."""
