#!/usr/bin/env bash
# The Spark job's rows/s: a generated table (an id, a name, a mobile, a birth date and a
# corpus text) masked by `baomi_masking.spark.mask_dataframe` on local Spark, beside the
# same job with a `pandas_udf` that returns its input (what Spark and Arrow alone cost),
# in one run. Builds the wheel into the virtualenv .ci/masking-py uses ($BAOMI_PY_VENV).
#   bench/spark-mask.sh [--rows 200000]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=200000
while [ $# -gt 0 ]; do
  case $1 in
    --rows) rows=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
venv=${BAOMI_PY_VENV:-/var/tmp/baomi-ci-py-venv}
if ! "$venv/bin/python" -c 'import maturin, pandas, pyarrow, pyspark' 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q maturin 'pandas<3' pyarrow pyspark
fi
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
(cd masking-py && "$venv/bin/maturin" build --release --locked --out "$wheels" 2>&1 | tail -1)
"$venv/bin/pip" install -q --force-reinstall --no-deps "$wheels"/*.whl
python3 masking/corpus/gen_corpus.py --n 20000 --seed 20240601 --out "$wheels/corpus.jsonl" >/dev/null
PYSPARK_PYTHON="$venv/bin/python" "$venv/bin/python" - "$rows" "$wheels" <<'PY'
import json, os, random, sys, time
from pyspark.sql import SparkSession
from pyspark.sql.functions import pandas_udf
from baomi_masking.spark import mask_dataframe

rows, work = int(sys.argv[1]), sys.argv[2]
texts = [json.loads(l)["text"] for l in open(os.path.join(work, "corpus.jsonl"), encoding="utf-8")]
policy = os.path.join(work, "policy.toml")
open(policy, "w").write('''description = "benchmark"
[[rules]]
roles = ["analyst"]
[rules.types]
CN_MOBILE = { op = "hash" }
PERSON = { op = "replace" }
[[rules.fields]]
path = "$.birth"
type = "BIRTH_DATE"
operator = { op = "generalize", to = "year" }
''')
key = os.path.join(work, "mask.key")
open(key, "wb").write(os.urandom(48))
spark = (SparkSession.builder.master(f"local[{os.cpu_count()}]").appName("bench")
         .config("spark.ui.enabled", "false").getOrCreate())
r = random.Random(7)
data = [(i, "王伟", f"138{r.randrange(10**8):08d}", "1990-03-07", texts[i % len(texts)]) for i in range(rows)]
df = spark.createDataFrame(data, ["id", "name", "mobile", "birth", "note"]).repartition(os.cpu_count()).cache()
df.count()
text_mb = sum(len(t[4].encode()) for t in data) / 1e6

@pandas_udf("string")
def same(s):
    return s

def timed(frame):
    start = time.perf_counter()
    frame.write.mode("overwrite").format("noop").save()
    return time.perf_counter() - start

noop = min(timed(df.select("id", same("name"), same("mobile"), same("birth"), same("note"))) for _ in range(2))
masked = min(timed(mask_dataframe(df, policy, role="analyst", key_file=key)) for _ in range(2))
print(f"{rows} rows ({text_mb:.0f} MB of notes), local[{os.cpu_count()}], {time.strftime('%Y-%m-%d')}")
print(f"pandas_udf returning its input: {noop:.1f} s = {rows / noop:,.0f} rows/s")
print(f"mask_dataframe:                 {masked:.1f} s = {rows / masked:,.0f} rows/s = {text_mb / masked:.1f} MB/s of notes; {noop / masked:.2f} of the no-op")
spark.stop()
PY
