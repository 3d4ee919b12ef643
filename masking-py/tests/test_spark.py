"""A Spark job masks a generated table; the same policy and key file through `baomi mask`
give the same cells."""

import csv
import os
import random
import subprocess
import sys

import pytest
from pyspark.sql import SparkSession

from baomi_masking.spark import mask_dataframe

SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋"


def table(n):
    """Rows of an id, a name, a mobile, a birth date and a note mixing PI with text."""
    r = random.Random(20261206)
    rows = []
    for i in range(1, n + 1):
        name = r.choice(SURNAMES) + r.choice(GIVEN) + r.choice(GIVEN)
        mobile = r.choice(["138", "139", "150", "186", "199"]) + f"{r.randrange(10**8):08d}"
        birth = f"19{r.randrange(50, 99)}-0{r.randrange(1, 9)}-1{r.randrange(9)}"
        note = r.choice([f"客户{name}来电，手机{mobile}", "无", f"call {mobile} after 6pm", ""])
        rows.append((i, name, mobile, birth, note))
    return rows


@pytest.fixture(scope="module")
def spark():
    # The workers run this interpreter, the one the package is installed in.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("baomi-masking-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_a_spark_job_masks_like_baomi_mask(spark, tmp_path, policy_file, key_file, baomi_bin):
    rows = table(400)
    columns = ["id", "name", "mobile", "birth", "note"]
    df = spark.createDataFrame(rows, columns).repartition(4)
    masked = mask_dataframe(df, policy_file, role="analyst", key_file=key_file)
    assert masked.schema == df.schema
    got = {r["id"]: r for r in masked.collect()}

    source = tmp_path / "table.csv"
    with open(source, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        w.writerows(rows)
    out = tmp_path / "masked.csv"
    subprocess.run(
        [baomi_bin, "mask", "--policy", str(policy_file), "--role", "analyst",
         "--consistent", "--key-file", str(key_file), str(source), str(out)],
        check=True, capture_output=True,
    )
    with open(out, encoding="utf-8", newline="") as f:
        cli = list(csv.DictReader(f))
    assert len(cli) == len(got) == 400
    changed = 0
    for row, original in zip(cli, rows):
        spark_row = got[int(row["id"])]
        for c in columns[1:]:
            assert spark_row[c] == row[c], (row["id"], c)
        changed += spark_row["mobile"] != original[2]
        assert original[2] not in (spark_row["note"] or "")
    assert changed == 400, "every mobile is masked"
