#!/usr/bin/env bash
# Bulk onboarding with `baomi import`: N subjects (a mobile number and a name each, the mobile
# searchable) from a CSV file into the stored vault, three ways in one run:
#   - through a fresh server (POST /v1/store, --batch subjects a request, one at a time);
#   - the same through POST /v1/encrypt (--stateless: ciphertexts out, nothing stored);
#   - --offline, straight into a fresh database, no server.
# Prints subjects/s for each, the server's peak resident memory, and the server's ceiling
# (GET /healthz for 3 s) in the same run.
#   bench/import.sh [--subjects 1000000] [--batch 1000] [--database-url postgres://…]
# With --database-url, the database must be empty (a new one per run: the offline import
# goes to a second database, named by appending _offline, created and dropped here).
# Release binary, plain HTTP on loopback, no quotas, the audit trail on and durable.
set -euo pipefail
cd "$(dirname "$0")/.."
subjects=1000000 batch=1000 db_url=
while [ $# -gt 0 ]; do
  case $1 in
    --subjects) subjects=$2; shift 2;; --batch) batch=$2; shift 2;;
    --database-url) db_url=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
cargo build --release --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/release/baomi"
. bench/lib/serve.sh
serve_fresh
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data" "$work"' EXIT
# A service key holds a declared purpose: the import's holds one with the masked view only.
declare_bench_purpose contract mobile
key=$(new_key '{"name":"import","role":"service","permissions":["store_data"],"grants":[{"purpose":"bench","views":["masked"]}]}')

echo "== writing $subjects subjects to CSV"
python3 - "$subjects" "$work/subjects.csv" <<'PY'
import sys
n, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    f.write("subject_id,mobile,name\n")
    for i in range(n):
        f.write(f"s{i},139{i % 100000000:08d},客户{i}\n")
PY
echo "input: $(du -h "$work/subjects.csv" | cut -f1)"

echo "== GET /healthz, the ceiling (64 connections, 3s)"
bash ../shared/bench/http-load.sh --url "$base/healthz" --method GET --conns 64 --duration 3s \
  2>/dev/null | tee "$work/healthz.txt"

( while kill -0 "$pid" 2>/dev/null; do
    awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true; sleep 1
  done >"$work/rss.txt" ) &

# timed <label> <command…>: runs an import and prints its rate.
timed() {
  local label=$1; shift
  local started ended
  started=$(date +%s.%N)
  "$@" 2>"$work/$label.err" || { cat "$work/$label.err" >&2; exit 1; }
  ended=$(date +%s.%N)
  tail -1 "$work/$label.err"
  awk -v s="$started" -v e="$ended" -v n="$subjects" -v l="$label" \
    'BEGIN {printf "RESULT %s: %.1f s, %d subjects/s\n", l, e - s, n / (e - s)}'
}

echo "== baomi import through the server, stored vault (--batch $batch)"
BAOMI_API_KEY=$key timed server "$bin" import "$work/subjects.csv" --out "$work/tokens.jsonl" \
  --server "$base" --batch "$batch" --searchable mobile --operator bench
echo "== baomi import --stateless (POST /v1/encrypt, $batch values a request)"
BAOMI_API_KEY=$key timed stateless "$bin" import "$work/subjects.csv" --out "$work/sealed.jsonl" \
  --server "$base" --batch "$batch" --stateless --operator bench
echo "server memory: peak $(sort -n "$work/rss.txt" | tail -1 | awk '{printf "%d MiB", $1 / 1024}')"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "== baomi import --offline into a fresh database (--batch $batch)"
offline_dir=$(mktemp -d -p "$work")
if [ -n "$db_url" ]; then
  offline_url="${db_url}_offline"
  admin_url="${db_url%/*}/postgres"
  psql "$admin_url" -q -c "DROP DATABASE IF EXISTS ${offline_url##*/}" -c "CREATE DATABASE ${offline_url##*/}"
  export BAOMI_DATABASE_URL=$offline_url
fi
"$bin" init --data-dir "$offline_dir" >/dev/null 2>&1
timed offline "$bin" import "$work/subjects.csv" --out "$work/offline.jsonl" --offline \
  --data-dir "$offline_dir" --batch "$batch" --searchable mobile --operator bench
if [ -n "$db_url" ]; then
  unset BAOMI_DATABASE_URL
  psql "$admin_url" -q -c "DROP DATABASE IF EXISTS ${offline_url##*/}"
fi
