"""The package masks as the CLI does: text, pandas, Arrow, keys."""

import pandas as pd
import pyarrow as pa
import pytest

from baomi_masking import Masker
from conftest import POLICY

ID = "510104199003071114"
MOBILE = "13800138000"


def test_text_is_masked_by_the_rule_for_the_role():
    masker = Masker(POLICY, role="analyst")
    masked = masker.mask_text(f"客户王伟，身份证{ID}，手机{MOBILE}")
    assert ID not in masked and MOBILE not in masked and "王伟" not in masked
    assert "[姓名]" in masked


def test_detect_reports_types_and_character_offsets():
    text = f"电话{MOBILE}"
    found = Masker(POLICY).detect(text)
    assert [(t, text[s:e]) for t, s, e, _ in found] == [("CN_MOBILE", MOBILE)]


def test_a_key_gives_consistent_pseudonyms_and_none_gives_fresh_ones():
    key = bytes(range(40))
    a = Masker(POLICY, role="analyst", key=key).mask_text(MOBILE)
    b = Masker(POLICY, role="analyst", key=key).mask_text(MOBILE)
    assert a == b and MOBILE not in a and len(a) == 16
    assert Masker(POLICY, role="analyst").mask_text(MOBILE) != a


def test_a_short_key_and_a_bad_policy_are_refused_without_their_contents():
    with pytest.raises(ValueError, match="at least 32") as err:
        Masker(POLICY, key=b"secret-secret")
    assert "secret" not in str(err.value)
    with pytest.raises(ValueError, match="invalid policy"):
        Masker("[[rules]]\nroles = 5")


def test_a_series_keeps_its_index_name_and_missing_values():
    series = pd.Series([f"手机{MOBILE}", None, "无"], index=[10, 11, 12], name="note")
    masked = Masker(POLICY, role="analyst").mask_series(series)
    assert list(masked.index) == [10, 11, 12] and masked.name == "note"
    assert MOBILE not in masked[10] and masked[11] is None and masked[12] == "无"


def test_a_record_batch_masks_string_columns_as_csv_rows_and_keeps_the_rest():
    batch = pa.RecordBatch.from_pydict(
        {
            "id": pa.array([1, 2], pa.int64()),
            "birth": pa.array(["1990-03-07", None]),
            "note": pa.array([f"手机{MOBILE}", "无"], pa.large_string()),
            "score": pa.array([0.5, None], pa.float64()),
        }
    )
    masked = Masker(POLICY, role="analyst").mask_batch(batch)
    assert masked.schema == batch.schema
    assert masked.column(0) == batch.column(0) and masked.column(3).equals(batch.column(3))
    assert masked.column(1).to_pylist() == ["1990", None], "the birth column by its path"
    note = masked.column(2).to_pylist()
    assert MOBILE not in note[0] and note[1] == "无"


def test_string_views_are_masked_like_strings():
    batch = pa.RecordBatch.from_pydict({"note": pa.array([f"手机{MOBILE}，这一格比十二个字节长", None], pa.string_view())})
    masked = Masker(POLICY, role="analyst").mask_batch(batch)
    assert masked.schema == batch.schema
    note = masked.column(0).to_pylist()
    assert MOBILE not in note[0] and note[0].endswith("这一格比十二个字节长") and note[1] is None


def test_a_frame_comes_back_with_its_columns_and_index():
    frame = pd.DataFrame({"name": ["王伟"], "mobile": [MOBILE], "n": [3]}, index=[7])
    masked = Masker(POLICY, role="analyst", key=bytes(32)).mask_frame(frame)
    assert list(masked.columns) == ["name", "mobile", "n"] and list(masked.index) == [7]
    assert masked.loc[7, "n"] == 3 and masked.loc[7, "mobile"] != MOBILE


def test_a_record_batch_without_rows_or_strings_comes_back_as_it_was():
    masker = Masker(POLICY, role="analyst")
    empty = pa.RecordBatch.from_pydict({"note": pa.array([], pa.string())})
    assert masker.mask_batch(empty).equals(empty)
    numbers = pa.RecordBatch.from_pydict({"n": pa.array([1, None], pa.int32())})
    assert masker.mask_batch(numbers).equals(numbers)


def test_a_subject_column_must_be_a_string_column_of_the_batch():
    batch = pa.RecordBatch.from_pydict({"uid": ["u1"], "note": [f"手机{MOBILE}"]})
    masker = Masker(POLICY, role="analyst")
    assert MOBILE not in masker.mask_batch(batch, subject="uid").column(1)[0].as_py()
    with pytest.raises(ValueError, match="no string column"):
        masker.mask_batch(batch, subject="customer")


def test_an_arrow_array_of_text_is_masked_cell_by_cell_whatever_the_paths_name():
    masker = Masker(POLICY, role="analyst")
    for kind in (pa.string(), pa.large_string()):
        array = pa.array([f"手机{MOBILE}", None, "1990-03-07"], kind)
        masked = masker.mask_array(array)
        assert masked.type == kind and masked.null_count == 1
        assert MOBILE not in masked[0].as_py() and masked[0].as_py() == masker.mask_text(f"手机{MOBILE}")
        assert masked[2].as_py() == "1990-03-07", "no path names a bare array's cells"
    with pytest.raises(ValueError, match="no strings"):
        masker.mask_array(pa.array([1, 2]))


def test_categoricals_are_masked_a_value_at_a_time_and_stay_categorical():
    masker = Masker(POLICY, role="analyst", key=bytes(32))
    frame = pd.DataFrame({"note": pd.Categorical([f"手机{MOBILE}", "无", f"手机{MOBILE}"]), "n": [1, 2, 3]})
    masked = masker.mask_frame(frame)
    assert isinstance(masked["note"].dtype, pd.CategoricalDtype)
    notes = list(masked["note"])
    assert MOBILE not in notes[0] and notes[0] == notes[2] and notes[1] == "无"
    array = pa.array([f"手机{MOBILE}", None]).dictionary_encode()
    out = masker.mask_array(array)
    assert pa.types.is_dictionary(out.type) and MOBILE not in out[0].as_py() and out[1].as_py() is None


def test_text_in_a_list_is_refused_not_passed_through():
    batch = pa.RecordBatch.from_pydict({"phones": pa.array([[MOBILE]])})
    with pytest.raises(ValueError, match="holds text") as err:
        Masker(POLICY, role="analyst").mask_batch(batch)
    assert MOBILE not in str(err.value)


def test_bytes_and_numbers_a_path_masks_are_refused_not_passed_through():
    masker = Masker(POLICY, role="analyst")
    raw = pa.RecordBatch.from_pydict({"raw": pa.array([MOBILE.encode()], pa.binary())})
    with pytest.raises(ValueError, match="holds text or bytes as Binary") as err:
        masker.mask_batch(raw)
    assert MOBILE not in str(err.value)
    # The policy generalises `$.birth`: a birth date stored as a number cannot be.
    births = pa.RecordBatch.from_pydict({"birth": pa.array([19900307], pa.int64())})
    with pytest.raises(ValueError, match="only string columns are masked in place"):
        masker.mask_batch(births)
