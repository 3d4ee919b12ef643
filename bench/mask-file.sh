#!/usr/bin/env bash
# `baomi mask` on a generated CSV, all cores: rows of an id, a mobile, a birth date and a
# text of the PI corpus (masking/corpus/gen_corpus.py), under a policy that hashes mobiles,
# replaces names and generalises the birth date; then the same table as Parquet (written
# by pyarrow, installed into a virtualenv on first use: $BENCH_VENV). Prints MB/s, CPU and
# peak memory, beside `cat` of the same file (what reading and writing it alone costs
# here) and one core's detection rate on the same texts (the throughput example), all in
# one run; then the same Parquet with its notes dictionary-encoded (a categorical: the
# corpus's 20,000 texts over every row). Parquet's MB/s count the CSV's bytes (the same
# rows), as its files are smaller.
#   bench/mask-file.sh [--mb 200]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=200
while [ $# -gt 0 ]; do
  case $1 in
    --mb) mb=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
cargo build --release --locked --quiet --bin baomi
cargo build --release --locked --quiet -p baomi-masking --example throughput
target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 masking/corpus/gen_corpus.py --n 20000 --seed 20240601 --out "$work/corpus.jsonl" >/dev/null
python3 - "$work/corpus.jsonl" "$work/in.csv" "$mb" <<'PY'
import csv, json, random, sys
corpus, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
r = random.Random(7)
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "mobile", "birth", "note"])
    i = 0
    while f.tell() < mb * 1_000_000:
        i += 1
        w.writerow([i, f"138{r.randrange(10**8):08d}", f"19{r.randrange(50, 99)}-0{r.randrange(1, 9)}-1{r.randrange(9)}",
                    texts[i % len(texts)]])
PY
cat >"$work/policy.toml" <<'TOML'
description = "benchmark: analysts"
[[rules]]
roles = ["analyst"]
[rules.types]
CN_MOBILE = { op = "hash" }
PERSON = { op = "replace" }
[[rules.fields]]
path = "$.birth"
type = "BIRTH_DATE"
operator = { op = "generalize", to = "year" }
TOML
size=$(stat -c %s "$work/in.csv")
echo "input: $(( size / 1000000 )) MB, $(( $(wc -l <"$work/in.csv") )) lines ($(date -u +%F), $(nproc) cores)"
start=$(date +%s.%N)
cat "$work/in.csv" >"$work/copy.csv"
sync "$work/copy.csv"
cat_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
venv=${BENCH_VENV:-/var/tmp/baomi-bench-venv}
if ! "$venv/bin/python" -c 'import pyarrow' 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q pyarrow
fi
"$venv/bin/python" -c 'import pyarrow as pa, pyarrow.csv as c, pyarrow.parquet as p, sys
text = {n: pa.string() for n in ("mobile", "birth", "note")}
table = c.read_csv(sys.argv[1], parse_options=c.ParseOptions(newlines_in_values=True),
                   convert_options=c.ConvertOptions(column_types=text))
p.write_table(table, sys.argv[2], compression="snappy")
notes = table.column("note").dictionary_encode()
p.write_table(table.set_column(3, "note", notes), sys.argv[3], compression="snappy")' \
  "$work/in.csv" "$work/in.parquet" "$work/in.dictionary.parquet"
echo "the same rows as Parquet: $(( $(stat -c %s "$work/in.parquet") / 1000000 )) MB;" \
  "with the notes dictionary-encoded (a pandas categorical): $(( $(stat -c %s "$work/in.dictionary.parquet") / 1000000 )) MB"
detect=$("$target/release/examples/throughput" "$work/corpus.jsonl" | sed -n 's/.*detect_mb_per_s=\([0-9.]*\).*/\1/p')
for f in csv parquet dictionary.parquet; do
  /usr/bin/time -f '%e %P %M' -o "$work/time" "$target/release/baomi" mask --policy "$work/policy.toml" \
    --role analyst "$work/in.$f" "$work/out.$f" 2>"$work/err"
  read -r secs cpu rss <"$work/time"
  python3 - "$f" "$size" "$secs" "$cpu" "$rss" "$cat_s" <<'PY'
import sys
f, size, secs, cpu, rss, cat_s = sys.argv[1:]
size, secs, cat_s = int(size) / 1e6, float(secs), float(cat_s)
print(f"baomi mask, {f}: {secs:.1f} s = {size / secs:.1f} MB/s, CPU {cpu}, peak RSS {int(rss) // 1024} MiB;"
      f" {size / secs / (size / cat_s):.3f} of cat ({size / cat_s:.0f} MB/s)")
PY
done
echo "detection alone, one core, on the corpus texts: $detect MB/s"
