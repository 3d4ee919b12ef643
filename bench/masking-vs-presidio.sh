#!/usr/bin/env bash
# Free-text detection throughput of Baomi and of Microsoft Presidio on the same corpus, in
# the same run, one process each, and their ratio.
#   bench/masking-vs-presidio.sh [--n 20000]
# Needs ../shared (the corpus generator and the Presidio benchmark); Presidio is installed
# into a virtualenv on first use by ../shared/bench/run-presidio.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${BAOMI_SHARED:-$here/../../shared}
n=20000
while [ $# -gt 0 ]; do
  case $1 in
    --n) n=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
corpus=$(mktemp --suffix=.jsonl)
trap 'rm -f "$corpus"' EXIT
python3 "$shared/corpus/gen_corpus.py" --n "$n" --seed 20240601 --out "$corpus" >/dev/null
target=${CARGO_TARGET_DIR:-$here/../target}
(cd "$here/.." && cargo build -q --release -p baomi-masking --example throughput)
baomi=$("$target/release/examples/throughput" "$corpus")
echo "$baomi"
presidio=$("$shared/bench/run-presidio.sh" --config cn --procs 1 --n "$n" 2>&1)
echo "$presidio" | grep -E "MB_per_s|records_per_s|micro"
ours=$(echo "$baomi" | sed -n 's/.*detect_mb_per_s=\([0-9.]*\).*/\1/p')
theirs=$(echo "$presidio" | sed -n 's/^ *MB_per_s_analyze_only: *\([0-9.]*\).*/\1/p' | head -1)
python3 -c "o, t = float('$ours'), float('$theirs'); print(f'detection, one core: baomi {o:.2f} MB/s, presidio (analyzer) {t:.3f} MB/s: {o / t:.0f}x')"
