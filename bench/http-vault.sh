#!/usr/bin/env bash
# HTTP figures of the vault with the audit trail on and durable: single-item decrypt
# requests/s and p99, and fields/s in batches of 100, on the release binary.
#   bench/http-vault.sh [--database-url postgres://…] [--duration 15s] [--conns 64] [--consent]
# --consent declares the purpose consent-based and grants it for the subjects read, so every
# decrypt also checks the consent ledger.
# Starts its own server on a free loopback port and a fresh data directory, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
db_url= duration=15s conns=64 consent=
while [ $# -gt 0 ]; do
  case $1 in
    --database-url) db_url=$2; shift 2;; --duration) duration=$2; shift 2;;
    --conns) conns=$2; shift 2;; --consent) consent=1; shift;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
data=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
base="http://127.0.0.1:$port"
export BAOMI_UNSEAL_PASSPHRASE="benchmark passphrase, not a secret"
export BAOMI_LOG_LEVEL=warn
[ -n "$db_url" ] && export BAOMI_DATABASE_URL=$db_url
"${CARGO_TARGET_DIR:-target}/release/baomi" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$data/out.log" 2>"$data/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
admin=$(grep -o 'bm_[A-Za-z0-9_-]*' "$data/err.log" | head -1)
[ -n "$admin" ] || { echo "no bootstrap key: the database is not fresh" >&2; exit 1; }
service=$(curl -sf -X POST "$base/v1/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"bench","role":"service","purposes":["bench"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

python3 - "$base" "$service" "$data" "$admin" "$consent" <<'PY'
import json, sys, urllib.request
base, key, out, admin, consent = sys.argv[1:6]
def post(path, body, method="POST", bearer=key):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
        {"Authorization": "Bearer " + bearer, "Content-Type": "application/json"}, method=method)
    return json.load(urllib.request.urlopen(req))
if consent:
    post("/v1/purposes/bench", {"description": "benchmark", "legal_basis": "consent",
        "categories": [{"name": "bank_card", "sensitive": False, "level": "C3"}],
        "retention_days": 30}, method="PUT", bearer=admin)
    for i in range(10):
        post(f"/v1/subjects/u{i}/consents", {"purpose": "bench", "channel": "app", "evidence": "benchmark"})
items = [{"subject_id": f"u{i % 10}", "field": "bank_card", "value": "6222021234567890123456789012_345"} for i in range(100)]
sealed = post("/v1/encrypt", {"items": items})["items"]
targets = [{"subject_id": f"u{i % 10}", "field": "bank_card", "ciphertext": s["ciphertext"]} for i, s in enumerate(sealed)]
json.dump({"purpose": "bench", "view": "plain", "items": targets[:1]}, open(out + "/one.json", "w"))
json.dump({"purpose": "bench", "view": "plain", "items": targets}, open(out + "/hundred.json", "w"))
json.dump({"items": items[:1]}, open(out + "/enc-one.json", "w"))
PY

load=../shared/bench/http-load.sh
echo "== decrypt, 1 item per request ($conns connections, $duration)"
bash "$load" --url "$base/v1/decrypt" --body "$data/one.json" --key "$service" --conns "$conns" --duration "$duration" 2>/dev/null
echo "== decrypt, 100 items per request (fields/s = req/s x 100)"
bash "$load" --url "$base/v1/decrypt" --body "$data/hundred.json" --key "$service" --conns "$conns" --duration "$duration" 2>/dev/null
echo "== encrypt, 1 item per request (not audited)"
bash "$load" --url "$base/v1/encrypt" --body "$data/enc-one.json" --key "$service" --conns "$conns" --duration "$duration" 2>/dev/null
events=$(curl -sf "$base/metrics" | awk '/^baomi_audit_commit_events_(sum|count)/ {print $2}' | paste -sd' ')
echo "audit commits: events_sum events_count = $events"
