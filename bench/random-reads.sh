#!/usr/bin/env bash
# Reads spread over many subjects against reads of a few hot ones: loads N subjects into a
# fresh server (one value each, through POST /v1/encrypt in batches, so each subject gets
# its data key), then loads single-item POST /v1/decrypt with wrk three ways in one run:
# GET /healthz (the ceiling), the same 10 subjects over and over (every data key cached),
# and a subject drawn at random out of all N for every request (most keys not cached once
# N exceeds the key cache). Prints req/s, p99, random as a share of hot, and the server's
# resident memory sampled every second from the start of the load to the end.
#   bench/random-reads.sh [--subjects 1000000] [--duration 8s] [--conns 64]
#                         [--database-url postgres://…]
# --subjects 10000000 is the large case: about 2.6 GB of request bodies in the work
# directory (fixed-size records, so wrk picks one by seeking) and several minutes of load.
# Release binary, plain HTTP on loopback, no quotas, the audit trail on and durable.
set -euo pipefail
cd "$(dirname "$0")/.."
subjects=1000000 duration=8s conns=64 db_url=
while [ $# -gt 0 ]; do
  case $1 in
    --subjects) subjects=$2; shift 2;; --duration) duration=$2; shift 2;;
    --conns) conns=$2; shift 2;; --database-url) db_url=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ "$subjects" -ge 10 ] || { echo "--subjects must be at least 10" >&2; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
. bench/lib/serve.sh
serve_fresh
declare_bench_purpose contract bank_card
service=$(new_key '{"name":"bench","role":"service","grants":[{"purpose":"bench","views":["masked","plain"]}]}')

# Resident memory every second, from here to the end.
( while kill -0 "$pid" 2>/dev/null; do
    awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true; sleep 1
  done >"$data/rss.txt" ) &
sampler=$!
trap 'kill $sampler $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT

echo "== loading $subjects subjects (POST /v1/encrypt, 1000 per request, 8 callers)"
started=$(date +%s.%N)
python3 - "$base" "$service" "$subjects" "$data/bodies" <<'PY'
# Writes one single-item decrypt body per subject, each padded with spaces to the same
# length, so that wrk can read the body of subject i at offset i * length.
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, key, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
RECORD = 256
BATCH = 1000
def seal(start):
    items = [{"subject_id": f"s{i}", "field": "bank_card", "value": "6222021234567890",
              "free_form": True} for i in range(start, min(start + BATCH, n))]
    req = urllib.request.Request(base + "/v1/encrypt",
        json.dumps({"purpose": "bench", "items": items}).encode(),
        {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    sealed = json.load(urllib.request.urlopen(req, timeout=120))["items"]
    records = []
    for item, s in zip(items, sealed):
        body = json.dumps({"purpose": "bench", "view": "plain", "items": [
            {"subject_id": item["subject_id"], "field": "bank_card", "ciphertext": s["ciphertext"]}]},
            separators=(",", ":")).encode()
        assert len(body) <= RECORD, len(body)
        records.append(body.ljust(RECORD))
    return b"".join(records)
with open(out, "wb") as f, ThreadPoolExecutor(8) as pool:
    for chunk in pool.map(seal, range(0, n, BATCH)):
        f.write(chunk)
PY
awk -v s="$started" -v e="$(date +%s.%N)" -v n="$subjects" \
  'BEGIN {printf "loaded in %.1f s: %d subjects/s\n", e - s, n / (e - s)}'

# pick(<how many subjects to draw from>): a wrk script sending subject i's body, i random.
pick() {
  cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $service"
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local bodies
function init(args)
  bodies = io.open("$data/bodies", "rb")
  math.randomseed(os.time() * 16 + tid)
end
function request()
  bodies:seek("set", math.random(0, $1 - 1) * 256)
  return wrk.format(nil, nil, nil, bodies:read(256))
end
$(wrk_result_lua)
LUA
}
pick 10 >"$data/hot.lua"
pick "$subjects" >"$data/random.lua"
rate() { awk -F'req_per_s=' '/^RESULT/ {split($2, a, " "); print a[1]}' "$1"; }
echo "== GET /healthz, the ceiling ($conns connections, $duration)"
bash ../shared/bench/http-load.sh --url "$base/healthz" --method GET --conns "$conns" \
  --duration "$duration" 2>/dev/null | tee "$data/healthz.txt"
for which in hot random; do
  echo "== decrypt, 1 item, $which subjects ($conns connections, $duration)"
  wrk -t2 -c"$conns" -d"$duration" --latency -s "$data/$which.lua" "$base/v1/decrypt" \
    | grep '^RESULT' | tee "$data/$which.txt"
done
ceiling=$(rate "$data/healthz.txt") hot=$(rate "$data/hot.txt") random=$(rate "$data/random.txt")
awk -v c="$ceiling" -v h="$hot" -v r="$random" -v n="$subjects" 'BEGIN {
  printf "hot:    %.2f of healthz\nrandom: %.2f of healthz, %.2f of hot (%d subjects)\n", h / c, r / c, r / h, n}'
mib() { awk '{printf "%d MiB", $1 / 1024}'; }
echo "server memory: $(head -1 "$data/rss.txt" | mib) before the load, peak $(sort -n "$data/rss.txt" | tail -1 | mib), $(tail -1 "$data/rss.txt" | mib) at the end ($(wc -l <"$data/rss.txt") samples, one a second)"
