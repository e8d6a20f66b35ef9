#!/usr/bin/env bash
# Builds the release binary and runs the loopback benchmark; prints ratios measured in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product cloudthread-bridge
python3 scripts/benchmark.py --binary .build/release/cloudthread-bridge "$@"
