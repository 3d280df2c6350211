# Airflow image of the docker compose stack: the official image + the project's pinned lock
# (docker/airflow-requirements.txt = requirements.txt + the Celery/PostgreSQL/Redis/FAB
# providers, compiled against requirements.txt so every shared version is the same) + the
# project code (compose also bind-mounts dags/, plugins/ and ml/ over these copies).
#   docker compose build        (context: the repo root)
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

# Extra CA certificates (TLS-intercepting proxies): docker/certs/*.crt, see docker/certs/README.md
USER root
COPY docker/certs/ /usr/local/share/ca-certificates/extra/
# g++: pyfarmhash (tfx-bsl) is published as an sdist only and is compiled at install time
RUN update-ca-certificates >/dev/null && apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ >/dev/null && \
    rm -rf /var/lib/apt/lists/*
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PYTHONPATH=/opt/airflow/project:/opt/airflow/plugins \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2

USER airflow
COPY --chown=airflow:0 docker/airflow-requirements.txt /tmp/airflow-requirements.txt
RUN pip install --no-cache-dir -r /tmp/airflow-requirements.txt && \
    python -c "import airflow.providers.celery, airflow.providers.docker, tensorflow_transform"

COPY --chown=airflow:0 ml/ /opt/airflow/project/ml/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
