#!/usr/bin/env bash
# Validates deploy/compose.yaml without a Docker engine: `docker compose config` when the Compose v2 plugin is
# installed, else Debian's docker-compose 1.29 (installed if missing), which reads the same Compose Specification
# but not the top-level `name:` (v2 only), so that line is left out of the copy it checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-check-only}
if docker compose version >/dev/null 2>&1; then
  docker compose -f deploy/compose.yaml config >/dev/null
  echo "deploy/compose.yaml: valid (docker compose config)"
  exit 0
fi
if ! command -v docker-compose >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
copy=deploy/.compose-check.yaml
trap 'rm -f "$copy"' EXIT
grep -v '^name: ' deploy/compose.yaml >"$copy"
docker-compose -f "$copy" config >/dev/null
echo "deploy/compose.yaml: valid (docker-compose $(docker-compose version --short), top-level name left out)"
