#!/usr/bin/env bash
# The Kubernetes manifests, offline: the generated files are up to date with producers/cities;
# every overlay renders (kustomize) and validates against the Kubernetes JSON schemas of each
# targeted version and the CRD schemas of k8s/crd-schemas (kubeconform, strict); Blotter's own
# rules hold on what the overlays render (rules.py). And each check can fail: kubeconform must
# refuse every document of fixtures/invalid.yaml, and the rules must catch each breakage of
# rules.py's self-test. Tools: make deps (kustomize, kubeconform, schemas under .run/tools).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/infra/local/common.sh"
cd "$ROOT"
TOOLS=$RUN/tools
KUSTOMIZE=$TOOLS/bin/kustomize
KUBECONFORM=$TOOLS/bin/kubeconform
SCHEMAS=$TOOLS/kubernetes-json-schema
PY=/usr/bin/python3
for t in "$KUSTOMIZE" "$KUBECONFORM"; do
    [ -x "$t" ] || die "$t missing: run make deps"
done
versions=$(cd "$SCHEMAS" 2>/dev/null && ls -d v*-local-strict | sed 's/^v//; s/-local-strict$//')
[ -n "$versions" ] || die "no Kubernetes schemas under $SCHEMAS: run make deps"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "generated manifests"
$PY k8s/generate.py --check

# kubeconform FILE VERSION: strict validation, summary on stdout
conform() {
    "$KUBECONFORM" -strict -summary -kubernetes-version "$2" \
        -schema-location "file://$SCHEMAS/{{.NormalizedKubernetesVersion}}-local{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
        -schema-location "file://$ROOT/k8s/crd-schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json" \
        "$1"
}

fail=0
for dir in $(find k8s/overlays -name kustomization.yaml -printf '%h\n' | sort); do
    name=${dir#k8s/overlays/}
    file=$out/${name//\//-}.yaml
    echo "overlay $name"
    "$KUSTOMIZE" build "$dir" >"$file"
    for v in $versions; do
        printf '  Kubernetes %s: ' "$v"
        conform "$file" "$v" || fail=1
    done
    if grep -q 'name: blotter-settings' "$file"; then
        printf '  rules: '
        if $PY tests/k8s/rules.py "$file" producers/cities >"$out/rules.txt"; then
            echo "ok ($(grep -c '^kind:' "$file") objects)"
        else
            echo "FAILED"
            sed 's/^/    /' "$out/rules.txt"
            fail=1
        fi
    fi
done

echo "the checks can fail"
mkdir "$out/cities"
cp producers/cities/*.json "$out/cities/"
sed 's/"name": *"chicago"/"name": "atlantis"/' producers/cities/chicago.json >"$out/cities/atlantis.json"
if $PY k8s/generate.py --check --cities "$out/cities" 2>/dev/null; then
    echo "  generate.py --check missed a new city file"
    fail=1
else
    echo "  a new city file makes the generated manifests stale"
fi
n=$(grep -c '^kind:' tests/k8s/fixtures/invalid.yaml)
for v in $versions; do
    if summary=$(conform tests/k8s/fixtures/invalid.yaml "$v" 2>&1); then
        echo "  kubeconform accepted tests/k8s/fixtures/invalid.yaml"
        fail=1
    elif ! grep -q "Invalid: $n, Errors: 0" <<<"$summary"; then
        echo "  kubeconform did not refuse each of the $n documents for the schema's reason:"
        sed 's/^/    /' <<<"$summary"
        fail=1
    else
        echo "  Kubernetes $v: all $n invalid documents refused"
    fi
done
$PY tests/k8s/rules.py --self-test "$out/production.yaml" producers/cities || fail=1
[ "$fail" -eq 0 ]
