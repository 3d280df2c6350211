#!/usr/bin/env bash
# Build the locally made images the docker compose stack runs on where no registry can be
# reached (`make compose-e2e`), each skipped when the tag for its inputs exists:
#   local/postgres, local/redis, local/docker-socket-proxy   Debian packages (docker/local/)
#   local/airflow                   stand-in for apache/airflow:3.3.2-python3.11 (docker/local/)
#   airflow-tfx-ct                  docker/airflow.Dockerfile on local/airflow
#   local/tf-serving-double         the TF Serving test double, on the trainer image
# Tags are 12 hex of sha256 over each image's inputs (its Dockerfile, the files it copies and its
# base image's id), as docker/build-trainer-image.sh does for the trainer: a code change gets a
# new tag, while Docker's layer cache keeps the expensive layers. Older tags of these
# repositories are removed after a build. FORCE=1 rebuilds.
#   BASE_IMAGE=local/python:3.11-bookworm TRAINER_IMAGE=ml-trainer:<tag> docker/build-compose-images.sh
# Prints the compose variables (AIRFLOW_IMAGE=..., POSTGRES_IMAGE=..., ...) on stdout.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
BASE_IMAGE="${BASE_IMAGE:-local/python:3.11-bookworm}"
TRAINER_IMAGE="${TRAINER_IMAGE:-$(BASE_IMAGE=$BASE_IMAGE docker/build-trainer-image.sh --print-tag)}"
export DOCKER_BUILDKIT=0

image_id() { docker image inspect -f '{{.Id}}' "$1"; }

# build REPO DOCKERFILE BASE [FILES...] -> prints REPO:<hash>; the base goes in as BASE_IMAGE
# (AIRFLOW_IMAGE for docker/airflow.Dockerfile)
build() {
  local repo=$1 dockerfile=$2 base=$3 arg=BASE_IMAGE
  shift 3
  [[ "$dockerfile" == docker/airflow.Dockerfile ]] && arg=AIRFLOW_IMAGE
  local hash
  hash=$({
    image_id "$base"
    sha256sum "$dockerfile"
    if (($#)); then
      find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
    fi
  } | sha256sum | cut -c1-12)
  local tag="$repo:$hash"
  if [[ -z "${FORCE:-}" ]] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag already built" >&2
  else
    local start=$SECONDS
    echo "building $tag ($dockerfile on $base)" >&2
    docker build --force-rm -q -f "$dockerfile" --build-arg "$arg=$base" -t "$tag" . >&2 || {
      echo "error: building $tag failed" >&2
      exit 1
    }
    echo "built $tag in $((SECONDS - start)) s" >&2
    docker images "$repo" --format '{{.Repository}}:{{.Tag}}' | grep -vxF "$tag" \
      | xargs -r docker rmi >/dev/null 2>&1 || true
  fi
  echo "$tag"
}

docker image inspect "$TRAINER_IMAGE" >/dev/null 2>&1 || {
  echo "error: trainer image $TRAINER_IMAGE missing: make trainer-image BASE_IMAGE=$BASE_IMAGE" >&2
  exit 1
}
docker/copy-host-certs.sh  # TLS-intercepting proxies: the host's CAs go into the Airflow image
airflow_base=$(build local/airflow docker/local/airflow-base.Dockerfile "$BASE_IMAGE" \
  docker/local/airflow-entrypoint.sh)
echo "POSTGRES_IMAGE=$(build local/postgres docker/local/postgres.Dockerfile "$BASE_IMAGE" \
  docker/local/postgres-entrypoint.sh)"
echo "REDIS_IMAGE=$(build local/redis docker/local/redis.Dockerfile "$BASE_IMAGE")"
echo "DOCKER_SOCKET_PROXY_IMAGE=$(build local/docker-socket-proxy \
  docker/local/socket-proxy.Dockerfile "$BASE_IMAGE" docker/local/socket-proxy.haproxy.cfg)"
echo "TF_SERVING_IMAGE=$(build local/tf-serving-double docker/local/tf-serving-double.Dockerfile \
  "$TRAINER_IMAGE" tests/tf_serving_double.py tests/tf_serving_double_server.py)"
echo "AIRFLOW_IMAGE=$(build airflow-tfx-ct docker/airflow.Dockerfile "$airflow_base" \
  docker/airflow-requirements.txt docker/certs ml dags plugins)"
echo "ML_TRAIN_IMAGE=$TRAINER_IMAGE"
