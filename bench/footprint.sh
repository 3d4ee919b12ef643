#!/usr/bin/env bash
# Footprint of the server: release build time (from a clean target directory unless
# --incremental), binary size, and resident memory idle after start-up and after 1,000
# health requests. Usage: bench/footprint.sh [--incremental]
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(mktemp -d)
[ "${1:-}" = "--incremental" ] && target=target
start=$(date +%s)
CARGO_TARGET_DIR=$target cargo build --release --locked --quiet
echo "release build: $(( $(date +%s) - start )) s (target dir: $target)"
bin=$target/release/baomi
echo "binary: $(stat -c %s "$bin") bytes"
data=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
"$bin" serve --dev --data-dir "$data" --listen "127.0.0.1:$port" >"$data/out.log" 2>"$data/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
sleep 1
echo "idle RSS: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) kB (peak during start-up, argon2id included: $(awk '/VmHWM/ {print $2}' /proc/$pid/status) kB)"
for _ in $(seq 1 1000); do curl -sf "127.0.0.1:$port/healthz" >/dev/null; done
echo "RSS after 1,000 requests: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) kB"
[ "$target" = target ] || rm -rf "$target"
