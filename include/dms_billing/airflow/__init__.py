"""The Airflow edge: one task adapter per DAG, resources, retries, alerts, SMTP, sensors. The only package that imports Airflow.

Importing it makes object-store outputs (``DMS_BILLING_DATA=s3://conn_id@bucket/prefix``) use
Airflow's ``ObjectStoragePath``, so their credentials come from that Airflow connection.
"""

from airflow.sdk import ObjectStoragePath

from include.dms_billing.outputs.storage import use_remote_paths

use_remote_paths(ObjectStoragePath)
