#!/usr/bin/env bash
# The Dockerfile's build steps, checked without Docker (none runs here):
#   1. a static release build of lpa, as the image's rust:alpine stage makes
#      it (musl there; here glibc with crt-static, the target this toolchain
#      has), verified to have no dynamic dependencies;
#   2. that binary run from an empty environment, as CPA runs the hooks in
#      the image: `evaluate` on a CPA stdin fixture gives the exact answer,
#      and every hook named in deploy/cpa/config.yaml exists.
# The Dockerfile itself is linted by scripts/check-deploy.sh (hadolint).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
# Its own target dir: different RUSTFLAGS would otherwise rebuild the
# test build's artefacts every time.
dir=${CARGO_TARGET_DIR:-$PWD/target}/static
RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=$dir \
  cargo build --release --locked --target "$target" --bin lpa
bin=$dir/$target/release/lpa

# glibc's ldd says "statically linked" (newer) or "not a dynamic
# executable" (older) for a static binary, and lists libraries otherwise.
linkage=$(ldd "$bin" 2>&1 || true)
case "$linkage" in
  *"statically linked"* | *"not a dynamic executable"*) ;;
  *)
    echo "check-image: $bin is dynamically linked:" >&2
    echo "$linkage" >&2
    exit 1
    ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/lpa"
answer=$(env -i evaluationConfigFilePath="$PWD/fixtures/evaluation/seed.yaml" \
  decayInfoFilePath="$work/decay_info.json" \
  "$work/lpa" evaluate <fixtures/cpa/evaluate/breach.json 2>/dev/null)
if [ "$answer" != '{"targetReplicas":3}' ]; then
  echo "check-image: static lpa evaluate answered '$answer'" >&2
  exit 1
fi
for hook in $(grep -oE 'command: \["[a-z]+"\]' deploy/cpa/config.yaml | grep -oE '"[a-z]+"' | tr -d '"'); do
  env -i "$work/lpa" "$hook" --help >/dev/null
done
echo "check-image: static lpa ($(du -h "$bin" | cut -f1)) runs the CPA hooks from an empty environment" >&2
