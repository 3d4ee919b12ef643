//! `kill -9` in the middle of a load: whatever the server acknowledged before it died is
//! still there after a restart. Every answered read and write has its audit event, every
//! event is a leaf of the tree, `baomi audit verify` passes, and every ciphertext handed
//! out decrypts (its subject's data key was durable before the answer).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::helpers::{PASSPHRASE, TestDb};
use crate::process::{Process, declare_kyc, get, new_key, post};

/// Readers and writers running at once while the server is killed.
const DECRYPTERS: usize = 8;
const ENCRYPTERS: usize = 4;
/// New subjects per encrypt request (each needs a new data key).
const NEW_SUBJECTS: usize = 10;

/// What the server answered with 200, gathered by the load.
#[derive(Default)]
struct Acknowledged {
    /// The `X-Request-Id` of every answered request.
    request_ids: HashSet<String>,
    /// The items of every answered encrypt: subject, field and ciphertext.
    sealed: Vec<Value>,
}

/// POSTs `body` with `request_id`; the body of a complete 200 answer, or `None` for
/// anything else (the server died before answering, or mid-answer).
async fn answered(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    request_id: &str,
    body: &Value,
) -> Option<Value> {
    let response = client
        .post(url)
        .bearer_auth(key)
        .header("x-request-id", request_id)
        .json(body)
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let bytes = response.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// One decrypting caller: reads `ciphertext` over and over until the server is gone.
async fn decrypt_until_gone(
    base: String,
    key: String,
    ciphertext: Value,
    caller: usize,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let client = crate::helpers::client();
    let url = format!("{base}/v1/decrypt");
    let body = json!({"purpose": "kyc", "items": [
        {"subject_id": "reader", "field": "mobile", "ciphertext": ciphertext}]});
    for n in 0.. {
        let id = format!("d-{caller}-{n}");
        let Some(reply) = answered(&client, &url, &key, &id, &body).await else {
            return;
        };
        assert!(reply["items"][0]["value"].is_string(), "{reply}");
        acked.lock().unwrap().request_ids.insert(id);
    }
}

/// One onboarding caller: encrypts for subjects never seen before until the server is gone.
async fn encrypt_until_gone(
    base: String,
    key: String,
    caller: usize,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let client = crate::helpers::client();
    let url = format!("{base}/v1/encrypt");
    for n in 0.. {
        let id = format!("e-{caller}-{n}");
        let items: Vec<Value> = (0..NEW_SUBJECTS)
            .map(|i| json!({"subject_id": format!("new-{caller}-{n}-{i}"), "field": "mobile", "value": "13800138000"}))
            .collect();
        let Some(reply) = answered(&client, &url, &key, &id, &json!({"items": items})).await else {
            return;
        };
        let mut acked = acked.lock().unwrap();
        acked.request_ids.insert(id);
        for (item, sealed) in items.iter().zip(reply["items"].as_array().unwrap()) {
            acked
                .sealed
                .push(json!({"subject_id": item["subject_id"], "field": "mobile",
                "ciphertext": sealed["ciphertext"]}));
        }
    }
}

/// The `request_id` of every event in the trail, read behind the server's back.
async fn request_ids_in_the_trail(db: &TestDb) -> HashSet<String> {
    db.texts("SELECT body FROM audit_events")
        .await
        .iter()
        .filter_map(|body| {
            let event: Value = serde_json::from_str(body).ok()?;
            event["request_id"].as_str().map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let db = TestDb::new().await;
    let server = Process::start(&db, Some(PASSPHRASE), &[]).await;
    let base = server.base.clone();
    let admin = server.bootstrap_key().unwrap();
    declare_kyc(&base, &admin).await;
    let service = new_key(
        &base,
        &admin,
        json!({"name": "svc", "role": "service",
            "grants": [{"purpose": "kyc", "views": ["masked", "plain"]}]}),
    )
    .await;
    let officer = new_key(&base, &admin, json!({"name": "auditor", "role": "officer"})).await;
    let keys = get(&base, "/v1/audit/keys", Some(&officer)).await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    let keys_file = db.path().join("audit-keys.json");
    std::fs::write(&keys_file, keys.text).unwrap();
    let sealed = post(
        &base,
        "/v1/encrypt",
        &service,
        json!({"items": [{"subject_id": "reader", "field": "mobile", "value": "13800138000"}]}),
    )
    .await
    .json()["items"][0]["ciphertext"]
        .clone();

    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut load = tokio::task::JoinSet::new();
    for caller in 0..DECRYPTERS {
        load.spawn(decrypt_until_gone(
            base.clone(),
            service.clone(),
            sealed.clone(),
            caller,
            acked.clone(),
        ));
    }
    for caller in 0..ENCRYPTERS {
        load.spawn(encrypt_until_gone(
            base.clone(),
            service.clone(),
            caller,
            acked.clone(),
        ));
    }
    crate::helpers::until("the load is under way", async || {
        let acked = acked.lock().unwrap();
        acked.request_ids.len() >= 300 && acked.sealed.len() >= 10 * NEW_SUBJECTS
    })
    .await;
    server.kill().await;
    // Every caller stops at its first unanswered request.
    while let Some(caller) = load.join_next().await {
        caller.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    let again = Process::start(&db, Some(PASSPHRASE), &[]).await;
    for chunk in acked.sealed.chunks(100) {
        let read = post(
            &again.base,
            "/v1/decrypt",
            &service,
            json!({"purpose": "kyc", "items": chunk}),
        )
        .await;
        assert_eq!(read.status, 200, "{}", read.text);
        for item in read.json()["items"].as_array().unwrap() {
            assert!(
                item["value"].is_string(),
                "an acknowledged write is lost: {item}"
            );
        }
    }
    // A clean stop moves any state-change events still in the outbox into the trail and
    // signs a checkpoint over all of it.
    again.stop().await;

    let in_trail = request_ids_in_the_trail(&db).await;
    let lost: Vec<&String> = acked.request_ids.difference(&in_trail).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged requests have no audit event: {lost:?}",
        lost.len(),
        acked.request_ids.len()
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM audit_events e \
             WHERE NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.seq = e.seq)"
        )
        .await,
        0,
        "every event is a leaf"
    );
    let url = db
        .url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", db.path().join("baomi.db").display()));
    let verified = crate::audit_trail::baomi(&[
        "audit",
        "verify",
        "--database",
        &url,
        "--keys",
        keys_file.to_str().unwrap(),
    ]);
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}
