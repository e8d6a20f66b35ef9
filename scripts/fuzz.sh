#!/usr/bin/env bash
# Fuzzing (docs/fuzzing.md): builds the libFuzzer targets under Fuzz/ with -sanitize=fuzzer,address into .build-fuzz
# and runs each for SECONDS (default 60) from its seeds. A crash input is copied to Fuzz/crashes/ and the script
# exits non-zero. FUZZ_TARGETS="FuzzJSON FuzzMapper" picks targets; FUZZ_ARGS adds libFuzzer flags.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
targets=(${FUZZ_TARGETS:-FuzzJSON FuzzTemplate FuzzRules FuzzVerification FuzzMapper FuzzRegex})
scratch=.build-fuzz
flags=(--scratch-path "$scratch" -c release --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address)

started=$SECONDS
for t in "${targets[@]}"; do
  BRIDGE_FUZZ=1 swift build "${flags[@]}" --product "$t" || exit 2
done
bin=$(BRIDGE_FUZZ=1 swift build "${flags[@]}" --show-bin-path) || exit 2
echo "fuzz build: $((SECONDS - started)) s"

# A Swift trap (SIGILL) goes to libFuzzer, which saves the input, instead of to the Swift backtracer.
export SWIFT_BACKTRACE=enable=no
# LeakSanitizer reports objects that Swift globals still hold (the rule sets the targets load once) as leaked.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export BRIDGE_FUZZ_MAPPINGS="$PWD/mappings"
mkdir -p Fuzz/crashes
summary=()
failed=0
for t in "${targets[@]}"; do
  # The working corpus lives in the scratch folder and grows across local runs; the seeds are copied in.
  work="$scratch/corpus/$t"
  mkdir -p "$work"
  cp -n Fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
  case "$t" in
    FuzzJSON | FuzzMapper)
      for f in mappings/examples/*/*; do cp -n "$f" "$work/example-$(basename "$(dirname "$f")")-$(basename "$f")"; done ;;
    FuzzRules) cp -n mappings/*.yaml "$work"/ ;;
  esac
  dict=()
  [ -f "Fuzz/dict/$t.dict" ] && dict=(-dict="Fuzz/dict/$t.dict")
  artifacts="$scratch/fuzz-artifacts/$t"  # not artifacts/: SwiftPM owns that folder and resets it
  rm -rf "$artifacts" && mkdir -p "$artifacts"
  log="$scratch/$t.log"
  echo "== $t: ${seconds} s"
  "$bin/$t" "$work" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  line="$t: ${runs:-?} runs, ${speed:-?}/s, coverage ${cov:-?} edges (${ft:-?} features)"
  if [ $status -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
    failed=1
    for f in "$artifacts"/*; do
      [ -e "$f" ] || continue
      cp "$f" "Fuzz/crashes/$t-$(basename "$f")"
      echo "   input: Fuzz/crashes/$t-$(basename "$f")"
    done
    # The report without libFuzzer's and libc's own frames.
    grep -m1 -A30 '^==[0-9]*== *ERROR' "$log" | grep -v 'in fuzzer::\|libc\.so\|libc_start\| in main \| in _start\|^NOTE\|^ *Combine' | head -20
    line="$line: FAILED (exit $status, log $log)"
  fi
  echo "   $line"
  summary+=("$line")
done
echo "== fuzz summary ($((SECONDS - started)) s)"
printf '   %s\n' "${summary[@]}"
exit $failed
