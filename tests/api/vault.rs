//! The stateless vault over HTTP: encrypt, decrypt under a purpose, rewrap, keyrings and
//! rotation, erasure; with real Chinese PI shapes, on SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const PURPOSE: &str = "loan_underwriting";

/// Typical values of each field type.
const SAMPLES: &[(&str, &str)] = &[
    ("id_number", "11010519491231002X"),
    ("mobile", "13800138000"),
    ("bank_card", "6222021234567890128"),
    ("name", "欧阳娜娜"),
    ("email", "zhang.san@example.cn"),
    ("address", "北京市朝阳区建国路88号SOHO现代城5号楼1201"),
    ("mobile.emergency_contact", "+86 139-1234-5678"),
    ("text", "客户备注：已核实身份。"),
];

async fn service_key(app: &TestApp) -> String {
    app.create_key("service", &[PURPOSE, "marketing"]).await.1
}

async fn encrypt(app: &TestApp, key: &str, items: Value) -> Vec<Value> {
    let reply = app
        .post("/v1/encrypt", Some(key), json!({"items": items}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["items"].as_array().unwrap().clone()
}

async fn decrypt(app: &TestApp, key: &str, view: &str, items: Value) -> Vec<Value> {
    let reply = app
        .post(
            "/v1/decrypt",
            Some(key),
            json!({"purpose": PURPOSE, "view": view, "items": items}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["items"].as_array().unwrap().clone()
}

fn ciphertext(item: &Value) -> String {
    item["ciphertext"]
        .as_str()
        .unwrap_or_else(|| panic!("no ciphertext: {item}"))
        .to_owned()
}

/// Encrypts the mobile number 13800138000 for `subject`; its ciphertext.
async fn sealed_mobile(app: &TestApp, key: &str, subject: &str) -> String {
    let items = json!([{"subject_id": subject, "field": "mobile", "value": "13800138000"}]);
    ciphertext(&encrypt(app, key, items).await[0])
}

#[tokio::test]
async fn chinese_pi_round_trips_plain_and_masked() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let items: Vec<Value> = SAMPLES
        .iter()
        .map(|(f, v)| json!({"subject_id": "u-10086", "field": f, "value": v}))
        .collect();
    let sealed = encrypt(&app, &key, json!(items)).await;
    assert_eq!(sealed.len(), SAMPLES.len());
    let mut targets = Vec::new();
    for (item, (field, value)) in sealed.iter().zip(SAMPLES) {
        let c = ciphertext(item);
        assert!(c.starts_with("bm:v1:aes256gcm:default:1:"), "{c}");
        assert!(!c.contains(value));
        targets.push(json!({"subject_id": "u-10086", "field": field, "ciphertext": c}));
    }
    let plain = decrypt(&app, &key, "plain", json!(targets)).await;
    assert_eq!(plain.len(), SAMPLES.len());
    for (item, (_, value)) in plain.iter().zip(SAMPLES) {
        assert_eq!(item["value"], *value);
    }
    let masked = decrypt(&app, &key, "masked", json!(targets)).await;
    let shown: Vec<&str> = masked
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(shown[0], "1***************2X");
    assert_eq!(shown[1], "138****8000");
    assert_eq!(shown[2], "622202*********0128");
    assert_eq!(shown[3], "欧阳**", "a compound surname stays whole");
    assert_eq!(shown[4], "z********@example.cn");

    // Masked is the default view.
    let reply = app
        .post(
            "/v1/decrypt",
            Some(&key),
            json!({"purpose": PURPOSE, "items": [targets[1].clone()]}),
        )
        .await;
    assert_eq!(reply.json()["view"], "masked");
    assert_eq!(reply.json()["items"][0]["value"], "138****8000");
}

#[tokio::test]
async fn random_values_round_trip() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let pool: Vec<char> = "aZ09 -_.@/中文身份证号码银行卡😀é\u{3000}\t\"\\"
        .chars()
        .collect();
    let mut values = Vec::new();
    let rng = ring::rand::SystemRandom::new();
    for n in 0..200 {
        let mut bytes = vec![0u8; n % 40];
        ring::rand::SecureRandom::fill(&rng, &mut bytes).unwrap();
        values.push(
            bytes
                .iter()
                .map(|b| pool[*b as usize % pool.len()])
                .collect::<String>(),
        );
    }
    let items: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"subject_id": format!("s{}", i % 7), "field": "text", "value": v}))
        .collect();
    let sealed = encrypt(&app, &key, json!(items)).await;
    let targets: Vec<Value> = sealed
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"subject_id": format!("s{}", i % 7), "field": "text", "ciphertext": ciphertext(c)}))
        .collect();
    let plain = decrypt(&app, &key, "plain", json!(targets)).await;
    assert_eq!(plain.len(), values.len(), "one answer per item");
    for (item, value) in plain.iter().zip(&values) {
        assert_eq!(item["value"], value.as_str());
    }
}

#[tokio::test]
async fn tampered_or_misplaced_ciphertexts_fail_item_by_item() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let sealed = encrypt(
        &app,
        &key,
        json!([{"subject_id": "alice", "field": "mobile", "value": "13800138000"}]),
    )
    .await;
    let good = ciphertext(&sealed[0]);
    let cut = good.rfind(':').unwrap() + 1;
    let mut cases = vec![
        (
            json!({"subject_id": "bob", "field": "mobile", "ciphertext": good}),
            "vault.decrypt_failed",
        ),
        (
            json!({"subject_id": "alice", "field": "mobile.backup", "ciphertext": good}),
            "vault.decrypt_failed",
        ),
        (
            json!({"subject_id": "alice", "field": "bank_card", "ciphertext": good}),
            "vault.decrypt_failed",
        ),
        (
            json!({"subject_id": "alice", "field": "mobile", "ciphertext": good.replacen(":1:", ":2:", 1)}),
            "vault.unknown_version",
        ),
        (
            json!({"subject_id": "alice", "field": "mobile", "ciphertext": good.replacen(":default:", ":nosuch:", 1)}),
            "vault.unknown_keyring",
        ),
        (
            json!({"subject_id": "alice", "field": "mobile", "ciphertext": &good[..good.len() - 4]}),
            "vault.decrypt_failed",
        ),
        (
            json!({"subject_id": "alice", "field": "mobile", "ciphertext": "bm:v1:nonsense"}),
            "vault.malformed_ciphertext",
        ),
        (
            json!({"subject_id": "alice", "field": "mobile", "ciphertext": "13800138000"}),
            "vault.malformed_ciphertext",
        ),
        (
            json!({"subject_id": "al ice", "field": "mobile", "ciphertext": good}),
            "vault.invalid_subject",
        ),
        (
            json!({"subject_id": "alice", "field": "phone", "ciphertext": good}),
            "vault.invalid_field",
        ),
    ];
    // Every single-character change of the payload fails.
    for pos in cut..good.len() {
        let mut bytes = good.clone().into_bytes();
        bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        cases.push((
            json!({"subject_id": "alice", "field": "mobile", "ciphertext": changed}),
            "any",
        ));
    }
    // The good one, in the middle of the bad ones, still decrypts.
    let mut items: Vec<Value> = cases.iter().map(|(i, _)| i.clone()).collect();
    items.insert(
        3,
        json!({"subject_id": "alice", "field": "mobile", "ciphertext": good}),
    );
    let results = decrypt(&app, &key, "plain", json!(items)).await;
    assert_eq!(results[3]["value"], "13800138000");
    let mut results = results;
    results.remove(3);
    assert_eq!(results.len(), cases.len(), "one answer per item");
    for ((item, expected), result) in cases.iter().zip(&results) {
        let code = result["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{item} gave {result}"));
        if *expected != "any" {
            assert_eq!(code, *expected, "{item}");
        }
        assert!(result["value"].is_null());
        assert!(!result.to_string().contains("13800138000"));
    }
}

#[tokio::test]
async fn encrypt_items_are_validated_one_by_one() {
    let app = spawn_app_with(|c| c.max_batch_items = 5).await;
    let key = service_key(&app).await;
    let results = encrypt(
        &app,
        &key,
        json!([
            {"subject_id": "u1", "field": "mobile", "value": "13800138000"},
            {"subject_id": "", "field": "mobile", "value": "x"},
            {"subject_id": "u1", "field": "phone", "value": "x"},
            {"subject_id": "u1", "field": "mobile", "value": "1".repeat(257)},
            {"subject_id": "u1", "field": "text", "value": "长".repeat(20_000)},
        ]),
    )
    .await;
    assert!(results[0]["ciphertext"].is_string());
    assert_eq!(results[1]["error"]["code"], "vault.invalid_subject");
    assert_eq!(results[2]["error"]["code"], "vault.invalid_field");
    assert_eq!(results[3]["error"]["code"], "vault.value_too_long");
    assert!(
        results[4]["ciphertext"].is_string(),
        "60 KB of text is fine"
    );

    let six: Vec<Value> = (0..6)
        .map(|_| json!({"subject_id": "u1", "field": "mobile", "value": "1"}))
        .collect();
    app.post("/v1/encrypt", Some(&key), json!({"items": six}))
        .await
        .assert_problem(422, "request.invalid_field");
    app.post("/v1/encrypt", Some(&key), json!({"items": []}))
        .await
        .assert_problem(422, "request.invalid_field");
    app.post("/v1/encrypt", Some(&key), json!({"keyring": "nosuch", "items": [{"subject_id": "u1", "field": "mobile", "value": "1"}]}))
        .await
        .assert_problem(404, "vault.unknown_keyring");
    app.post(
        "/v1/encrypt",
        Some(&key),
        json!({"items": [{"subject_id": "u1", "field": "mobile"}]}),
    )
    .await
    .assert_problem(422, "request.invalid_body");
}

#[tokio::test]
async fn decrypting_needs_a_purpose_the_key_holds_and_refusals_are_audited() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    let c = sealed_mobile(&app, &key, "u7").await;
    let items = json!([{"subject_id": "u7", "field": "mobile", "ciphertext": c}]);
    let ask = |k: String, purpose: &'static str| {
        let items = items.clone();
        let app = &app;
        async move {
            app.post(
                "/v1/decrypt",
                Some(&k),
                json!({"purpose": purpose, "view": "plain", "items": items}),
            )
            .await
        }
    };
    let refused = ask(key.clone(), "credit_scoring").await;
    refused.assert_problem(403, "auth.purpose_not_allowed");
    assert!(!refused.text.contains("13800138000"));
    ask(officer.clone(), PURPOSE)
        .await
        .assert_problem(403, "auth.forbidden");
    ask(app.admin_key.clone(), PURPOSE)
        .await
        .assert_problem(403, "auth.forbidden");
    ask(key.clone(), "Not A Purpose")
        .await
        .assert_problem(422, "request.invalid_field");
    app.post("/v1/encrypt", Some(&officer), json!({"items": []}))
        .await
        .assert_problem(403, "auth.forbidden");

    let denied = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'decrypt' AND subject = 'u7'")
        .await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(
        denied[0].contains("auth.purpose_not_allowed"),
        "{}",
        denied[0]
    );
}

#[tokio::test]
async fn every_decrypt_is_in_the_trail_without_values() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let sealed = encrypt(
        &app,
        &key,
        json!([
            {"subject_id": "u1", "field": "mobile", "value": "13800138000"},
            {"subject_id": "u1", "field": "bank_card", "value": "6222021234567890128"},
            {"subject_id": "u2", "field": "mobile", "value": "13912345678"},
        ]),
    )
    .await;
    let items = json!([
        {"subject_id": "u1", "field": "mobile", "ciphertext": ciphertext(&sealed[0])},
        {"subject_id": "u1", "field": "bank_card", "ciphertext": ciphertext(&sealed[1])},
        {"subject_id": "u2", "field": "mobile", "ciphertext": ciphertext(&sealed[2])},
        {"subject_id": "u2", "field": "mobile", "ciphertext": ciphertext(&sealed[0])},
    ]);
    let reply = app
        .client
        .post(app.url("/v1/decrypt"))
        .bearer_auth(&key)
        .header("x-baomi-operator", "客服-017")
        .header("x-request-id", "req-audit-1")
        .json(&json!({"purpose": PURPOSE, "view": "plain", "items": items}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let bodies = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'decrypt' ORDER BY seq")
        .await;
    assert_eq!(
        bodies.len(),
        3,
        "u1 allowed, u2 allowed, u2 denied: {bodies:?}"
    );
    let events: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let u1 = events.iter().find(|e| e["subject"] == "u1").unwrap();
    assert_eq!(u1["fields"], json!(["mobile", "bank_card"]));
    assert_eq!(u1["count"], 2);
    assert_eq!(u1["purpose"], PURPOSE);
    assert_eq!(u1["operator"], "客服-017");
    assert_eq!(u1["request_id"], "req-audit-1");
    assert_eq!(u1["actor"]["role"], "service");
    assert_eq!(u1["outcome"]["result"], "allowed");
    assert!(
        events
            .iter()
            .any(|e| e["subject"] == "u2" && e["outcome"]["code"] == "vault.decrypt_failed")
    );
    for body in &bodies {
        for value in ["13800138000", "6222021234567890128", "13912345678"] {
            assert!(!body.contains(value), "{body}");
        }
    }
}

/// A rewrap handles ciphertexts without showing them: it is in the trail all the same,
/// one event per subject, naming the key that asked and the fields.
#[tokio::test]
async fn a_rewrap_is_in_the_trail_with_its_key() {
    let app = spawn_app().await;
    let (key_id, key) = app.create_key("service", &[PURPOSE]).await;
    let c = sealed_mobile(&app, &key, "u5").await;
    let rewrapped = app
        .post(
            "/v1/rewrap",
            Some(&key),
            json!({"items": [{"subject_id": "u5", "field": "mobile", "ciphertext": c}]}),
        )
        .await;
    assert_eq!(rewrapped.status, 200, "{}", rewrapped.text);
    let (_, officer) = app.create_key("officer", &[]).await;
    let page = app
        .get("/v1/audit/events?action=rewrap&subject=u5", Some(&officer))
        .await
        .json();
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    let event = &events[0]["event"];
    assert_eq!(event["actor"]["id"], key_id, "{event}");
    assert_eq!(event["fields"], json!(["mobile"]), "{event}");
    assert_eq!(event["outcome"]["result"], "allowed", "{event}");
    assert!(!page.to_string().contains("13800138000"));
}

/// Every read of PI is recorded before it is answered: when the trail cannot be written,
/// a decrypt, a stored read, a detokenize and a search all fail with 503 and show nothing.
#[tokio::test]
async fn no_record_no_read_when_the_trail_cannot_be_written() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let c = sealed_mobile(&app, &key, "u1").await;
    let stored = app
        .call(
            Method::PUT,
            "/v1/subjects/u2/data",
            Some(&key),
            Some(json!({"fields": {"mobile": "13800138000"}, "searchable": ["mobile"]})),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let token = stored.json()["tokens"]["mobile"]
        .as_str()
        .unwrap()
        .to_owned();
    app.db
        .execute("ALTER TABLE audit_events RENAME TO audit_events_gone")
        .await;
    let reads = [
        app.post(
            "/v1/decrypt",
            Some(&key),
            json!({"purpose": PURPOSE, "view": "plain", "items": [{"subject_id": "u1", "field": "mobile", "ciphertext": c}]}),
        )
        .await,
        app.get(
            &format!("/v1/subjects/u2/data?purpose={PURPOSE}&view=plain"),
            Some(&key),
        )
        .await,
        app.post(
            "/v1/detokenize",
            Some(&key),
            json!({"purpose": PURPOSE, "view": "plain", "tokens": [token]}),
        )
        .await,
        app.post(
            "/v1/search",
            Some(&key),
            json!({"purpose": PURPOSE, "field": "mobile", "value": "13800138000"}),
        )
        .await,
    ];
    for reply in reads {
        reply.assert_problem(503, "service.database_unavailable");
        for shown in ["13800138000", "138****8000", "u2"] {
            assert!(!reply.text.contains(shown), "{}", reply.text);
        }
    }
}

/// The background schedulers run by themselves: maintenance (here every second, from
/// `maintenance_every_secs`) re-seals a rotated keyring's data keys, and the checkpoint of
/// every second signs the trail, with nobody calling either.
#[tokio::test]
async fn the_schedulers_do_their_work_unasked() {
    let app = spawn_app_with(|c| c.maintenance_every_secs = 1).await;
    let key = service_key(&app).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    encrypt(
        &app,
        &key,
        json!([{"subject_id": "u1", "field": "mobile", "value": "13800138000"}]),
    )
    .await;
    let rotated = app.rotate_default_keyring().await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let stale = "SELECT COUNT(*) FROM subject_keys WHERE keyring = 'default' AND kek_version < 2";
    assert_eq!(app.db.count(stale).await, 1);
    crate::helpers::until("maintenance re-seals the data key", async || {
        app.db.count(stale).await == 0
    })
    .await;

    let size = app.db.count("SELECT COUNT(*) FROM audit_leaves").await;
    crate::helpers::until("a checkpoint covers the trail", async || {
        let c = app.get("/v1/audit/checkpoint", Some(&officer)).await;
        c.status == 200 && c.json()["tree_size"].as_i64().is_some_and(|s| s >= size)
    })
    .await;
}

#[tokio::test]
async fn rotation_rewrap_and_retiring_old_versions() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let admin = app.admin_key.clone();
    let created = app
        .post(
            "/v1/keyrings",
            Some(&admin),
            json!({"name": "pii-cn", "rotation_period_days": 90}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["latest_version"], 1);
    assert_eq!(created.json()["rotation_period_days"], 90);
    app.post("/v1/keyrings", Some(&admin), json!({"name": "pii-cn"}))
        .await
        .assert_problem(409, "vault.keyring_exists");

    let enc = |value: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app.post("/v1/encrypt", Some(&key), json!({"keyring": "pii-cn", "items": [{"subject_id": "u9", "field": "id_number", "value": value}]})).await;
            ciphertext(&r.json()["items"][0])
        }
    };
    let v1 = enc("11010519491231002X").await;
    assert!(v1.starts_with("bm:v1:aes256gcm:pii-cn:1:"));

    let rotated = app
        .call(
            Method::POST,
            "/v1/keyrings/pii-cn/rotate",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(rotated.json()["latest_version"], 2);
    let v2 = enc("11010519491231002X").await;
    assert!(v2.starts_with("bm:v1:aes256gcm:pii-cn:2:"));

    let both = json!([
        {"subject_id": "u9", "field": "id_number", "ciphertext": v1},
        {"subject_id": "u9", "field": "id_number", "ciphertext": v2},
    ]);
    let read = decrypt(&app, &key, "plain", both.clone()).await;
    assert_eq!(
        read[0]["value"], "11010519491231002X",
        "old versions still decrypt"
    );
    assert_eq!(read[1]["value"], "11010519491231002X");

    // Rewrap moves v1 to v2 and returns no plaintext.
    let rewrapped = app
        .post(
            "/v1/rewrap",
            Some(&key),
            json!({"items": [both[0].clone()]}),
        )
        .await;
    assert_eq!(rewrapped.status, 200, "{}", rewrapped.text);
    assert!(!rewrapped.text.contains("11010519491231002X"));
    let moved = ciphertext(&rewrapped.json()["items"][0]);
    assert!(moved.starts_with("bm:v1:aes256gcm:pii-cn:2:"));

    // Background maintenance re-seals the subject's v1 data key under KEK v2.
    let tick = baomi::service::maintenance::tick(&app.vault, baomi::service::now())
        .await
        .unwrap();
    assert_eq!(tick.rotated, 0);
    assert!(tick.resealed >= 1, "{tick:?}");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_keys WHERE keyring = 'pii-cn' AND kek_version < 2")
            .await,
        0
    );
    assert_eq!(
        decrypt(&app, &key, "plain", both.clone()).await[0]["value"],
        "11010519491231002X"
    );

    // Retire version 1: it stops decrypting; version 2 (and the rewrapped copy) still work.
    let bad = app
        .call(
            Method::PATCH,
            "/v1/keyrings/pii-cn",
            Some(&admin),
            Some(json!({"min_decryption_version": 3})),
        )
        .await;
    bad.assert_problem(422, "request.invalid_field");
    let patched = app
        .call(
            Method::PATCH,
            "/v1/keyrings/pii-cn",
            Some(&admin),
            Some(json!({"min_decryption_version": 2, "rotation_period_days": null})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json()["min_decryption_version"], 2);
    assert!(patched.json()["rotation_period_days"].is_null());
    let read = decrypt(
        &app,
        &key,
        "plain",
        json!([both[0], both[1], {"subject_id": "u9", "field": "id_number", "ciphertext": moved}]),
    )
    .await;
    assert_eq!(read[0]["error"]["code"], "vault.version_retired");
    assert_eq!(read[1]["value"], "11010519491231002X");
    assert_eq!(read[2]["value"], "11010519491231002X");
    app.call(
        Method::PATCH,
        "/v1/keyrings/pii-cn",
        Some(&admin),
        Some(json!({"min_decryption_version": 1})),
    )
    .await
    .assert_problem(422, "request.invalid_field");

    let list = app.get("/v1/keyrings", Some(&key)).await;
    assert_eq!(list.status, 200);
    let listed = list.json();
    let names: Vec<&str> = listed["keyrings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "pii-cn"]);
    app.get("/v1/keyrings/nosuch", Some(&admin))
        .await
        .assert_problem(404, "vault.unknown_keyring");
    app.call(Method::POST, "/v1/keyrings/pii-cn/rotate", Some(&key), None)
        .await
        .assert_problem(403, "auth.forbidden");
    let trail = app
        .db
        .texts("SELECT action FROM audit_events WHERE action LIKE 'keyring%' ORDER BY seq")
        .await;
    // The first is the default keyring's, made by the system at first start.
    assert_eq!(
        trail,
        [
            "keyring_create",
            "keyring_create",
            "keyring_rotate",
            "keyring_policy"
        ]
    );
}

#[tokio::test]
async fn scheduled_rotation_happens_in_maintenance() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/keyrings",
            Some(&app.admin_key),
            json!({"name": "monthly", "rotation_period_days": 30}),
        )
        .await;
    assert_eq!(created.status, 201);
    let now = baomi::service::now();
    let early = baomi::service::maintenance::tick(&app.vault, now + 29 * 86_400)
        .await
        .unwrap();
    assert_eq!(early.rotated, 0);
    let due = baomi::service::maintenance::tick(&app.vault, now + 31 * 86_400)
        .await
        .unwrap();
    assert_eq!(due.rotated, 1);
    let k = app
        .get("/v1/keyrings/monthly", Some(&app.admin_key))
        .await
        .json();
    assert_eq!(k["latest_version"], 2);
}

#[tokio::test]
async fn concurrent_first_use_creates_one_data_key() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = app.client.clone();
        let url = app.url("/v1/encrypt");
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"items": [{"subject_id": "newcomer", "field": "mobile", "value": format!("1380013{i:04}")}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            (i, ciphertext(&v["items"][0]))
        }));
    }
    let mut targets = Vec::new();
    for t in tasks {
        let (i, c) = t.await.unwrap();
        targets.push((
            i,
            json!({"subject_id": "newcomer", "field": "mobile", "ciphertext": c}),
        ));
    }
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_keys WHERE subject = 'newcomer'")
            .await,
        1
    );
    let items: Vec<Value> = targets.iter().map(|(_, t)| t.clone()).collect();
    let read = decrypt(&app, &key, "plain", json!(items)).await;
    assert_eq!(read.len(), targets.len(), "one answer per item");
    for ((i, _), r) in targets.iter().zip(read) {
        assert_eq!(r["value"], format!("1380013{i:04}"));
    }
}

#[tokio::test]
async fn erasure_makes_every_copy_undecryptable_and_survives_a_restore() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let sealed = encrypt(
        &app,
        &key,
        json!([
            {"subject_id": "leaver", "field": "mobile", "value": "13800138000"},
            {"subject_id": "leaver", "field": "id_number", "value": "11010519491231002X"},
            {"subject_id": "stayer", "field": "mobile", "value": "13912345678"},
        ]),
    )
    .await;
    let items = json!([
        {"subject_id": "leaver", "field": "mobile", "ciphertext": ciphertext(&sealed[0])},
        {"subject_id": "leaver", "field": "id_number", "ciphertext": ciphertext(&sealed[1])},
        {"subject_id": "stayer", "field": "mobile", "ciphertext": ciphertext(&sealed[2])},
    ]);
    app.call(
        Method::PUT,
        "/v1/subjects/leaver/data",
        Some(&key),
        Some(json!({"fields": {"email": "l@example.cn"}, "searchable": ["email"]})),
    )
    .await;
    // What a backup taken now would hold.
    for table in ["subject_keys", "subject_fields", "blind_index"] {
        app.db
            .execute(&format!(
                "CREATE TABLE backup_{table} AS SELECT * FROM {table}"
            ))
            .await;
    }

    let receipt = app
        .call(Method::DELETE, "/v1/subjects/leaver", Some(&key), None)
        .await;
    assert_eq!(receipt.status, 200, "{}", receipt.text);
    let receipt = receipt.json();
    assert!(receipt["receipt_id"].as_str().unwrap().starts_with("er_"));
    assert_eq!(receipt["data_keys_destroyed"], 1);

    let read = decrypt(&app, &key, "plain", items.clone()).await;
    assert_eq!(read[0]["error"]["code"], "vault.subject_erased");
    assert_eq!(read[1]["error"]["code"], "vault.subject_erased");
    assert_eq!(
        read[2]["value"], "13912345678",
        "other subjects are untouched"
    );
    let again = encrypt(
        &app,
        &key,
        json!([{"subject_id": "leaver", "field": "mobile", "value": "13800138000"}]),
    )
    .await;
    assert_eq!(again[0]["error"]["code"], "vault.subject_erased");

    // Erasing again is idempotent and returns the first receipt.
    let second = app
        .call(Method::DELETE, "/v1/subjects/leaver", Some(&key), None)
        .await
        .json();
    assert_eq!(second["receipt_id"], receipt["receipt_id"]);
    assert_eq!(second["data_keys_destroyed"], 0);
    app.call(Method::DELETE, "/v1/subjects/bad%20id", Some(&key), None)
        .await
        .assert_problem(422, "request.invalid_field");
    let (_, officer) = app.create_key("officer", &[]).await;
    app.call(Method::DELETE, "/v1/subjects/stayer", Some(&officer), None)
        .await
        .assert_problem(403, "auth.forbidden");

    // Restore the old backup: the data key and no erasure record. Start-up replays the
    // journal and the subject stays erased.
    let data_dir = app.db.path();
    let db = app.db;
    drop(app.client);
    let journal = std::fs::read_to_string(data_dir.join("erasure-journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 2);
    assert!(!journal.contains("13800138000"));
    for table in ["subject_keys", "subject_fields", "blind_index"] {
        db.execute(&format!(
            "INSERT INTO {table} SELECT * FROM backup_{table} WHERE subject = 'leaver'"
        ))
        .await;
    }
    db.execute("DELETE FROM erasures").await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM subject_fields WHERE subject = 'leaver'")
            .await,
        1
    );

    let mut config = db.config();
    config.database_max_connections = 2;
    let reopened = baomi::server::open(&config, false).await.unwrap();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM subject_keys WHERE subject = 'leaver'")
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM erasures WHERE subject = 'leaver'")
            .await,
        1
    );
    for table in ["subject_fields", "blind_index"] {
        let left = db
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE subject = 'leaver'"
            ))
            .await;
        assert_eq!(left, 0, "{table}");
    }
    let subject = baomi_vault::SubjectId::parse("leaver").unwrap();
    let field = baomi_vault::FieldName::parse("mobile").unwrap();
    let err = reopened
        .vault
        .decrypt(&subject, &field, items[0]["ciphertext"].as_str().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, baomi_vault::Error::SubjectErased), "{err:?}");
    reopened.store.close().await;
}

#[tokio::test]
async fn deterministic_keyrings_give_joinable_ciphertexts() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let admin = app.admin_key.clone();
    let created = app
        .post(
            "/v1/keyrings",
            Some(&admin),
            json!({"name": "joinable", "suite": "aes256siv"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["suite"], "aes256siv");
    app.post(
        "/v1/keyrings",
        Some(&admin),
        json!({"name": "x", "suite": "rot13"}),
    )
    .await
    .assert_problem(422, "request.invalid_field");

    let enc = |items: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app
                .post(
                    "/v1/encrypt",
                    Some(&key),
                    json!({"keyring": "joinable", "purpose": PURPOSE, "items": items}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(ciphertext)
                .collect::<Vec<_>>()
        }
    };
    let c = enc(json!([
        {"subject_id": "u1", "field": "mobile", "value": "13800138000"},
        {"subject_id": "u2", "field": "mobile", "value": "13800138000"},
        {"subject_id": "u1", "field": "mobile.backup", "value": "13800138000"},
        {"subject_id": "u1", "field": "mobile", "value": "13900000000"},
    ]))
    .await;
    assert!(c[0].starts_with("bm:v1:aes256siv:joinable:1:"), "{}", c[0]);
    assert_eq!(
        c[0], c[1],
        "equal values of one field match across subjects"
    );
    assert_ne!(c[0], c[2], "another field, another ciphertext");
    assert_ne!(c[0], c[3]);
    assert!(!c[0].contains("13800138000"));

    let read = decrypt(
        &app,
        &key,
        "plain",
        json!([
            {"subject_id": "u2", "field": "mobile", "ciphertext": c[0]},
            {"subject_id": "u1", "field": "mobile.backup", "ciphertext": c[0]},
        ]),
    )
    .await;
    assert_eq!(read[0]["value"], "13800138000");
    assert_eq!(read[1]["error"]["code"], "vault.decrypt_failed");

    // Rotation: new version, new ciphertexts; the old ones still decrypt and rewrap.
    app.call(
        Method::POST,
        "/v1/keyrings/joinable/rotate",
        Some(&admin),
        None,
    )
    .await;
    let v2 = enc(json!([{"subject_id": "u1", "field": "mobile", "value": "13800138000"}])).await;
    assert!(v2[0].starts_with("bm:v1:aes256siv:joinable:2:"));
    let rewrapped = app
        .post(
            "/v1/rewrap",
            Some(&key),
            json!({"items": [{"subject_id": "u1", "field": "mobile", "ciphertext": c[0]}]}),
        )
        .await
        .json();
    assert_eq!(rewrapped["items"][0]["ciphertext"], v2[0].as_str());

    // An erased subject's deterministic ciphertexts are refused under its id. Baomi holds no
    // data key of u1 (deterministic ciphertexts are not sealed per subject), so the erasure
    // is a tombstone, asked for as one.
    let erased = app
        .call(
            Method::DELETE,
            "/v1/subjects/u1?tombstone=true",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    let read = decrypt(
        &app,
        &key,
        "plain",
        json!([{"subject_id": "u1", "field": "mobile", "ciphertext": c[0]}]),
    )
    .await;
    assert_eq!(read[0]["error"]["code"], "vault.subject_erased");
    let again = app
        .post("/v1/encrypt", Some(&key), json!({"keyring": "joinable", "purpose": PURPOSE, "items": [{"subject_id": "u1", "field": "mobile", "value": "1", "free_form": true}]}))
        .await
        .json();
    assert_eq!(again["items"][0]["error"]["code"], "vault.subject_erased");
}

/// The erasure journal is written before the database: when the database write fails
/// after the journal line (as a crash between the two would leave it), the erasure is not
/// acknowledged, and the next start applies it all the same.
#[tokio::test]
async fn an_erasure_journalled_but_not_stored_is_applied_at_the_next_start() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let c = sealed_mobile(&app, &key, "leaving").await;
    app.db
        .execute("ALTER TABLE erasures RENAME TO erasures_away")
        .await;
    // (`tombstone=true` skips the look-up that would fail first, on the same table.)
    let failed = app
        .call(
            Method::DELETE,
            "/v1/subjects/leaving?tombstone=true",
            Some(&key),
            None,
        )
        .await;
    // Not acknowledged: the write failed (a table gone is a fault, not an outage).
    failed.assert_problem(500, "internal");
    let journal = std::fs::read_to_string(app.db.config().erasure_journal_path()).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.contains("\"subject\":\"leaving\"")),
        "the journal line came first: {journal}"
    );
    // Until the next start the database still holds the subject's key.
    app.db
        .execute("ALTER TABLE erasures_away RENAME TO erasures")
        .await;
    let app = app.restart().await;
    let read = decrypt(
        &app,
        &key,
        "plain",
        json!([{"subject_id": "leaving", "field": "mobile", "ciphertext": c}]),
    )
    .await;
    assert_eq!(read[0]["error"]["code"], "vault.subject_erased", "{read:?}");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM erasures WHERE subject = 'leaving'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_damaged_erasure_journal_stops_start_up_but_a_torn_last_line_does_not() {
    let db = crate::helpers::TestDb::new().await;
    let journal = db.path().join("erasure-journal.jsonl");
    let good = r#"{"subject":"gone-1","receipt_id":"er_a","erased_at":1}"#;
    std::fs::write(&journal, format!("{good}\n{{\"subject\":\"gone-2\",\"rec")).unwrap();
    let opened = baomi::server::open(&db.config(), false).await.unwrap();
    assert_eq!(db.count("SELECT COUNT(*) FROM erasures").await, 1);
    opened.store.close().await;

    // The next erasure cuts the torn line off rather than gluing itself to it.
    let app = crate::helpers::spawn_app_with(|c| c.erasure_journal = Some(journal.clone())).await;
    let key = service_key(&app).await;
    let r = app
        .call(
            Method::DELETE,
            "/v1/subjects/gone-3?tombstone=true",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{text}"
    );

    std::fs::write(&journal, format!("{{broken\n{good}\n")).unwrap();
    let refused = baomi::server::open(&db.config(), false).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("line 1 is damaged"), "{message}");
}

/// Property: any batch of values of any fields and subjects decrypts to itself, and only
/// under its own subject and field (proptest, with shrinking, over HTTP, on the backend
/// under test).
#[test]
fn round_trips_hold_for_arbitrary_batches() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app());
    let key = rt.block_on(service_key(&app));
    let fields = [
        "mobile",
        "bank_card",
        "name",
        "text",
        "address.home",
        "email",
    ];
    let item = ("[a-z0-9][a-z0-9._:-]{0,20}", 0..fields.len(), "\\PC{0,60}");
    let mut runner = TestRunner::new(Config::with_cases(48));
    runner
        .run(&proptest::collection::vec(item, 1..12), |batch| {
            rt.block_on(async {
                let items: Vec<Value> = batch
                    .iter()
                    .map(|(s, f, v)| json!({"subject_id": s, "field": fields[*f], "value": v, "free_form": true}))
                    .collect();
                let sealed = encrypt(&app, &key, json!(items)).await;
                assert_eq!(sealed.len(), batch.len(), "one answer per item");
                let mut asks = Vec::new();
                for ((s, f, _), c) in batch.iter().zip(&sealed) {
                    let c = ciphertext(c);
                    asks.push(json!({"subject_id": s, "field": fields[*f], "ciphertext": c}));
                    let other = fields[(*f + 1) % fields.len()];
                    asks.push(json!({"subject_id": s, "field": other, "ciphertext": c}));
                    asks.push(json!({"subject_id": format!("{s}x"), "field": fields[*f], "ciphertext": c}));
                }
                let read = decrypt(&app, &key, "plain", json!(asks)).await;
                for (n, (_, _, v)) in batch.iter().enumerate() {
                    prop_assert_eq!(read[3 * n]["value"].as_str(), Some(v.as_str()));
                    prop_assert_eq!(read[3 * n + 1]["error"]["code"].as_str(), Some("vault.decrypt_failed"));
                    prop_assert_eq!(read[3 * n + 2]["error"]["code"].as_str(), Some("vault.decrypt_failed"));
                }
                Ok(())
            })
        })
        .unwrap();
}

#[tokio::test]
async fn a_batch_of_new_subjects_gets_one_key_each_and_refused_items_none() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    sealed_mobile(&app, &key, "gone").await;
    let erased = app
        .call(Method::DELETE, "/v1/subjects/gone", Some(&key), None)
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    // Thirty new subjects, two fields each, among an erased subject and a refused item.
    let mut items: Vec<Value> = (0..30)
        .flat_map(|i| {
            [
                json!({"subject_id": format!("new-{i}"), "field": "mobile", "value": format!("1380013{i:04}")}),
                json!({"subject_id": format!("new-{i}"), "field": "name", "value": format!("客户{i}")}),
            ]
        })
        .collect();
    // Erased where this node did not see it (another node, say): the store refuses it.
    app.db
        .execute(
            "INSERT INTO erasures (subject, receipt_id, erased_at) \
             VALUES ('elsewhere', 'er_elsewhere', 1)",
        )
        .await;
    items.push(json!({"subject_id": "gone", "field": "mobile", "value": "13800138000"}));
    items.push(json!({"subject_id": "refused", "field": "mobile", "value": "not a number"}));
    items.push(json!({"subject_id": "elsewhere", "field": "mobile", "value": "13800138000"}));
    items.push(json!({"subject_id": "too-long", "field": "mobile", "value": "1".repeat(257), "free_form": true}));
    let sealed = encrypt(&app, &key, json!(items)).await;
    assert_eq!(sealed[60]["error"]["code"], "vault.subject_erased");
    assert_eq!(sealed[61]["error"]["code"], "vault.invalid_value");
    assert_eq!(sealed[62]["error"]["code"], "vault.subject_erased");
    assert_eq!(sealed[63]["error"]["code"], "vault.value_too_long");
    let count = |sql: &'static str| app.db.count(sql);
    assert_eq!(
        count("SELECT COUNT(*) FROM subject_keys WHERE subject LIKE 'new-%'").await,
        30
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM subject_keys WHERE subject IN ('gone', 'refused', 'elsewhere', 'too-long')"
        )
        .await,
        0,
        "no key for an erased subject, nor for a subject whose only item was refused"
    );
    let targets: Vec<Value> = items[..60]
        .iter()
        .zip(&sealed)
        .map(|(item, s)| {
            json!({"subject_id": item["subject_id"], "field": item["field"], "ciphertext": ciphertext(s)})
        })
        .collect();
    let read = decrypt(&app, &key, "plain", json!(targets)).await;
    for (item, r) in items.iter().zip(&read) {
        assert_eq!(r["value"], item["value"], "{r}");
    }

    // Batches racing over the same new subjects still make one key each.
    let batch: Vec<Value> = (0..20)
        .map(|i| json!({"subject_id": format!("raced-{i}"), "field": "mobile", "value": "13800138000"}))
        .collect();
    let mut racing = Vec::new();
    for _ in 0..4 {
        let request = app
            .client
            .post(app.url("/v1/encrypt"))
            .bearer_auth(&key)
            .json(&json!({"items": batch}));
        racing.push(tokio::spawn(async move {
            let reply = request.send().await.unwrap();
            assert_eq!(reply.status(), 200);
            reply.json::<Value>().await.unwrap()
        }));
    }
    for r in racing {
        let sealed = r.await.unwrap();
        let targets: Vec<Value> = (0..20)
            .map(|i| json!({"subject_id": format!("raced-{i}"), "field": "mobile", "ciphertext": ciphertext(&sealed["items"][i])}))
            .collect();
        let read = decrypt(&app, &key, "plain", json!(targets)).await;
        assert!(read.iter().all(|r| r["value"] == "13800138000"), "{read:?}");
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM subject_keys WHERE subject LIKE 'raced-%'").await,
        20
    );
}
