# The Airflow image for the Sokrio DMS billing pipeline (used by docker-compose.yaml).
#
# Build: docker compose build          (or: docker build -t sokrio-dms-billing:latest .)
#
# The Airflow version in FROM must be the one pinned in requirements.txt and constraints.txt
# (apache-airflow==3.3.2): pip then keeps the image's Airflow as it is.
FROM apache/airflow:3.3.2-python3.11

# System libraries WeasyPrint loads at run time to render invoice PDFs (Pango >= 1.44 with
# its FreeType backend, HarfBuzz and its subsetter, Fontconfig). The PDFs' fonts (Noto Sans and
# Noto Sans Bengali) come with the code, in include/fonts/; DejaVu is Fontconfig's fallback for
# a letter they lack.
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 \
      libpangoft2-1.0-0 \
      libharfbuzz0b \
      libharfbuzz-subset0 \
      libfontconfig1 \
      fonts-dejavu-core \
 && apt-get autoremove -yqq --purge \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# Python dependencies, as the airflow user (the image refuses pip as root), every transitive
# version pinned by constraints.txt: the same pins as `make venv`.
USER airflow
COPY --chown=airflow:root requirements.txt constraints.txt /tmp/dms-billing/
RUN pip install --no-cache-dir -r /tmp/dms-billing/requirements.txt -c /tmp/dms-billing/constraints.txt
# Fail the build here, not at the first invoice, if WeasyPrint cannot load Pango.
RUN python -c "import weasyprint; print('WeasyPrint', weasyprint.__version__)"

# The code, so that the image runs on its own (e.g. a worker on another host);
# docker-compose.yaml mounts the working tree over these folders for development.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/

# `include.dms_billing...` imports resolve from /opt/airflow; the deferrable sensor's trigger
# is imported from plugins/ by the triggerer.
ENV PYTHONPATH=/opt/airflow:/opt/airflow/plugins \
    GX_ANALYTICS_ENABLED=false
