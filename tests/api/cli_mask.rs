//! `baomi mask`: masking files offline, keeping their structure, and never leaving a
//! half-written output.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const ID: &str = "510104199003071114";
const MOBILE: &str = "13800138000";
const CARD: &str = "6222021234567891233";
const EMAIL: &str = "zhang.wei88@example.cn";

const POLICY: &str = r#"
description = "test data for analysts"
[[rules]]
roles = ["analyst"]
[rules.types]
CN_MOBILE = { op = "hash" }
PERSON = { op = "replace" }
[[rules.fields]]
path = "$.birth"
type = "BIRTH_DATE"
operator = { op = "generalize", to = "year" }
"#;

/// Runs `baomi mask` in `dir` with the analysts' policy written to `policy.toml`.
fn mask(dir: &Path, args: &[&str]) -> Output {
    let policy = dir.join("policy.toml");
    if !policy.exists() {
        std::fs::write(&policy, POLICY).unwrap();
    }
    Command::new(env!("CARGO_BIN_EXE_baomi"))
        .current_dir(dir)
        .arg("mask")
        .args(["--policy", "policy.toml", "--role", "analyst"])
        .args(args)
        .env_remove("BAOMI_MASK_KEY_FILE")
        .env_remove("BAOMI_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// The names in `dir`, to show that no temporary file was left.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn csv_keeps_header_order_and_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "name,birth,\"note, free\",id_no,card\r\n\
         王伟,1990-03-07,\"电话{MOBILE}, 邮箱{EMAIL}\",\"{ID}\",{CARD}\r\n\
         李娜,1985-01-02,\"第一行\r\n手机{MOBILE}\",x,\r\n"
    );
    std::fs::write(dir.path().join("in.csv"), &input).unwrap();
    let out = mask(dir.path(), &["in.csv", "out.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read(dir.path(), "out.csv");

    for value in [ID, MOBILE, CARD, EMAIL, "王伟", "李娜", "1990-03-07"] {
        assert!(!masked.contains(value), "{value} survived:\n{masked}");
        assert!(!stderr(&out).contains(value), "{value} in stderr");
    }
    let lines: Vec<&str> = masked.split("\r\n").collect();
    assert_eq!(
        lines[0], "name,birth,\"note, free\",id_no,card",
        "header verbatim"
    );
    assert_eq!(
        lines.len(),
        5,
        "CRLF kept, the quoted line break too:\n{masked:?}"
    );
    assert_eq!(lines[4], "", "the file still ends with CRLF");
    assert!(!masked.replace("\r\n", "").contains('\n'), "no bare LF");
    // Row 1: order kept; the birth date's column by path; the note is quoted (it holds a
    // comma); the ID, quoted in the input but needing no quotes, is written bare.
    assert!(
        lines[1].starts_with("[姓名],1990,\"电话"),
        "row 1: {}",
        lines[1]
    );
    assert!(lines[1].contains(", 邮箱z"), "row 1: {}", lines[1]);
    assert!(
        lines[1].ends_with(",5***************14,622202*********1233"),
        "row 1: {}",
        lines[1]
    );
    // Row 2: the quoted field with a line break is one field, still quoted.
    assert_eq!(lines[2], "[姓名],1985,\"第一行");
    assert!(
        lines[3].starts_with("手机") && lines[3].ends_with("\",x,"),
        "{}",
        lines[3]
    );
    assert!(
        stderr(&out).contains("masked 2 records"),
        "{}",
        stderr(&out)
    );
}

/// A CSV written by spreadsheet software: a byte-order mark, quotes inside quoted fields,
/// line breaks inside them, and an empty field. Read back with the `csv` crate, every cell
/// is where it was and only PI changed.
#[test]
fn csv_with_a_bom_quotes_and_line_breaks_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "\u{feff}id,note,mobile\n\
         1,\"他说 \"\"你好\"\"，\n第二行\",{MOBILE}\n\
         2,,\"{MOBILE}\"\n"
    );
    std::fs::write(dir.path().join("in.csv"), &input).unwrap();
    let out = mask(dir.path(), &["in.csv", "out.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = std::fs::read(dir.path().join("out.csv")).unwrap();
    assert!(
        masked.starts_with(b"\xEF\xBB\xBFid,note,mobile\n"),
        "the mark is kept"
    );
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .from_reader(&masked[3..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], "1");
    assert_eq!(
        rows[0][1], "他说 \"你好\"，\n第二行",
        "no PI in it: unchanged"
    );
    assert_eq!((rows[1][0].as_str(), rows[1][1].as_str()), ("2", ""));
    for row in &rows {
        assert!(
            !row[2].is_empty() && !row[2].contains(MOBILE),
            "the mobile is masked"
        );
    }
}

#[test]
fn csv_with_a_quote_left_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "a,b\n1,\"2\n3,4\n").unwrap();
    let out = mask(dir.path(), &["in.csv", "out.csv"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a quote is left open"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn csv_with_a_wrong_number_of_fields_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "a,b\n1,2\n3,\"x\ny\"\n4\n").unwrap();
    let out = mask(dir.path(), &["in.csv", "out.csv"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 5"), "{}", stderr(&out));
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn jsonl_is_masked_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "{{\"name\":\"王伟\",\"birth\":\"1990-03-07\",\"memo\":\"身份证{ID}\"}}\n\
         \n\
         {{\"nested\":{{\"cards\":[\"{CARD}\"]}},\"mail\":\"{EMAIL}\"}}\n"
    );
    std::fs::write(dir.path().join("in.jsonl"), &input).unwrap();
    let out = mask(dir.path(), &["in.jsonl", "out.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read(dir.path(), "out.jsonl");
    for value in [ID, CARD, EMAIL, "王伟", "1990-03-07"] {
        assert!(!masked.contains(value), "{value} survived:\n{masked}");
    }
    let lines: Vec<&str> = masked.split('\n').collect();
    assert_eq!(lines.len(), 4, "{masked:?}");
    assert_eq!(lines[1], "", "blank lines stay");
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["birth"], "1990");
    assert_eq!(first["name"], "[姓名]");
    assert_eq!(first["memo"], "身份证5***************14");
    let third: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(third["nested"]["cards"][0], "622202*********1233");
}

#[test]
fn jsonl_that_is_not_json_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        "{}\n{\"a\":1}\n{\"a\": 138001\n",
    )
    .unwrap();
    let out = mask(dir.path(), &["in.jsonl", "out.jsonl"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("line 3") && err.contains("not a JSON document"),
        "{err}"
    );
    assert!(!err.contains("138001"), "{err}");
    assert!(!dir.path().join("out.jsonl").exists());
}

/// The pseudonym `hash` gave the mobile in a one-column CSV.
fn pseudonym(dir: &Path, name: &str, header: &str, extra: &[&str]) -> String {
    std::fs::write(dir.join(name), format!("{header}\n{MOBILE}\n")).unwrap();
    let out_name = format!("masked-{name}");
    let mut args = extra.to_vec();
    args.extend([name, out_name.as_str()]);
    let out = mask(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read(dir, &out_name);
    let value = masked.lines().nth(1).unwrap().to_owned();
    assert_eq!(value.len(), 16, "a pseudonym: {value}");
    assert!(!value.contains(MOBILE));
    value
}

#[test]
fn consistent_pseudonyms_join_across_files_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.key"), [7u8; 48]).unwrap();
    let args = ["--consistent", "--key-file", "k.key"];
    let a = pseudonym(dir.path(), "a.csv", "mobile", &args);
    let b = pseudonym(dir.path(), "b.csv", "phone", &args);
    assert_eq!(a, b, "the same mobile in two files");
    let again = pseudonym(dir.path(), "c.csv", "tel", &args);
    assert_eq!(a, again, "a later run with the same key file");

    std::fs::write(dir.path().join("other.key"), [8u8; 48]).unwrap();
    let other = pseudonym(
        dir.path(),
        "d.csv",
        "mobile",
        &["--consistent", "--key-file", "other.key"],
    );
    assert_ne!(a, other, "another key, other pseudonyms");

    // Without --consistent, a fresh key per run.
    let r1 = pseudonym(dir.path(), "e.csv", "mobile", &[]);
    let r2 = pseudonym(dir.path(), "f.csv", "mobile", &[]);
    assert_ne!(r1, r2);
    assert_ne!(r1, a);
}

#[test]
fn consistent_needs_a_key_file_of_32_bytes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), format!("m\n{MOBILE}\n")).unwrap();
    let out = mask(dir.path(), &["--consistent", "in.csv", "out.csv"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--key-file"), "{}", stderr(&out));
    std::fs::write(dir.path().join("short.key"), [1u8; 16]).unwrap();
    let out = mask(
        dir.path(),
        &[
            "--consistent",
            "--key-file",
            "short.key",
            "in.csv",
            "out.csv",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at least 32"), "{}", stderr(&out));
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn invalid_utf8_names_the_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = format!("客户{MOBILE}\nok\n").into_bytes();
    input.extend_from_slice(b"bad \xff\xfe here\nlast\n");
    std::fs::write(dir.path().join("in.txt"), input).unwrap();
    let out = mask(dir.path(), &["in.txt", "out.txt"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));
    assert!(!dir.path().join("out.txt").exists());
    assert_eq!(names(dir.path()), ["in.txt", "policy.toml"]);
}

#[test]
fn a_policy_with_an_unknown_type_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[rules]]\n[rules.types]\nSSN = { op = \"hash\" }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("in.txt"), "x\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_baomi"))
        .current_dir(dir.path())
        .args(["mask", "--policy", "bad.toml", "in.txt", "out.txt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bad.toml") && err.contains("SSN"), "{err}");
    assert!(!dir.path().join("out.txt").exists());
}

#[test]
fn a_run_failing_midway_leaves_the_old_output_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // Several batches of good records, then one that is not JSON.
    let mut input = String::new();
    for i in 0..25_000 {
        input.push_str(&format!("{{\"i\":{i},\"memo\":\"手机{MOBILE}\"}}\n"));
    }
    input.push_str("{not json}\n");
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    std::fs::write(dir.path().join("out.jsonl"), "the previous output\n").unwrap();
    let out = mask(dir.path(), &["--jobs", "2", "in.jsonl", "out.jsonl"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 25001"), "{}", stderr(&out));
    assert_eq!(read(dir.path(), "out.jsonl"), "the previous output\n");
    assert_eq!(names(dir.path()), ["in.jsonl", "out.jsonl", "policy.toml"]);

    // The same file without the bad record replaces the output.
    let good: String = read(dir.path(), "in.jsonl").replace("{not json}\n", "");
    std::fs::write(dir.path().join("in.jsonl"), good).unwrap();
    let out = mask(dir.path(), &["--jobs", "2", "in.jsonl", "out.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read(dir.path(), "out.jsonl");
    assert_eq!(masked.lines().count(), 25_000);
    assert!(!masked.contains(MOBILE));
    assert!(masked.starts_with("{\"i\":0,"), "order kept");
    assert!(masked.lines().last().unwrap().starts_with("{\"i\":24999,"));
    assert_eq!(names(dir.path()), ["in.jsonl", "out.jsonl", "policy.toml"]);
}

#[test]
fn standard_input_to_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_baomi"))
        .current_dir(dir.path())
        .args([
            "mask",
            "--policy",
            "policy.toml",
            "--format",
            "text",
            "-",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("身份证{ID}\r\n无\n").as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "身份证5***************14\r\n无\n"
    );
    assert_eq!(names(dir.path()), ["policy.toml"]);
}

/// Ctrl-C (SIGINT) while the input is still coming: the run fails, OUT is never written and
/// the temporary file is removed, even though the input then ends normally.
#[test]
fn an_interrupted_run_leaves_no_output() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_baomi"))
        .current_dir(dir.path())
        .args([
            "mask",
            "--policy",
            "policy.toml",
            "--format",
            "text",
            "-",
            "out.txt",
        ])
        .env_remove("BAOMI_MASK_KEY_FILE")
        .env_remove("BAOMI_CONFIG")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "手机{MOBILE}").unwrap();
    // The temporary file exists once the handler is installed and the run has begun.
    let started = std::time::Instant::now();
    while !names(dir.path())
        .iter()
        .any(|n| n.starts_with(".baomi-mask-"))
    {
        assert!(started.elapsed().as_secs() < 60, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Once the handler says it has run, the input ends normally.
    let (lines, said) = std::sync::mpsc::channel();
    let reader = std::io::BufReader::new(child.stderr.take().unwrap());
    let echo = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in reader.lines().map_while(Result::ok) {
            let _ = lines.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    loop {
        let line = said
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the handler says it was interrupted");
        if line.contains("interrupted; stopping at the next record") {
            break;
        }
    }
    writeln!(stdin, "身份证{ID}").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let stderr = echo.join().unwrap();
    assert!(!status.success());
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    assert_eq!(names(dir.path()), ["policy.toml"]);
}

/// `date_shift` with `--subject-column`: one subject's dates move together (their distance
/// is kept), and a file without the subject's column is an error naming the record.
#[test]
fn date_shift_keeps_one_subjects_dates_together() {
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
[[rules]]
[[rules.fields]]
path = "$.opened"
type = "DATE"
operator = { op = "date_shift", max_days = 30 }
"#;
    std::fs::write(dir.path().join("shift.toml"), policy).unwrap();
    std::fs::write(
        dir.path().join("in.csv"),
        "user,opened\nu1,2024-03-01\nu1,2024-03-11\nu2,2024-03-01\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_baomi"))
            .current_dir(dir.path())
            .args(["mask", "--policy", "shift.toml"])
            .args(args)
            .env_remove("BAOMI_MASK_KEY_FILE")
            .env_remove("BAOMI_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["--subject-column", "user", "in.csv", "out.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read(dir.path(), "out.csv");
    let dates: Vec<time::Date> = masked
        .lines()
        .skip(1)
        .map(|l| {
            let d = l.split(',').nth(1).unwrap();
            time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
        })
        .collect();
    assert_eq!((dates[1] - dates[0]).whole_days(), 10, "{masked}");
    let original = time::macros::date!(2024 - 03 - 01);
    assert!((dates[0] - original).whole_days().abs() <= 30);
    assert_ne!(
        dates[1],
        time::macros::date!(2024 - 03 - 11),
        "never left in place: {masked}"
    );

    let out = run(&["in.csv", "out2.csv"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    assert!(!dir.path().join("out2.csv").exists());
}

/// Writes a Parquet file: an integer id, a name, a mobile (one null) and a note in a
/// large-offset string column.
fn write_parquet(path: &Path, names: &[&str], mobiles: &[Option<&str>], notes: &[&str]) {
    write_parquet_with(path, names, mobiles, notes, None);
}

/// [`write_parquet`] with the writer's `properties` (its codec).
fn write_parquet_with(
    path: &Path,
    names: &[&str],
    mobiles: &[Option<&str>],
    notes: &[&str],
    properties: Option<parquet::file::properties::WriterProperties>,
) {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, LargeStringArray, RecordBatch, StringArray};

    let ids: Vec<i64> = (1..=names.len() as i64).collect();
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(names.to_vec())) as ArrayRef,
        ),
        (
            "mobile",
            Arc::new(StringArray::from(mobiles.to_vec())) as ArrayRef,
        ),
        (
            "note",
            Arc::new(LargeStringArray::from(notes.to_vec())) as ArrayRef,
        ),
    ])
    .unwrap();
    write_batch(path, &batch, properties);
}

/// Writes `batch` as a Parquet file with the writer's `properties`.
fn write_batch(
    path: &Path,
    batch: &arrow_array::RecordBatch,
    properties: Option<parquet::file::properties::WriterProperties>,
) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), properties).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Reads a Parquet file back as one record batch.
fn read_parquet(path: &Path) -> arrow_array::RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1, "a small file reads as one batch");
    batches[0].clone()
}

/// The metadata of a Parquet file's first row group: its columns' codecs and encodings.
fn first_row_group(path: &Path) -> parquet::file::metadata::RowGroupMetaData {
    let file = std::fs::File::open(path).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    reader.metadata().row_group(0).clone()
}

/// The strings of a column, nulls as `None`.
fn strings(batch: &arrow_array::RecordBatch, name: &str) -> Vec<Option<String>> {
    use arrow_array::Array;

    let column = batch.column_by_name(name).unwrap();
    let any = column.as_any();
    let get = |i: usize| -> Option<String> {
        if column.is_null(i) {
            return None;
        }
        if let Some(a) = any.downcast_ref::<arrow_array::StringArray>() {
            return Some(a.value(i).to_owned());
        }
        if let Some(a) = any.downcast_ref::<arrow_array::StringViewArray>() {
            return Some(a.value(i).to_owned());
        }
        let a = any.downcast_ref::<arrow_array::LargeStringArray>().unwrap();
        Some(a.value(i).to_owned())
    };
    (0..column.len()).map(get).collect()
}

#[test]
fn parquet_keeps_its_schema_and_masks_its_string_columns() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("in.parquet"),
        &["王伟", "李娜"],
        &[Some(MOBILE), None],
        &[&format!("身份证{ID}，备用电话{MOBILE}"), "无"],
    );
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains(MOBILE));
    let input = read_parquet(&dir.path().join("in.parquet"));
    let masked = read_parquet(&dir.path().join("out.parquet"));
    assert_eq!(masked.schema(), input.schema(), "the same schema");
    assert_eq!(
        masked.column(0),
        input.column(0),
        "the id column is untouched"
    );
    assert_eq!(
        strings(&masked, "name"),
        [Some("[姓名]".to_owned()), Some("[姓名]".to_owned())]
    );
    let mobiles = strings(&masked, "mobile");
    assert_eq!(mobiles[1], None, "a null stays null");
    let pseudonym = mobiles[0].clone().unwrap();
    assert_eq!(pseudonym.len(), 16, "{pseudonym}");
    let notes = strings(&masked, "note");
    let note = notes[0].as_deref().unwrap();
    assert!(!note.contains(ID) && !note.contains(MOBILE), "{note}");
    assert!(
        note.contains(&pseudonym),
        "the same pseudonym in free text: {note}"
    );
    assert_eq!(notes[1].as_deref(), Some("无"));
}

/// A string column read as string views (the Arrow schema a file was written with says
/// so) is a string column like the others: masked, not passed through.
#[test]
fn parquet_string_views_are_masked_like_strings() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringViewArray};

    let dir = tempfile::tempdir().unwrap();
    let note = format!("手机{MOBILE}，身份证{ID}，这一格比十二个字节长");
    let batch = RecordBatch::try_from_iter([(
        "note",
        Arc::new(StringViewArray::from(vec![Some(note.as_str()), None])) as ArrayRef,
    )])
    .unwrap();
    write_batch(&dir.path().join("in.parquet"), &batch, None);
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read_parquet(&dir.path().join("out.parquet"));
    assert_eq!(masked.schema(), batch.schema(), "still string views");
    let notes = strings(&masked, "note");
    let cell = notes[0].as_deref().unwrap();
    assert!(!cell.contains(MOBILE) && !cell.contains(ID), "{cell}");
    assert!(cell.ends_with("这一格比十二个字节长"), "{cell}");
    assert_eq!(notes[1], None);
}

/// A table exported as CSV and as Parquet, masked with the same policy and key file,
/// comes out with the same cells: a warehouse can mask either and still join them.
#[test]
fn parquet_and_csv_mask_alike_with_one_key_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.key"), [9u8; 48]).unwrap();
    let note = format!("客户王伟，手机{MOBILE}");
    write_parquet(
        &dir.path().join("t.parquet"),
        &["李娜"],
        &[Some(MOBILE)],
        &[&note],
    );
    std::fs::write(
        dir.path().join("t.csv"),
        format!("id,name,mobile,note\n1,李娜,{MOBILE},{note}\n"),
    )
    .unwrap();
    let key = ["--consistent", "--key-file", "k.key"];
    for (input, output) in [("t.parquet", "m.parquet"), ("t.csv", "m.csv")] {
        let mut args = key.to_vec();
        args.extend([input, output]);
        let out = mask(dir.path(), &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let parquet = read_parquet(&dir.path().join("m.parquet"));
    let csv_rows: Vec<Vec<String>> = csv::Reader::from_path(dir.path().join("m.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    for (i, column) in ["name", "mobile", "note"].into_iter().enumerate() {
        assert_eq!(
            strings(&parquet, column)[0].as_deref(),
            Some(csv_rows[0][i + 1].as_str()),
            "{column}"
        );
    }
}

/// A file compressed with any of the format's codecs is read (a warehouse exports what it
/// was set to), masked alike, and written back with each column in the codec it came in.
#[test]
fn parquet_of_every_codec_is_read_and_each_column_keeps_its_codec() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.key"), [9u8; 48]).unwrap();
    let note = format!("客户王伟，手机{MOBILE}");
    let codecs = [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::LZ4_RAW,
        Compression::ZSTD(ZstdLevel::default()),
        Compression::BROTLI(BrotliLevel::default()),
    ];
    let mut cells = Vec::new();
    for (i, codec) in codecs.into_iter().enumerate() {
        let (input, output) = (format!("in{i}.parquet"), format!("out{i}.parquet"));
        let properties = WriterProperties::builder().set_compression(codec).build();
        write_parquet_with(
            &dir.path().join(&input),
            &["李娜"],
            &[Some(MOBILE)],
            &[&note],
            Some(properties),
        );
        let out = mask(
            dir.path(),
            &["--consistent", "--key-file", "k.key", &input, &output],
        );
        assert!(out.status.success(), "{codec:?}: {}", stderr(&out));
        let written = first_row_group(&dir.path().join(&output));
        let columns = written.columns();
        assert_eq!(columns.len(), 4);
        for column in columns {
            assert_eq!(
                std::mem::discriminant(&column.compression()),
                std::mem::discriminant(&codec),
                "{codec:?}: {}",
                column.column_path()
            );
        }
        let masked = read_parquet(&dir.path().join(&output));
        let row: Vec<_> = ["name", "mobile", "note"]
            .map(|c| strings(&masked, c)[0].clone().unwrap())
            .into();
        assert!(!row.iter().any(|cell| cell.contains(MOBILE)), "{row:?}");
        cells.push(row);
    }
    assert!(cells.windows(2).all(|w| w[0] == w[1]), "{cells:?}");
}

/// A column whose pages were all dictionary-encoded in the input keeps a dictionary; one
/// written plain, or whose dictionary filled up and fell back to plain pages (free text,
/// identifiers), is written plain from the start.
#[test]
fn parquet_columns_keep_a_dictionary_only_where_the_input_had_one_throughout() {
    use parquet::file::properties::WriterProperties;
    use parquet::schema::types::ColumnPath;

    let dir = tempfile::tempdir().unwrap();
    // Fewer than a record batch holds, so that the output reads back as one.
    let rows = 1000;
    // Two names throughout; a mobile and a note of their own on every row.
    let names: Vec<&str> = (0..rows).map(|i| ["李娜", "王伟"][i % 2]).collect();
    let mobiles: Vec<String> = (0..rows).map(|i| format!("1380013{i:04}")).collect();
    let notes: Vec<String> = (0..rows).map(|i| format!("第{i}号订单，已发货")).collect();
    let mobiles: Vec<Option<&str>> = mobiles.iter().map(|m| Some(m.as_str())).collect();
    let notes: Vec<&str> = notes.iter().map(String::as_str).collect();
    let properties = WriterProperties::builder()
        // Small dictionaries, filled in small steps: the mobiles' fills and falls back.
        .set_dictionary_page_size_limit(256)
        .set_write_batch_size(64)
        .set_column_dictionary_enabled(ColumnPath::from("note"), false)
        .build();
    write_parquet_with(
        &dir.path().join("in.parquet"),
        &names,
        &mobiles,
        &notes,
        Some(properties),
    );
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let dictionaries = |file: &str| -> Vec<(String, bool)> {
        (first_row_group(&dir.path().join(file)).columns().iter())
            .map(|c| {
                (
                    c.column_path().string(),
                    c.dictionary_page_offset().is_some(),
                )
            })
            .collect()
    };
    let expect = |pairs: [(&str, bool); 4]| pairs.map(|(c, d)| (c.to_owned(), d)).to_vec();
    // Every column but the note began with a dictionary; the ids and the mobiles filled
    // theirs and fell back.
    assert_eq!(
        dictionaries("in.parquet"),
        expect([
            ("id", true),
            ("name", true),
            ("mobile", true),
            ("note", false)
        ])
    );
    assert_eq!(
        dictionaries("out.parquet"),
        expect([
            ("id", false),
            ("name", true),
            ("mobile", false),
            ("note", false)
        ])
    );
    let masked = read_parquet(&dir.path().join("out.parquet"));
    assert_eq!(masked.num_rows(), rows);
    let mobiles = strings(&masked, "mobile");
    assert!(mobiles.iter().flatten().all(|m| !m.starts_with("1380013")));
}

/// A file of several record batches (the CLI reads 32,768 rows at a time) is decoded,
/// masked and encoded at once, batch by batch: every row comes out once, in its place.
#[test]
fn parquet_of_many_batches_keeps_its_rows_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 70_000;
    let notes: Vec<String> = (0..rows)
        .map(|i| format!("第{i}行，电话{MOBILE}"))
        .collect();
    let notes: Vec<&str> = notes.iter().map(String::as_str).collect();
    let mobiles: Vec<Option<&str>> = (0..rows).map(|i| (i % 3 != 0).then_some(MOBILE)).collect();
    write_parquet(
        &dir.path().join("in.parquet"),
        &vec!["王伟"; rows],
        &mobiles,
        &notes,
    );
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::File::open(dir.path().join("out.parquet")).unwrap();
    let batches: Vec<_> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert!(batches.len() > 2, "{} batches", batches.len());
    let column = |name: &str| -> Vec<Option<String>> {
        batches.iter().flat_map(|b| strings(b, name)).collect()
    };
    let (masked_notes, masked_mobiles) = (column("note"), column("mobile"));
    assert_eq!(masked_notes.len(), rows);
    for (i, (note, mobile)) in masked_notes.iter().zip(&masked_mobiles).enumerate() {
        let note = note.as_deref().unwrap();
        assert!(
            note.starts_with(&format!("第{i}行，电话")),
            "row {i}: {note}"
        );
        assert!(!note.contains(MOBILE), "row {i}: {note}");
        assert_eq!(mobile.is_none(), i % 3 == 0, "row {i}");
    }
}

/// A dictionary-encoded string column (a pandas categorical, as pyarrow writes it) is
/// masked a value at a time and stays dictionary-encoded.
#[test]
fn parquet_dictionary_columns_are_masked_and_stay_dictionaries() {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, DictionaryArray, RecordBatch};

    let dir = tempfile::tempdir().unwrap();
    let note = format!("手机{MOBILE}");
    let notes: DictionaryArray<Int32Type> = vec![note.as_str(), "无", note.as_str()]
        .into_iter()
        .collect();
    let batch = RecordBatch::try_from_iter([("note", Arc::new(notes) as ArrayRef)]).unwrap();
    write_batch(&dir.path().join("in.parquet"), &batch, None);
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read_parquet(&dir.path().join("out.parquet"));
    assert_eq!(masked.schema(), batch.schema(), "still a dictionary");
    let cast = arrow_array::cast::AsArray::as_dictionary::<Int32Type>(masked.column(0).as_ref());
    let values = arrow_array::cast::AsArray::as_string::<i32>(cast.values().as_ref());
    let cells: Vec<&str> = (0..cast.len())
        .map(|r| values.value(cast.keys().value(r) as usize))
        .collect();
    assert!(
        !cells[0].contains(MOBILE) && cells[0] == cells[2],
        "{cells:?}"
    );
    assert_eq!(cells[1], "无");

    // A value that cannot be masked is named by the first row that holds it, in a batch
    // after the first too (the reader's batches are 32,768 rows).
    let births: DictionaryArray<Int32Type> = (0..40_005)
        .map(|row| (row >= 40_000).then_some("1990-03-07"))
        .collect();
    let batch = RecordBatch::try_from_iter([("birth", Arc::new(births) as ArrayRef)]).unwrap();
    write_batch(&dir.path().join("in.parquet"), &batch, None);
    let shifting = "[[rules]]\nroles = [\"analyst\"]\n[[rules.fields]]\npath = \"$.birth\"\n\
                    type = \"BIRTH_DATE\"\noperator = { op = \"date_shift\", max_days = 30 }\n";
    std::fs::write(dir.path().join("policy.toml"), shifting).unwrap();
    std::fs::remove_file(dir.path().join("out.parquet")).unwrap();
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("row 40001: date_shift needs the subject"),
        "{err}"
    );
    assert!(!err.contains("1990"), "{err}");
    assert!(!dir.path().join("out.parquet").exists());
}

/// Text in a list, a struct or a map cannot be masked cell by cell: a file with such
/// a column is refused, naming the column and never its cells, unless the policy keeps
/// that column in the clear on purpose.
#[test]
fn parquet_with_text_in_a_list_is_refused_unless_the_policy_keeps_it() {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, RecordBatch, StringArray};

    let dir = tempfile::tempdir().unwrap();
    let mut phones = ListBuilder::new(StringBuilder::new());
    phones.values().append_value(MOBILE);
    phones.append(true);
    let batch = RecordBatch::try_from_iter([
        ("note", Arc::new(StringArray::from(vec!["无"])) as ArrayRef),
        ("phones", Arc::new(phones.finish()) as ArrayRef),
    ])
    .unwrap();
    write_batch(&dir.path().join("in.parquet"), &batch, None);

    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("column 2 (phones) holds text"), "{err}");
    assert!(!err.contains(MOBILE), "{err}");
    assert!(!dir.path().join("out.parquet").exists());

    let kept =
        format!("{POLICY}[[rules.fields]]\npath = \"$.phones\"\noperator = {{ op = \"keep\" }}\n");
    std::fs::write(dir.path().join("policy.toml"), kept).unwrap();
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read_parquet(&dir.path().join("out.parquet"));
    assert_eq!(
        masked.column(1),
        batch.column(1),
        "kept as it was, on purpose"
    );
}

/// Nothing passes in the clear that the policy did not mean to: bytes (a photo, or text a
/// writer stored as bytes) cannot be scanned, and a column the policy masks that holds no
/// strings (a mobile stored as a number) cannot be masked in place. Both are refused,
/// naming the column and never a cell, until the policy says what to do with them.
#[test]
fn parquet_bytes_and_masked_numbers_are_refused_not_passed_through() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray};

    let dir = tempfile::tempdir().unwrap();
    let batch = RecordBatch::try_from_iter([
        ("note", Arc::new(StringArray::from(vec!["无"])) as ArrayRef),
        (
            "raw",
            Arc::new(BinaryArray::from(vec![MOBILE.as_bytes()])) as ArrayRef,
        ),
        (
            "mobile",
            Arc::new(Int64Array::from(vec![MOBILE.parse::<i64>().unwrap()])) as ArrayRef,
        ),
    ])
    .unwrap();
    write_batch(&dir.path().join("in.parquet"), &batch, None);
    let refused = |policy: &str, what: &str| {
        std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
        let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
        assert!(!out.status.success(), "{what}");
        let err = stderr(&out);
        assert!(err.contains(what), "{err}");
        assert!(!err.contains(MOBILE), "{err}");
        assert!(!dir.path().join("out.parquet").exists());
    };
    refused(POLICY, "column 2 (raw) holds text or bytes as Binary");
    let keep_raw =
        format!("{POLICY}[[rules.fields]]\npath = \"$.raw\"\noperator = {{ op = \"keep\" }}\n");
    let hash_mobile = format!(
        "{keep_raw}[[rules.fields]]\npath = \"$.mobile\"\ntype = \"CN_MOBILE\"\n\
         operator = {{ op = \"hash\" }}\n"
    );
    refused(
        &hash_mobile,
        "the policy masks column 3 (mobile), which is Int64",
    );
    // Bytes kept in the clear on purpose are written as they were; so is a number no path
    // names, which a scan does not read (docs/masking.md): a policy that means to mask
    // it names it, and the column is cast to a string first.
    std::fs::write(dir.path().join("policy.toml"), &keep_raw).unwrap();
    let out = mask(dir.path(), &["in.parquet", "out.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = read_parquet(&dir.path().join("out.parquet"));
    assert_eq!(masked.column(1), batch.column(1));
    assert_eq!(masked.column(2), batch.column(2));
}

/// Rows are masked as objects keyed by column name: two columns of one name would share one
/// value, so such a file is refused and nothing is written, as CSV, Parquet alike.
#[test]
fn columns_of_one_name_are_refused() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), format!("a,b,a\n{MOBILE},x,y\n")).unwrap();
    let column = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("a", column(MOBILE)),
        ("b", column("x")),
        ("a", column("y")),
    ])
    .unwrap();
    write_batch(&dir.path().join("t.parquet"), &batch, None);
    for (input, output) in [("t.csv", "m.csv"), ("t.parquet", "m.parquet")] {
        let out = mask(dir.path(), &[input, output]);
        assert!(!out.status.success(), "{input}");
        assert!(
            stderr(&out).contains("columns 1 and 3 have the same name"),
            "{input}: {}",
            stderr(&out)
        );
        assert!(!dir.path().join(output).exists(), "{input}");
    }
}

#[test]
fn parquet_from_standard_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = mask(dir.path(), &["--format", "parquet", "-", "out.parquet"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Parquet is read from a file"),
        "{}",
        stderr(&out)
    );
}
