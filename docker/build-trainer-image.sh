#!/usr/bin/env bash
# Build the trainer image (docker/trainer.Dockerfile) unless the image for these inputs exists.
#   [BASE_IMAGE=..] [TF_PACKAGE=base|tensorflow|tensorflow-cpu] [IMAGE=ml-trainer] [FORCE=1]
#   docker/build-trainer-image.sh [--print-tag]
# Tags IMAGE:<hash> and IMAGE:latest, <hash> = 12 hex of sha256 over the trainer lock, the
# Dockerfile and ml/ (code + pipeline configs are baked in): a code change gets a new tag, while
# Docker's layer cache still reuses the expensive pip layer as long as the lock is unchanged.
# The base variant is a label (ml.trainer.base); asking for another one rebuilds.
# --print-tag prints IMAGE:<hash> and exits; otherwise the tag is printed last.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-ml-trainer}"
BASE_IMAGE="${BASE_IMAGE:-tensorflow/tensorflow:2.16.2-gpu}"
case "$BASE_IMAGE" in
  tensorflow/tensorflow:*) TF_PACKAGE="${TF_PACKAGE:-base}" ;;  # TF (+ CUDA) from the base
  *) TF_PACKAGE="${TF_PACKAGE:-tensorflow-cpu}" ;;
esac

tag=$({
  sha256sum docker/trainer-requirements.txt docker/trainer.Dockerfile
  find ml -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-12)
if [[ "${1:-}" == "--print-tag" ]]; then echo "$IMAGE:$tag"; exit 0; fi
variant="$BASE_IMAGE $TF_PACKAGE"
built=$(docker image inspect -f '{{index .Config.Labels "ml.trainer.base"}}' "$IMAGE:$tag" \
        2>/dev/null || true)
if [[ -z "${FORCE:-}" && "$built" == "$variant" ]]; then
  docker tag "$IMAGE:$tag" "$IMAGE:latest"
  echo "trainer image $IMAGE:$tag already built (FORCE=1 rebuilds)" >&2
  echo "$IMAGE:$tag"
  exit 0
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && ! docker pull "$BASE_IMAGE" >&2; then
  echo "error: base image $BASE_IMAGE is neither on this Docker host nor pullable. Without a" \
       "registry, build the local base and use it:" \
       "make base-image && make trainer-image BASE_IMAGE=local/python:3.11-bookworm" >&2
  exit 1
fi

# The host's locally added CA certificates (TLS-intercepting proxies) travel into the build.
docker/copy-host-certs.sh

# The host pip's remote package indexes (file:// ones do not exist inside the build).
args=()
pip_conf() { python3 -m pip config get "$1" 2>/dev/null || true; }
index_url="${PIP_INDEX_URL:-$(pip_conf global.index-url)}"
[[ -n "$index_url" && "$index_url" != file:* ]] && args+=(--build-arg "PIP_INDEX_URL=$index_url")
extra=""
for url in ${PIP_EXTRA_INDEX_URL:-$(pip_conf global.extra-index-url)}; do
  [[ "$url" == file:* ]] || extra="$extra $url"
done
[[ -n "$extra" ]] && args+=(--build-arg "PIP_EXTRA_INDEX_URL=${extra# }")

start=$SECONDS
DOCKER_BUILDKIT=0 docker build --force-rm -f docker/trainer.Dockerfile \
  --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg TF_PACKAGE="$TF_PACKAGE" "${args[@]}" \
  --build-arg VARIANT="$variant" \
  --build-arg LOCK_SHA="$(sha256sum docker/trainer-requirements.txt | cut -c1-12)" \
  -t "$IMAGE:$tag" -t "$IMAGE:latest" . >&2
size=$(docker image inspect -f '{{.Size}}' "$IMAGE:$tag" | awk '{printf "%.2f GB", $1/1e9}')
echo "built $IMAGE:$tag from $BASE_IMAGE (TF_PACKAGE=$TF_PACKAGE) in $((SECONDS - start)) s, $size" >&2
echo "$IMAGE:$tag"
