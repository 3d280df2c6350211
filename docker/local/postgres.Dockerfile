# A local stand-in for the official postgres image, from Debian's PostgreSQL packages, for hosts
# without a registry (CI: `make compose-e2e`). Same interface as far as docker-compose.yml uses
# it: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first start, the cluster in
# /var/lib/postgresql/data, password (scram) auth over TCP, `pg_isready` on PATH.
#   docker build -f docker/local/postgres.Dockerfile --build-arg BASE_IMAGE=local/python:3.11-bookworm .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
USER root
# no cluster at install time: the entrypoint creates it in PGDATA (as the official image does)
RUN mkdir -p /etc/postgresql-common/createcluster.d && \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main.conf && \
    apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql-15 >/dev/null && \
    rm -rf /var/lib/apt/lists/* && \
    mkdir -p /var/lib/postgresql/data /var/run/postgresql && \
    chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY docker/local/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
