#!/usr/bin/env bash
# Build a minimal local Debian bookworm + Python 3.11 base image without any image registry:
# debootstrap a minbase root file system from the host's Debian mirror and `docker import` it.
#   docker/base-image.sh [IMAGE]      (default local/python:3.11-bookworm; FORCE=1 rebuilds)
# Used as BASE_IMAGE for docker/trainer.Dockerfile where tensorflow/tensorflow cannot be pulled.
set -euo pipefail
IMAGE="${1:-local/python:3.11-bookworm}"
SUITE="${SUITE:-bookworm}"

if [[ -z "${FORCE:-}" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE already present (FORCE=1 rebuilds)"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install -y debootstrap" >&2; exit 1; }

# The Debian mirror apt already uses here (deb822 "URIs:" or one-line "deb URL suite").
mirror() {
  local url
  url=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
  [[ -n "$url" ]] || url=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
  echo "${MIRROR:-${url:-http://deb.debian.org/debian}}"
}

ROOTFS=$(mktemp -d /tmp/base-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
start=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  "$SUITE" "$ROOTFS" "$(mirror)" >/dev/null
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "built $IMAGE in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$IMAGE" \
  | awk '{printf "%.0f MB", $1/1e6}'))"
