#!/usr/bin/env bash
# HTTP figures of the vault with the audit trail on and durable: single-item decrypt
# requests/s and p99, fields/s in batches of 100, and single-item encrypt, each also as a
# ratio to GET /healthz measured on the same server in the same run; then new subjects/s
# (encrypts for subjects never seen, each a new data key) and the server's resident memory.
# Release binary.
#   bench/http-vault.sh [--database-url postgres://…] [--duration 15s] [--conns 64] [--consent]
#                       [--nodes 2] [--suite sm4gcm]
# --consent declares the purpose consent-based and grants it for the subjects read, so every
# decrypt also checks the consent ledger. --nodes 2 (PostgreSQL only) starts a second node on
# the same database and measures single decrypts against both at once (half the connections
# each, summed), then how far the signed checkpoint trails the events. --suite sm4gcm
# encrypts into a keyring of that suite instead of the default AES-256-GCM one.
# Starts its own server on a free loopback port and a fresh data directory, and stops it.
# Plain HTTP on loopback (tls.enabled = false), as wrk is measured against it.
set -euo pipefail
cd "$(dirname "$0")/.."
db_url= duration=15s conns=64 consent= nodes=1 suite=aes256gcm
while [ $# -gt 0 ]; do
  case $1 in
    --database-url) db_url=$2; shift 2;; --duration) duration=$2; shift 2;;
    --conns) conns=$2; shift 2;; --consent) consent=1; shift;; --nodes) nodes=$2; shift 2;;
    --suite) suite=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
# No quotas: this measures the vault and its audit (bench/read-cost.sh measures quotas).
. bench/lib/serve.sh
serve_fresh
# A key holds declared purposes only, and reads plain values only where granted.
legal_basis=contract
[ -n "$consent" ] && legal_basis=consent
declare_bench_purpose "$legal_basis" bank_card
service=$(new_key '{"name":"bench","role":"service","grants":[{"purpose":"bench","views":["masked","plain"]}],"permissions":["record_consent"]}')

python3 - "$base" "$service" "$data" "$admin" "$consent" "$suite" <<'PY'
import json, sys, urllib.request
base, key, out, admin, consent, suite = sys.argv[1:7]
def post(path, body, method="POST", bearer=key):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
        {"Authorization": "Bearer " + bearer, "Content-Type": "application/json"}, method=method)
    return json.load(urllib.request.urlopen(req))
if consent:
    for i in range(10):
        post(f"/v1/subjects/u{i}/consents", {"purpose": "bench", "channel": "app", "evidence": "benchmark"})
keyring = "default"
if suite != "aes256gcm":
    keyring = "bench"
    post("/v1/keyrings", {"name": keyring, "suite": suite}, bearer=admin)
items = [{"subject_id": f"u{i % 10}", "field": "bank_card", "value": "6222021234567890123456789012_345", "free_form": True} for i in range(100)]
sealed = post("/v1/encrypt", {"keyring": keyring, "purpose": "bench", "items": items})["items"]
targets = [{"subject_id": f"u{i % 10}", "field": "bank_card", "ciphertext": s["ciphertext"]} for i, s in enumerate(sealed)]
json.dump({"purpose": "bench", "view": "plain", "items": targets[:1]}, open(out + "/one.json", "w"))
json.dump({"purpose": "bench", "view": "plain", "items": targets}, open(out + "/hundred.json", "w"))
json.dump({"keyring": keyring, "purpose": "bench", "items": items[:1]}, open(out + "/enc-one.json", "w"))
PY

load=../shared/bench/http-load.sh
if [ "$nodes" = 2 ]; then
  [ -n "$db_url" ] || { echo "--nodes 2 needs --database-url postgres://…" >&2; exit 2; }
  data2=$(mktemp -d)
  port2=$(( port + 1 ))
  base2="http://127.0.0.1:$port2"
  "${CARGO_TARGET_DIR:-target}/release/baomi" serve --data-dir "$data2" --listen "127.0.0.1:$port2" >"$data2/out.log" 2>"$data2/err.log" &
  pid2=$!
  trap 'kill $pid $pid2 2>/dev/null || true; wait $pid $pid2 2>/dev/null || true; rm -rf "$data" "$data2"' EXIT
  for _ in $(seq 1 100); do curl -sf "$base2/readyz" >/dev/null && break; sleep 0.1; done
  officer=$(curl -sf -X POST "$base/v1/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"name":"bench officer","role":"officer"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  half=$(( conns / 2 ))
  echo "== decrypt, 1 item per request, two nodes at once ($half connections each, $duration)"
  bash "$load" --url "$base/v1/decrypt" --body "$data/one.json" --key "$service" --threads 1 --conns "$half" --duration "$duration" >"$data/a.txt" 2>/dev/null &
  load_a=$!
  bash "$load" --url "$base2/v1/decrypt" --body "$data/one.json" --key "$service" --threads 1 --conns "$half" --duration "$duration" >"$data/b.txt" 2>/dev/null &
  load_b=$!
  wait "$load_a" "$load_b"
  grep RESULT "$data/a.txt" "$data/b.txt"
  awk -F'req_per_s=' '/RESULT/ {split($2, a, " "); s += a[1]} END {printf "both nodes: %d req/s\n", s}' "$data/a.txt" "$data/b.txt"
  events=$(psql "$db_url" -tAc 'SELECT COUNT(*) FROM audit_events' 2>/dev/null || echo '?')
  signed=$(curl -sf "$base/v1/audit/checkpoint" -H "Authorization: Bearer $officer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])')
  echo "right after the load: $events events, newest signed checkpoint covers $signed (leaves are appended in each read's transaction; the integrator signs every second)"
  sleep 2
  signed=$(curl -sf "$base/v1/audit/checkpoint" -H "Authorization: Bearer $officer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])')
  echo "two seconds later: the checkpoint covers $signed"
  exit 0
fi
# Each figure beside GET /healthz on the same server in the same run: the HTTP stack's
# ceiling on this machine, which the noise of these machines moves with everything else.
rate() { awk -F'req_per_s=' '/^RESULT/ {split($2, a, " "); print a[1]}' "$1"; }
measure() {  # name, url, body ("" for a GET), then the figures' file
  local method=POST
  [ -n "$3" ] || method=GET
  echo "== $1 ($conns connections, $duration)"
  bash "$load" --url "$2" ${3:+--body "$3"} --method "$method" --key "$service" \
    --conns "$conns" --duration "$duration" 2>/dev/null | tee "$data/$4.txt"
}
measure "GET /healthz, the ceiling" "$base/healthz" "" healthz
measure "decrypt, 1 item per request" "$base/v1/decrypt" "$data/one.json" one
measure "decrypt, 100 items per request (fields/s = req/s x 100)" "$base/v1/decrypt" "$data/hundred.json" hundred
measure "encrypt, 1 item per request (a known subject)" "$base/v1/encrypt" "$data/enc-one.json" enc
# Onboarding: every item a subject the vault has not seen, so each needs a new data key.
keyring=default
[ "$suite" = aes256gcm ] || keyring=bench
cat >"$data/new-subjects.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $service"
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local sent = 0
function request()
  sent = sent + 1
  local items = {}
  for i = 1, 100 do
    items[i] = string.format('{"subject_id":"new-%d-%d-%d","field":"bank_card",'
      .. '"value":"6222021234567890","free_form":true}', tid, sent, i)
  end
  return wrk.format(nil, nil, nil,
    '{"keyring":"$keyring","purpose":"bench","items":[' .. table.concat(items, ",") .. ']}')
end
$(wrk_result_lua)
LUA
echo "== encrypt, 100 subjects never seen before per request ($conns connections, $duration)"
wrk -t2 -c"$conns" -d"$duration" --timeout 60s --latency -s "$data/new-subjects.lua" "$base/v1/encrypt" \
  | grep '^RESULT' | tee "$data/new.txt"
ceiling=$(rate "$data/healthz.txt")
echo "== against GET /healthz ($ceiling req/s)"
for f in one:"decrypt, 1 item" hundred:"decrypt, 100 items" enc:"encrypt, 1 item"; do
  r=$(rate "$data/${f%%:*}.txt")
  awk -v r="$r" -v c="$ceiling" -v n="${f#*:}" 'BEGIN {printf "%-18s %8d req/s  %.2f of healthz\n", n, r, r / c}'
done
echo "decrypt in batches: $(( $(rate "$data/hundred.txt") * 100 )) fields/s"
echo "new subjects: $(( $(rate "$data/new.txt") * 100 )) subjects/s"
# Resident memory now, and at its peak, with every subject above in the key cache.
echo "server memory: $(awk '/^VmRSS|^VmHWM/ {printf "%s %d MiB  ", $1, $2 / 1024}' "/proc/$pid/status")"
events=$(curl -sf "$base/metrics" | awk '/^baomi_audit_commit_events_(sum|count)/ {print $2}' | paste -sd' ')
echo "audit commits: events_sum events_count = $events"
