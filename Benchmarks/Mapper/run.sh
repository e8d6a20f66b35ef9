#!/usr/bin/env bash
# The mapper's benchmark (docs/architecture.md, "How a body is read"): builds Benchmarks/Mapper in release and, for
# the 3 KB GitHub deployment_status fixture and its 9 KB variant (deployment_status_9k.json: the same delivery with
# the full repository, user and installation objects GitHub sends), prints ns per map before (the whole JSONValue
# tree, as main's mapper read a body) and after (JSONIndex), then mallocs per map of each, counted with a perf uprobe
# on libc's malloc: (count at N maps - count at 0 maps) / N.
# Needs the probe once per machine: perf probe -x /lib/x86_64-linux-gnu/libc.so.6 -a malloc
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
iterations=${ITERATIONS:-20000}
(cd "$here" && swift build -c release --product mapper-benchmark >&2)
bin=$(cd "$here" && swift build -c release --show-bin-path)/mapper-benchmark
bodies=("$root/Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json" "$here/deployment_status_9k.json")
cd "$root"
for body in "${bodies[@]}"; do
  "$bin" --body "$body" --iterations "$iterations"
done
mallocs() {  # mode body iterations
  perf stat -x, -e probe_libc:malloc -- "$bin" --body "$2" --mode "$1" --iterations "$3" 2>&1 >/dev/null \
    | awk -F, '/probe_libc:malloc/ { print $1 }'
}
if perf list 2>/dev/null | grep probe_libc:malloc >/dev/null; then
  n=2000
  for body in "${bodies[@]}"; do
    line="$(basename "$body"):"
    for mode in before after; do
      zero=$(mallocs "$mode" "$body" 0)
      full=$(mallocs "$mode" "$body" "$n")
      line+=" $mode $(awk -v a="$full" -v b="$zero" -v n="$n" 'BEGIN { printf "%.1f", (a - b) / n }') mallocs/map"
    done
    echo "$line"
  done
else
  echo "no probe_libc:malloc (perf probe -x /lib/x86_64-linux-gnu/libc.so.6 -a malloc): mallocs not counted"
fi
