#!/usr/bin/env bash
# The host's locally added CA certificates (TLS-intercepting proxies) -> docker/certs/, which the
# Dockerfiles install (docker/certs/README.md). Used by the image build scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
find docker/certs -maxdepth 1 -type f ! -name README.md -delete
for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
  if [[ -f "$crt" ]]; then cp "$crt" docker/certs/; fi
done
