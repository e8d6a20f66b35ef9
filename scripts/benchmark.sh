#!/usr/bin/env bash
# The performance benchmark: installs nginx (with the echo module) and wrk from Debian if they are missing, builds
# the release binary and runs scripts/benchmark.py, which compares the bridge with nginx on loopback in one run and
# prints one table (target, measured, ratio/threshold, result). Exit 1: a target missed by more than the noise
# margin; exit 2: the run itself broke. Options go to benchmark.py (--long, --count N, --margin 0.1, --keep, ...).
# With BENCHMARK_DATABASE_URL=postgres://... it then measures the replica row (scripts/benchmark-replicas.py).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || missing+=(libnginx-mod-http-echo)
command -v wrk >/dev/null || missing+=(wrk)
# build dependencies of the package (libcrypto, and the system SQLite where the store uses it)
pkg-config --exists openssl 2>/dev/null || missing+=(pkg-config libssl-dev)
pkg-config --exists sqlite3 2>/dev/null || missing+=(libsqlite3-dev)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]}" >&2
    $sudo apt-get update -q
    # On a machine with systemd, Debian's nginx package also starts its default site (port 80); the benchmark does
    # not use it: benchmark.py runs its own nginx master on loopback ports and stops it at the end.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

swift build -c release --product cloudthread-bridge
binary="$(swift build -c release --show-bin-path)/cloudthread-bridge"
# The floors (docs/benchmark.md): a minimal SwiftNIO handler and a minimal Hummingbird route, a package of their own.
swift build -c release --package-path Benchmarks/Floors
floors="$(swift build -c release --package-path Benchmarks/Floors --show-bin-path)"
status=0
python3 scripts/benchmark.py --binary "$binary" --floors "$floors" "$@" || status=$?

# The replica row (docs/benchmark.md, "Several replicas on one PostgreSQL"): accepted webhooks/s on SQLite and on one
# PostgreSQL database with 1 and 3 replicas, measured in one run by scripts/benchmark-replicas.py with the same
# release binary, when a database is given (for example the throwaway one of scripts/ci-postgres.sh:
# `source scripts/ci-postgres.sh && BENCHMARK_DATABASE_URL=$BRIDGE_TEST_DATABASE_URL scripts/benchmark.sh`).
if [ -n "${BENCHMARK_DATABASE_URL:-}" ]; then
    python3 scripts/benchmark-replicas.py --binary "$binary" --database-url "$BENCHMARK_DATABASE_URL" \
        || { replicas=$?; [ "$status" -ne 0 ] || status=$replicas; }
else
    echo "replica row skipped: set BENCHMARK_DATABASE_URL=postgres://... to measure 1 and 3 replicas on PostgreSQL" >&2
fi
exit "$status"
