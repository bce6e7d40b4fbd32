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
echo
printf '%-58s %8s\n' "sweep: fixtures/sweeps/bench-1000.yaml over step.yaml, 1 000 cycles" "seconds"
for samples in 200 50; do
  for jobs in 1 "$cores"; do
    log=$("$target/release/lpa" simulate \
      --evaluation-config fixtures/evaluation/seed.yaml \
      --scenario fixtures/scenarios/step.yaml \
      --sweep fixtures/sweeps/bench-1000.yaml \
      --cycles 1000 --samples "$samples" --jobs "$jobs" 2>&1 >/dev/null)
    secs=$(sed -n 's/.* in \([0-9.]*\)s on .*/\1/p' <<<"$log")
    printf '%-58s %8s\n' "  $samples samples per cycle, $jobs thread(s)" "$secs"
  done
done
