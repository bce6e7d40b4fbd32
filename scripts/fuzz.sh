#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer with AddressSanitizer) of
# every parser that takes outside input: the evaluation config, CPA hook
# stdin, the metric JSON, Locust's statistics output and locustfiles, and the
# state a state file or a state ConfigMap holds (through decisions made from it),
# and simulate's scenarios with the arrivals trace or rates CSV they name.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     # default 60
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz asks for
# nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Corpora start from fixtures/; findings land in fuzz/artifacts/TARGET/.
# Prints executions and findings per target; exits non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seed() { # target, files...
  local dir=corpus/$1; shift
  mkdir -p "$dir"
  for f in "$@"; do if [ -f "$f" ]; then cp "$f" "$dir/$(basename "$f")"; fi; done
}
seed config ../fixtures/evaluation/*.yaml ../fixtures/evaluation/bad/*.yaml ../fixtures/scenarios/*.yaml
seed cpa_stdin ../fixtures/cpa/evaluate/*.json ../fixtures/cpa/bad/*.json ../fixtures/cpa/*.json
mkdir -p corpus/metric
for f in ../fixtures/cpa/evaluate/*.json; do
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"][0]["value"])' "$f" \
    >"corpus/metric/$(basename "$f")" 2>/dev/null || true
done
seed locust_output ../fixtures/locust/*.json
seed locust_failures ../fixtures/locust/recorded/*.csv
seed locustfile ../fixtures/locust/*.py ../fixtures/locust/translate/*.py
# A scenario, a NUL, then the file its load names.
seed scenario ../fixtures/scenarios/*.yaml ../fixtures/scenarios/bad/*.yaml
{ cat ../fixtures/scenarios/trace.yaml; printf '\0'; head -300 ../fixtures/traces/azure-llm-code-2023.csv; } >corpus/scenario/trace-with-file
{ cat ../fixtures/scenarios/recorded.yaml; printf '\0'; cat ../fixtures/scenarios/recorded-load.csv; } >corpus/scenario/recorded-with-file
# A state, a NUL, then 4 bytes per decision made from it (the target's
# doc comment): a few runs to start from. fixtures/state/learned.json is what
# 120 `lpa evaluate` runs under examples/recommended.yaml left, a learned model.
mkdir -p corpus/state
for f in ../fixtures/state/*.json; do
  { cat "$f"; printf '\0\003\001\070\017\002\004\100\017\001\001\030\017'; } >"corpus/state/$(basename "$f")"
done

cargo fuzz build -O >/dev/null 2>&1 || cargo fuzz build -O
status=0
printf '%-15s %10s %12s %10s %s\n' target seconds executions exec/s findings
for t in config cpa_stdin metric locust_output locust_failures locustfile state scenario; do
  log=$(mktemp)
  if cargo fuzz run -O "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=5 >"$log" 2>&1; then
    found=0
  else
    found=$(ls "artifacts/$t" 2>/dev/null | wc -l)
    status=1
  fi
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
  runs=${runs:-$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')}
  printf '%-15s %10s %12s %10s %s\n' "$t" "$secs" "${runs:-?}" "$(( ${runs:-0} / secs ))" "$found"
  [ "$found" = 0 ] || tail -30 "$log"
  rm -f "$log"
done
exit $status
