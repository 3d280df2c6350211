# A local stand-in for tecnativa/docker-socket-proxy, from Debian's haproxy package, for hosts
# without a registry (CI: `make compose-e2e`). The same interface: listens on :2375, forwards to
# /var/run/docker.sock, and allows a Docker API section only when its environment flag is 1
# (CONTAINERS, IMAGES, EXEC, BUILD, VOLUMES, ... as docker-compose.yml sets them); anything but
# GET needs POST=1; everything else gets 403. wget is there for the compose healthcheck.
#   docker build -f docker/local/socket-proxy.Dockerfile --build-arg BASE_IMAGE=local/python:3.11-bookworm .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
USER root
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      haproxy wget >/dev/null && \
    rm -rf /var/lib/apt/lists/*
# tecnativa's defaults: everything off but the read-only basics
ENV AUTH=0 BUILD=0 COMMIT=0 CONFIGS=0 CONTAINERS=0 DISTRIBUTION=0 EVENTS=1 EXEC=0 GRPC=0 \
    IMAGES=0 INFO=0 NETWORKS=0 NODES=0 PING=1 PLUGINS=0 POST=0 SECRETS=0 SERVICES=0 \
    SESSION=0 SWARM=0 SYSTEM=0 TASKS=0 VERSION=1 VOLUMES=0 \
    SOCKET_PATH=/var/run/docker.sock LOG_LEVEL=info
COPY docker/local/socket-proxy.haproxy.cfg /etc/haproxy/socket-proxy.cfg
EXPOSE 2375
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/socket-proxy.cfg"]
