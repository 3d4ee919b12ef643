# Sourced by the HTTP benchmarks: starts the release binary on a free loopback port with a
# fresh data directory, plain HTTP, no quotas and warnings-only logs, on SQLite or on
# $db_url when set. Sets data, port, base, pid and admin (the bootstrap key), and a trap
# that stops the server and removes the directory.
serve_fresh() {
  data=$(mktemp -d)
  port=$(( 20000 + RANDOM % 20000 ))
  base="http://127.0.0.1:$port"
  export BAOMI_UNSEAL_PASSPHRASE="benchmark passphrase, not a secret"
  export BAOMI_LOG_LEVEL=warn
  export BAOMI_TLS__ENABLED=false
  local scope limit
  for scope in KEY OPERATOR; do
    for limit in REQUESTS_PER_SECOND SUBJECTS_PER_HOUR SUBJECTS_PER_DAY PLAIN_FIELDS_PER_DAY; do
      export "BAOMI_QUOTAS__${scope}__${limit}=0"
    done
  done
  if [ -n "${db_url:-}" ]; then export BAOMI_DATABASE_URL=$db_url; fi
  "${CARGO_TARGET_DIR:-target}/release/baomi" serve --data-dir "$data" --listen "127.0.0.1:$port" \
    >"$data/out.log" 2>"$data/err.log" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
  for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
  admin=$(grep -o 'bm_[A-Za-z0-9_-]*' "$data/err.log" | head -1)
  [ -n "$admin" ] || { echo "no bootstrap key: the database is not fresh" >&2; exit 1; }
}

# Prints the wrk Lua `done` function the benchmarks end their scripts with: one RESULT line
# of requests/s, p50, p99, socket errors and non-2xx answers.
wrk_result_lua() {
  cat <<'LUA'
function done(summary, latency, requests)
  io.write(string.format("RESULT req_per_s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
LUA
}

# Declares the purpose `bench` on the fresh server: legal basis $1, its one PI category $2.
declare_bench_purpose() {
  curl -sf -X PUT "$base/v1/purposes/bench" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' \
    -d "{\"description\":\"benchmark\",\"legal_basis\":\"$1\",\"retention_days\":30,
         \"categories\":[{\"name\":\"$2\",\"sensitive\":false,\"level\":\"C3\"}]}" >/dev/null
}

# Creates a key from the POST /v1/keys body $1 and prints its secret.
new_key() {
  curl -sf -X POST "$base/v1/keys" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d "$1" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])'
}
