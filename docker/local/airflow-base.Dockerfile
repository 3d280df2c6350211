# A local stand-in for the official apache/airflow:3.3.2-python3.11 image, for hosts without a
# registry (CI: `make compose-e2e`). It provides what docker/airflow.Dockerfile and
# docker-compose.yml rely on: user `airflow` (uid 50000, gid 0), AIRFLOW_HOME=/opt/airflow, a
# writable Python environment first on PATH (the official image's user site), curl for the
# healthchecks, dumb-init + /entrypoint (docker/local/airflow-entrypoint.sh: wait for the
# metadata DB, `_AIRFLOW_DB_MIGRATE`, `_AIRFLOW_WWW_USER_CREATE`, then the command) and Python's
# headers (python3-dev; the official image's Python has them too).
# Airflow itself comes from docker/airflow.Dockerfile's pinned lock, not from here.
#   docker build -f docker/local/airflow-base.Dockerfile --build-arg BASE_IMAGE=local/python:3.11-bookworm .
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

USER root
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      bash ca-certificates curl dumb-init procps python3-dev python3-venv >/dev/null && \
    rm -rf /var/lib/apt/lists/*
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_USER_HOME_DIR=/home/airflow \
    PATH=/home/airflow/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow --shell /bin/bash airflow && \
    mkdir -p /opt/airflow/logs /opt/airflow/dags /opt/airflow/plugins && \
    chown -R airflow:0 /opt/airflow && chmod -R g+rwX /opt/airflow /home/airflow && \
    chmod g+w /etc/passwd
COPY docker/local/airflow-entrypoint.sh /entrypoint
RUN chmod 0755 /entrypoint
USER airflow
RUN python3 -m venv /home/airflow/venv && chmod -R g+rwX /home/airflow/venv
WORKDIR /opt/airflow
EXPOSE 8080
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []
