#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the pinned peers, then
# runs formatting and lint checks and every test (unit, snapshot, property,
# and integration tests that drive the real lpa binary on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-tools.sh
export LPA_TOOLS_BIN="$PWD/.tools/venv/bin"

cargo fmt --all -- --check
scripts/check-deploy.sh
scripts/check-deps.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
# The image's static build, run as CPA runs it (no Docker here).
scripts/check-image.sh
cargo test --workspace --locked
