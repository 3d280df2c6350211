# A local stand-in for the official redis image, from Debian's redis-server package, for hosts
# without a registry (CI: `make compose-e2e`): redis-server and redis-cli on PATH, run as user
# redis in /data. docker-compose.yml passes the command (`redis-server --requirepass ...`).
#   docker build -f docker/local/redis.Dockerfile --build-arg BASE_IMAGE=local/python:3.11-bookworm .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
USER root
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      redis-server >/dev/null && \
    rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
