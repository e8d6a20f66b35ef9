#!/usr/bin/env bash
# Profiles the bridge under the benchmark's valid-signature load: installs linux-perf (and valgrind for --callgrind),
# nginx with the echo module and wrk from Debian if missing, builds the release binary and runs scripts/profile.py,
# which prints `perf report --no-children` top frames and, with --callgrind N, instructions per webhook.
#   scripts/profile.sh                       # perf during 10 s of wrk -t2 -c32
#   scripts/profile.sh --callgrind 2000      # and callgrind over 2,000 webhooks (slow: about a minute)
#   scripts/profile.sh --no-perf --syscalls  # system calls per webhook (strace -c -f) instead
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v perf >/dev/null || missing+=(linux-perf)
command -v nginx >/dev/null || missing+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || missing+=(libnginx-mod-http-echo)
command -v wrk >/dev/null || missing+=(wrk)
# build dependencies of the package (libcrypto, and the system SQLite where the store uses it)
pkg-config --exists openssl 2>/dev/null || missing+=(pkg-config libssl-dev)
pkg-config --exists sqlite3 2>/dev/null || missing+=(libsqlite3-dev)
case " $* " in *" --callgrind "*) command -v valgrind >/dev/null || missing+=(valgrind) ;; esac
case " $* " in *" --syscalls "*) command -v strace >/dev/null || missing+=(strace) ;; esac
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]}" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "$(id -u)" -ne 0 ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 1 ]; then
    echo "perf needs kernel.perf_event_paranoid <= 1 for a non-root user: sudo sysctl kernel.perf_event_paranoid=1" >&2
    exit 2
fi

swift build -c release --product cloudthread-bridge
exec python3 scripts/profile.py --binary "$(swift build -c release --show-bin-path)/cloudthread-bridge" "$@"
