#!/usr/bin/env bash
# The cost of HTTPS and of quotas: the release binary served three times side by side, each
# on a fresh SQLite database: over plain HTTP without quotas (the baseline), over HTTPS (a
# P-256 certificate made here) without quotas, and over plain HTTP with every quota counted
# (per key and per operator, limits high enough never to refuse, so each read is counted and
# the fleet's counters are leased from the database as in production). wrk loads GET
# /healthz and single-item POST /v1/decrypt (durable audit, an X-Baomi-Operator named) on
# each in turn, over keep-alive connections. Prints req/s and p99 for each, and each as a
# share of the baseline; each is loaded twice, the second round in reverse order, against
# the machine's drift.
#   bench/read-cost.sh [--duration 10s] [--conns 64]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10s conns=64
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2;; --conns) conns=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/baomi
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
export BAOMI_UNSEAL_PASSPHRASE="benchmark passphrase, not a secret" BAOMI_LOG_LEVEL=warn

# quotas <limit>: every quota of keys and operators set to <limit> (0: none).
quotas() {
  local scope limit
  for scope in KEY OPERATOR; do
    for limit in REQUESTS_PER_SECOND SUBJECTS_PER_HOUR SUBJECTS_PER_DAY PLAIN_FIELDS_PER_DAY; do
      export "BAOMI_QUOTAS__${scope}__${limit}=$1"
    done
  done
}

# start <name> <port> [tls|quotas]: a server with its own data directory; prints its base URL.
start() {
  local name=$1 port=$2 scheme=http
  mkdir -p "$work/$name"
  (
    quotas 0
    if [ "${3:-}" = tls ]; then
      export BAOMI_TLS__CERT_FILE=$work/cert.pem BAOMI_TLS__KEY_FILE=$work/key.pem
    else
      export BAOMI_TLS__ENABLED=false
    fi
    [ "${3:-}" = quotas ] && quotas 1000000000
    exec "$bin" serve --data-dir "$work/$name" --listen "127.0.0.1:$port" 2>"$work/$name/err.log" >/dev/null
  ) &
  [ "${3:-}" = tls ] && scheme=https
  pids+=($!)
  for _ in $(seq 1 100); do curl -skf "$scheme://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  echo "$scheme://127.0.0.1:$port"
}

# prepare <name> <base>: a purpose, a service key reading it in plain, one sealed value;
# writes <name>/key and <name>/one.json.
prepare() {
  local name=$1 base=$2
  local admin
  admin=$(grep -o 'bm_[A-Za-z0-9_-]*' "$work/$name/err.log" | head -1)
  python3 - "$base" "$admin" "$work/$name" <<'PY'
import json, ssl, sys, urllib.request
base, admin, out = sys.argv[1:4]
context = ssl._create_unverified_context()
def call(path, body, bearer, method="POST"):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
        {"Authorization": "Bearer " + bearer, "Content-Type": "application/json"}, method=method)
    return json.load(urllib.request.urlopen(req, context=context))
call("/v1/purposes/bench", {"description": "benchmark", "legal_basis": "contract", "retention_days": 30,
     "categories": [{"name": "bank_card", "sensitive": False, "level": "C3"}]}, admin, "PUT")
key = call("/v1/keys", {"name": "bench", "role": "service",
     "grants": [{"purpose": "bench", "views": ["masked", "plain"]}]}, admin)["secret"]
item = {"subject_id": "u1", "field": "bank_card", "value": "6222021234567890123", "free_form": True}
sealed = call("/v1/encrypt", {"purpose": "bench", "items": [item]}, key)["items"][0]["ciphertext"]
open(out + "/key", "w").write(key)
json.dump({"purpose": "bench", "view": "plain",
           "items": [{"subject_id": "u1", "field": "bank_card", "ciphertext": sealed}]},
          open(out + "/one.json", "w"))
PY
}

# load <url> [<name> for a decrypt with that server's key and body]: one RESULT line.
load() {
  local url=$1 name=${2:-} lua=$work/load.lua
  {
    if [ -n "$name" ]; then
      echo 'wrk.method = "POST"'
      echo 'wrk.headers["Content-Type"] = "application/json"'
      echo "wrk.headers[\"Authorization\"] = \"Bearer $(cat "$work/$name/key")\""
      echo 'wrk.headers["X-Baomi-Operator"] = "bench-operator"'
      printf 'local f = io.open("%s", "rb"); wrk.body = f:read("*a"); f:close()\n' "$work/$name/one.json"
    fi
    cat <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("req_per_s=%.0f p99_ms=%.2f non_2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
LUA
  } >"$lua"
  wrk -t2 -c"$conns" -d"$duration" -s "$lua" "$url" | grep '^req_per_s'
}

port=$(( 20000 + RANDOM % 20000 ))
plain=$(start plain "$port")
https=$(start https "$((port + 1))" tls)
counted=$(start quotas "$((port + 2))" quotas)
prepare plain "$plain"
prepare https "$https"
prepare quotas "$counted"
echo "== $(date -u +%F), $conns connections, $duration each, keep-alive, two rounds (the second in reverse order)"
declare -A rps
for what in healthz decrypt; do
  for name in plain https quotas quotas https plain; do
    case $name in plain) base=$plain;; https) base=$https;; quotas) base=$counted;; esac
    if [ "$what" = healthz ]; then
      result=$(load "$base/healthz")
    else
      result=$(load "$base/v1/decrypt" "$name")
    fi
    echo "$what, $name: $result"
    rps[$what.$name]=$(( ${rps[$what.$name]:-0} + $(echo "$result" | sed 's/req_per_s=\([0-9]*\).*/\1/') ))
  done
  awk -v p="${rps[$what.plain]}" -v s="${rps[$what.https]}" -v q="${rps[$what.quotas]}" -v w="$what" \
    'BEGIN {printf "%s: https at %.2f of plain, quotas at %.2f of plain (both rounds)\n", w, s / p, q / p}'
done
