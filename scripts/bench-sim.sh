#!/usr/bin/env bash
# Speed of the decision core and the simulator, as tables:
#  1. decide() and 10 000-cycle simulations on one core (cargo bench);
#  2. a 1 000-point sweep of 1 000 cycles each through the real binary,
#     on 1 thread and on every core, at 200 and 50 samples per cycle.
# Figures only, no pass/fail: speed depends on the machine and its load.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

cargo bench -p lpa-core --bench sim
cargo build --release -p lpa --quiet

cores=$(nproc)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo
printf '%-58s %8s %12s\n' "sweep: fixtures/sweeps/bench-1000.yaml over step.yaml, 1 000 cycles" "wall s" "CPU s"
for samples in 200 50; do
  for jobs in 1 "$cores"; do
    # CPU time beside the wall clock: on a shared machine the wall clock
    # also counts other people's work.
    cpu=$( { TIMEFORMAT='%U %S'; time "$target/release/lpa" simulate \
      --evaluation-config fixtures/evaluation/seed.yaml \
      --scenario fixtures/scenarios/step.yaml \
      --sweep fixtures/sweeps/bench-1000.yaml \
      --cycles 1000 --samples "$samples" --jobs "$jobs" >/dev/null 2>"$log"; } 2>&1 )
    secs=$(sed -n 's/.* in \([0-9.]*\)s on .*/\1/p' "$log")
    cpu=$(awk '{printf "%.2f", $1 + $2}' <<<"$cpu")
    printf '%-58s %8s %12s\n' "  $samples samples per cycle, $jobs thread(s)" "$secs" "$cpu"
  done
done
echo "load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
