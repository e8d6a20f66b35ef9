#!/usr/bin/env bash
# A long run of the forwarder's simulation (docs/operations.md, "The simulation"), on an optimised build:
#   scripts/simulate.sh --schedules 1000000 [--first-seed 1] [--sqlite 1000]
# Each schedule is a seeded fault schedule run against the in-memory model of the outbox; --sqlite adds schedules on
# the real SQLite store. A failing seed is printed with the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

schedules=1000000
first=1
sqlite=0
while [ $# -gt 0 ]; do
  case "$1" in
    --schedules) schedules="$2"; shift 2 ;;
    --first-seed) first="$2"; shift 2 ;;
    --sqlite) sqlite="$2"; shift 2 ;;
    *) echo "usage: scripts/simulate.sh [--schedules N] [--first-seed N] [--sqlite N]" >&2; exit 2 ;;
  esac
done

scratch=.build-sim
flags=(-c release --scratch-path "$scratch" -Xswiftc -enable-testing)
swift build "${flags[@]}" --build-tests
started=$(date +%s)
BRIDGE_SIM_SCHEDULES="$schedules" BRIDGE_SIM_FIRST_SEED="$first" BRIDGE_SIM_SQLITE_SCHEDULES="$sqlite" \
  swift test "${flags[@]}" --skip-build --filter BridgeSimulationTests
echo "simulate.sh: $schedules schedules from seed $first (and $sqlite on SQLite) in $(( $(date +%s) - started )) s"
