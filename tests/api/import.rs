//! Bulk onboarding: `POST /v1/store` (many subjects, one transaction, one audit event) and
//! `baomi import`, which streams a CSV or JSON Lines file through it and resumes after a
//! `kill -9` with every subject imported exactly once.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Stdio;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSPHRASE, TestApp, TestDb, spawn_app, until};
use crate::process::{Process, declare_kyc, new_key, post};

const PURPOSE: &str = "customer_service";

/// POSTs a bulk store with a request id of our own, to find its audit event.
async fn store_many(
    app: &TestApp,
    key: &str,
    request_id: &str,
    body: Value,
) -> crate::helpers::Reply {
    crate::helpers::send(
        app.client
            .post(app.url("/v1/store"))
            .bearer_auth(key)
            .header("x-request-id", request_id)
            .json(&body),
    )
    .await
}

/// The audit events of one request, read behind the server's back.
async fn events_of(db: &TestDb, request_id: &str) -> Vec<Value> {
    db.texts("SELECT body FROM audit_events")
        .await
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .filter(|e| e["request_id"] == request_id)
        .collect()
}

#[tokio::test]
async fn bulk_store_stores_each_subject_or_says_why_in_one_event() {
    let app = spawn_app().await;
    let key = app.create_key("service", &[PURPOSE]).await.1;
    for (subject, fields) in [
        ("keeper", json!({"name": "王五", "mobile": "13700137000"})),
        ("leaver", json!({"name": "赵六"})),
    ] {
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/subjects/{subject}/data"),
                Some(&key),
                Some(json!({ "fields": fields })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let erased = app
        .call(Method::DELETE, "/v1/subjects/leaver", Some(&key), None)
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);

    let reply = store_many(
        &app,
        &key,
        "bulk-1",
        json!({
            "searchable": ["mobile"],
            "subjects": [
                {"subject_id": "u-1", "fields": {"mobile": "13800138000", "name": "张三"}},
                {"subject_id": "u-2", "fields": {"mobile": "12345", "name": "李四"}},
                {"subject_id": "leaver", "fields": {"name": "赵六"}},
                {"subject_id": "not an id", "fields": {"name": "x"}},
                {"subject_id": "keeper", "fields": {"mobile": "13900139000"}},
                {"subject_id": "u-3", "fields": {}},
            ],
        }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let items = reply.json()["items"].as_array().unwrap().clone();
    let codes: Vec<&str> = items
        .iter()
        .map(|i| i["error"]["code"].as_str().unwrap_or("stored"))
        .collect();
    assert_eq!(
        codes,
        [
            "stored",
            "vault.invalid_value",
            "vault.subject_erased",
            "vault.invalid_subject",
            "stored",
            "request.invalid_field"
        ]
    );
    assert!(
        !reply.text.contains("12345"),
        "no value in an error: {}",
        reply.text
    );
    let u1 = &items[0]["tokens"];
    assert!(u1["mobile"].is_string() && u1["name"].is_string(), "{u1}");
    assert_eq!(items[4]["tokens"].as_object().unwrap().len(), 1);

    // What was stored reads back; what was refused left nothing behind; a field not named
    // keeps its earlier value.
    let read = |subject: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            app.get(
                &format!("/v1/subjects/{subject}/data?purpose={PURPOSE}&view=plain"),
                Some(&key),
            )
            .await
        }
    };
    let u1 = read("u-1").await.json();
    assert_eq!(u1["fields"]["mobile"]["value"], "13800138000");
    assert_eq!(u1["fields"]["name"]["value"], "张三");
    let keeper = read("keeper").await.json();
    assert_eq!(keeper["fields"]["mobile"]["value"], "13900139000");
    assert_eq!(keeper["fields"]["name"]["value"], "王五");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_fields WHERE subject IN ('u-2', 'u-3', 'leaver')")
            .await,
        0
    );
    let found = app
        .post(
            "/v1/search",
            Some(&key),
            json!({"purpose": PURPOSE, "field": "mobile", "value": "139 0013 9000"}),
        )
        .await;
    assert_eq!(
        found.json()["subject_ids"],
        json!(["keeper"]),
        "{}",
        found.text
    );

    // One event for the request: who, which keyring and fields, how many values; no value.
    let events = events_of(&app.db, "bulk-1").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["action"], "store");
    assert_eq!(event["count"], 3);
    assert_eq!(event["fields"], json!(["mobile", "name"]));
    assert_eq!(event["target"], "keyring:default");
    let text = event.to_string();
    for value in ["13800138000", "13900139000", "张三"] {
        assert!(!text.contains(value), "{text}");
    }

    // A subject named again is answered in its later place; the first is stored.
    let twice = store_many(
        &app,
        &key,
        "bulk-2",
        json!({"subjects": [
            {"subject_id": "u-4", "fields": {"name": "甲"}},
            {"subject_id": "u-4", "fields": {"name": "乙"}},
        ]}),
    )
    .await;
    assert_eq!(twice.status, 200, "{}", twice.text);
    let items = twice.json()["items"].clone();
    assert!(items[0]["tokens"]["name"].is_string(), "{items}");
    assert_eq!(items[1]["error"]["code"], "request.invalid_field");
    assert_eq!(read("u-4").await.json()["fields"]["name"]["value"], "甲");
    // No subject at all, or a searchable field that cannot be one, is refused whole.
    store_many(&app, &key, "bulk-3", json!({"subjects": []}))
        .await
        .assert_problem(422, "request.invalid_field");
    store_many(
        &app,
        &key,
        "bulk-4",
        json!({"searchable": ["Mobile!"], "subjects": [{"subject_id": "u-5", "fields": {"name": "丙"}}]}),
    )
    .await
    .assert_problem(422, "request.invalid_field");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_fields WHERE subject = 'u-5'")
            .await,
        0
    );
}

/// Runs `baomi import` against `base` with `key`.
fn import(base: &str, key: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_baomi"));
    cmd.arg("import")
        .args(args)
        .arg("--server")
        .arg(base)
        .env("BAOMI_API_KEY", key)
        .env("BAOMI_LOG_LEVEL", "warn")
        .env_remove("BAOMI_CONFIG")
        .env_remove("BAOMI_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A valid mobile number of subject `i`.
fn mobile(i: usize) -> String {
    format!("139{i:08}")
}

/// Writes `subjects` subjects as CSV (with a BOM, quoting, one unreadable record and one
/// invalid mobile number).
fn write_csv(path: &Path, subjects: usize) {
    let mut text = String::from("\u{feff}subject_id,mobile,name\n");
    for i in 0..subjects {
        match i {
            7 => text.push_str("s-7,12345,bad mobile\n"),
            9 => text.push_str("s-9,only two columns\n"),
            _ => text.push_str(&format!("s-{i},{},\"客户, 第{i}位\"\n", mobile(i))),
        }
    }
    std::fs::write(path, text).unwrap();
}

fn progress_records(out: &Path) -> u64 {
    let progress = out.with_file_name("tokens.jsonl.progress");
    std::fs::read(progress)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["records"].as_u64())
        .unwrap_or(0)
}

/// A `baomi serve` on `db` with the purpose `kyc` declared, and a service key made from
/// `key`; the server, its base URL and the service key's secret.
async fn server_with_key(db: &TestDb, key: Value) -> (Process, String, String) {
    let server = Process::start(db, Some(PASSPHRASE), &[]).await;
    let (base, admin) = (server.base.clone(), server.bootstrap_key().unwrap());
    declare_kyc(&base, &admin).await;
    let secret = new_key(&base, &admin, key).await;
    (server, base, secret)
}

#[tokio::test]
async fn import_killed_midway_resumes_and_imports_each_subject_once() {
    const SUBJECTS: usize = 4000;
    let db = TestDb::new().await;
    let (server, base, key) = server_with_key(
        &db,
        json!({"name": "migration", "role": "service", "permissions": ["store_data"],
               "grants": [{"purpose": "kyc", "views": ["masked"]}]}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("subjects.csv");
    let out = dir.path().join("tokens.jsonl");
    write_csv(&input, SUBJECTS);
    let (input_arg, out_arg) = (input.to_str().unwrap(), out.to_str().unwrap());
    let args = [
        input_arg,
        "--out",
        out_arg,
        "--batch",
        "40",
        "--searchable",
        "mobile",
    ];

    // Killed once a quarter of the records are done, as a crash or an operator would.
    let mut first = import(&base, &key, &args).spawn().unwrap();
    until("a quarter of the import is done", async || {
        progress_records(&out) >= (SUBJECTS / 4) as u64
    })
    .await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let done_before = progress_records(&out);
    assert!(
        done_before < SUBJECTS as u64,
        "the import finished before it was killed: the test proves nothing"
    );

    let second = import(&base, &key, &args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("resuming"), "{stderr}");
    assert!(!out.with_file_name("tokens.jsonl.progress").exists());

    // The output: one line per record, each subject once.
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), SUBJECTS);
    let mut by_subject: HashMap<String, &Value> = HashMap::new();
    for line in &lines {
        if let Some(s) = line["subject_id"].as_str() {
            assert!(by_subject.insert(s.to_owned(), line).is_none(), "{s} twice");
        }
    }
    assert_eq!(by_subject.len(), SUBJECTS - 1);
    assert_eq!(by_subject["s-7"]["error"]["code"], "vault.invalid_value");
    let unreadable: Vec<&Value> = lines.iter().filter(|l| l["record"].is_number()).collect();
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0]["record"], 10);
    assert_eq!(unreadable[0]["error"]["code"], "import.unreadable_record");

    // Baomi: each subject's fields once, and exactly the tokens the output holds.
    let stored = (SUBJECTS - 2) as i64;
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT subject) FROM subject_fields")
            .await,
        stored
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM subject_fields").await,
        2 * stored
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM blind_index").await, stored);
    let in_db: BTreeSet<String> = db
        .texts("SELECT token FROM subject_fields")
        .await
        .into_iter()
        .collect();
    let in_output: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l["tokens"].as_object())
        .flat_map(|t| t.values().map(|v| v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(in_db, in_output);

    // The trail: one event per batch, named by the import's request ids, without values.
    let events: Vec<Value> = db
        .texts("SELECT body FROM audit_events")
        .await
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .filter(|e| {
            e["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("import-"))
        })
        .collect();
    assert!(events.len() >= SUBJECTS / 40, "{} events", events.len());
    assert!(
        events
            .iter()
            .all(|e| e["action"] == "store" && e["count"].as_u64() <= Some(80))
    );
    let trail = events.iter().map(Value::to_string).collect::<String>();
    assert!(!trail.contains(&mobile(11)) && !trail.contains("客户"));

    // A finished output is never overwritten.
    let again = import(&base, &key, &args).output().await.unwrap();
    assert!(!again.status.success());
    server.stop().await;
}

#[tokio::test]
async fn stateless_import_writes_ciphertexts_that_decrypt() {
    let db = TestDb::new().await;
    let (server, base, key) = server_with_key(
        &db,
        json!({"name": "svc", "role": "service",
               "grants": [{"purpose": "kyc", "views": ["plain"]}]}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("subjects.jsonl");
    let out = dir.path().join("sealed.jsonl");
    let mut text = String::new();
    for i in 0..25 {
        text.push_str(
            &json!({"uid": format!("c-{i}"), "mobile": mobile(i), "name": "钱七"}).to_string(),
        );
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let run = import(
        &base,
        &key,
        &[
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--stateless",
            "--subject-column",
            "uid",
            "--batch",
            "7",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 25);
    let line = &lines[12];
    assert_eq!(line["subject_id"], "c-12");
    let items: Vec<Value> = ["mobile", "name"]
        .iter()
        .map(|f| json!({"subject_id": "c-12", "field": f, "ciphertext": line["ciphertexts"][f]}))
        .collect();
    let opened = post(
        &base,
        "/v1/decrypt",
        &key,
        json!({"purpose": "kyc", "view": "plain", "items": items}),
    )
    .await;
    assert_eq!(opened.status, 200, "{}", opened.text);
    let body = opened.json();
    let values: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(values, [mobile(12).as_str(), "钱七"]);
    // Batches of at most 7 values: a subject's two values never split across requests.
    let batches = db
        .count("SELECT COUNT(*) FROM audit_events WHERE body LIKE '%import-%'")
        .await;
    assert_eq!(batches, 9, "25 subjects × 2 values, 3 subjects a batch");
    server.stop().await;
}

#[tokio::test]
async fn offline_import_writes_straight_to_the_database_and_names_the_operator() {
    let db = TestDb::new().await;
    let (server, _, reader) = server_with_key(
        &db,
        json!({"name": "reader", "role": "service",
               "grants": [{"purpose": "kyc", "views": ["plain"]}]}),
    )
    .await;
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("subjects.csv");
    let out = dir.path().join("tokens.jsonl");
    write_csv(&input, 30);
    let offline = |operator: Option<&str>| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_baomi"));
        cmd.args([
            "import",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args([
            "--offline",
            "--batch",
            "8",
            "--data-dir",
            db.path().to_str().unwrap(),
        ])
        .args(operator.map(|o| ["--operator", o]).into_iter().flatten())
        .env("BAOMI_UNSEAL_PASSPHRASE", PASSPHRASE)
        .env("BAOMI_KDF__M_COST_KIB", "8192")
        .env("BAOMI_KDF__T_COST", "1")
        .env("BAOMI_LOG_LEVEL", "warn")
        .env_remove("BAOMI_API_KEY")
        .env_remove("BAOMI_CONFIG")
        .env_remove("BAOMI_DATABASE_URL")
        .stdin(Stdio::null())
        .kill_on_drop(true);
        if let Some(url) = &db.url {
            cmd.env("BAOMI_DATABASE_URL", url);
        }
        cmd
    };
    // Offline, nobody's key is on the record: the operator must be named.
    let unnamed = offline(None).output().await.unwrap();
    assert!(!unnamed.status.success());
    assert!(!out.exists());
    let run = offline(Some("ops-zhang")).output().await.unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 30);
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT subject) FROM subject_fields")
            .await,
        28
    );

    // The server reads what was imported, and takes the batches' events into the trail.
    let server = Process::start(&db, Some(PASSPHRASE), &[]).await;
    let read = crate::process::get(
        &server.base,
        "/v1/subjects/s-12/data?purpose=kyc&view=plain",
        Some(&reader),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json()["fields"]["mobile"]["value"], mobile(12));
    let imported = async || {
        db.texts("SELECT body FROM audit_events")
            .await
            .iter()
            .map(|b| serde_json::from_str::<Value>(b).unwrap())
            .filter(|e| {
                e["request_id"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("import-"))
            })
            .collect::<Vec<_>>()
    };
    until("the offline batches' events are in the trail", async || {
        imported().await.len() == 4
    })
    .await;
    for event in imported().await {
        assert_eq!(event["operator"], "ops-zhang", "{event}");
        assert_eq!(event["actor"]["id"], "baomi-import", "{event}");
        assert_eq!(event["action"], "store", "{event}");
    }
    server.stop().await;
}
