//! Which call writes which event: every call that touches PI is exactly one event, naming
//! the key that made it, the subject and the action, and the calls that touch no stored PI
//! (`/v1/detect`, `/v1/mask` without a vault operator) write none. docs/audit.md has the
//! table this test holds.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};

const PURPOSE: &str = "support";
const MOBILE: &str = "13800138000";
const ID: &str = "11010519491231002X";

/// The events whose actor is `key_id`, newest first.
async fn events_of(app: &TestApp, key_id: &str) -> Vec<Value> {
    let page = app
        .get(
            &format!("/v1/audit/events?actor={key_id}&limit=500"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["event"].clone())
        .collect()
}

/// Runs `call`, then asserts it wrote exactly one event of `key_id`'s, with `action` and
/// `subject`, and returns the event with the call's reply.
async fn one_event(
    app: &TestApp,
    key_id: &str,
    action: &str,
    subject: Option<&str>,
    call: impl Future<Output = Reply>,
) -> (Value, Reply) {
    let before = events_of(app, key_id).await.len();
    let reply = call.await;
    assert!(reply.status.is_success(), "{action}: {}", reply.text);
    let after = events_of(app, key_id).await;
    assert_eq!(after.len(), before + 1, "{action}: one event, {after:#?}");
    let event = after[0].clone();
    assert_eq!(event["action"], action, "{event}");
    assert_eq!(event["actor"]["id"], key_id, "{event}");
    assert_eq!(event["outcome"]["result"], "allowed", "{event}");
    match subject {
        Some(s) => assert_eq!(event["subject"], s, "{event}"),
        None => assert!(event.get("subject").is_none(), "{event}"),
    }
    for value in [MOBILE, ID] {
        assert!(!event.to_string().contains(value), "no value: {event}");
    }
    (event, reply)
}

/// Runs `call`, then asserts it wrote no event of `key_id`'s.
async fn no_event(app: &TestApp, key_id: &str, call: impl Future<Output = Reply>) {
    let before = events_of(app, key_id).await.len();
    let reply = call.await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(events_of(app, key_id).await.len(), before, "{}", reply.text);
}

#[tokio::test]
async fn every_call_that_touches_pi_is_one_event_naming_its_key() {
    let app = spawn_app().await;
    let (id, key) = app.create_key("service", &[PURPOSE]).await;
    let key = key.as_str();

    // The call-side vault: encrypt, decrypt, rewrap.
    let (event, sealed) = one_event(&app, &id, "encrypt", Some("u1"), async {
        app.post(
            "/v1/encrypt",
            Some(key),
            json!({"items": [
                {"subject_id": "u1", "field": "mobile", "value": MOBILE},
                {"subject_id": "u1", "field": "id_number", "value": ID},
            ]}),
        )
        .await
    })
    .await;
    assert_eq!(event["count"], 2, "{event}");
    assert_eq!(event["fields"], json!(["mobile", "id_number"]), "{event}");
    let ciphertext = sealed.json()["items"][0]["ciphertext"].clone();
    let item = json!({"subject_id": "u1", "field": "mobile", "ciphertext": ciphertext});
    let (event, _) = one_event(&app, &id, "decrypt", Some("u1"), async {
        app.post(
            "/v1/decrypt",
            Some(key),
            json!({"purpose": PURPOSE, "view": "plain", "items": [item.clone()]}),
        )
        .await
    })
    .await;
    assert_eq!(event["purpose"], PURPOSE, "{event}");
    one_event(&app, &id, "rewrap", Some("u1"), async {
        app.post("/v1/rewrap", Some(key), json!({"items": [item.clone()]}))
            .await
    })
    .await;

    // The stored vault: store, read, detokenize, search, erase.
    let (_, stored) = one_event(&app, &id, "store", Some("u2"), async {
        app.call(
            Method::PUT,
            "/v1/subjects/u2/data",
            Some(key),
            Some(json!({"fields": {"mobile": MOBILE}, "searchable": ["mobile"]})),
        )
        .await
    })
    .await;
    let token = stored.json()["tokens"]["mobile"].clone();
    // A bulk store is one event for the whole batch, naming no subject.
    let (bulk, _) = one_event(&app, &id, "store", None, async {
        app.post(
            "/v1/store",
            Some(key),
            json!({"subjects": [
                {"subject_id": "u3", "fields": {"mobile": MOBILE}},
                {"subject_id": "u4", "fields": {"mobile": MOBILE, "id_number": ID}},
            ]}),
        )
        .await
    })
    .await;
    assert_eq!(bulk["count"], 3, "{bulk}");
    one_event(&app, &id, "read", Some("u2"), async {
        app.get(
            &format!("/v1/subjects/u2/data?purpose={PURPOSE}&view=plain"),
            Some(key),
        )
        .await
    })
    .await;
    one_event(&app, &id, "detokenize", Some("u2"), async {
        app.post(
            "/v1/detokenize",
            Some(key),
            json!({"purpose": PURPOSE, "view": "plain", "tokens": [token]}),
        )
        .await
    })
    .await;
    // A search names the subject it found, when it found one.
    one_event(&app, &id, "search", Some("u2"), async {
        app.post(
            "/v1/search",
            Some(key),
            json!({"purpose": PURPOSE, "field": "mobile", "value": MOBILE}),
        )
        .await
    })
    .await;

    // Masking: the encrypt operator seals for a subject, which is an encryption.
    let policy = json!({"rules": [{"types": {"CN_ID": {"op": "encrypt"}}}]});
    let saved = app
        .call(
            Method::PUT,
            "/v1/policies/sealed",
            Some(&app.admin_key),
            Some(policy),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let (event, masked) = one_event(&app, &id, "encrypt", Some("u3"), async {
        app.post(
            "/v1/mask",
            Some(key),
            json!({"text": format!("证件{ID}，又{ID}"), "policy": "sealed", "subject_id": "u3"}),
        )
        .await
    })
    .await;
    assert!(!masked.text.contains(ID), "{}", masked.text);
    assert_eq!(event["fields"], json!(["id_number"]), "{event}");
    assert_eq!(event["count"], 2, "{event}");
    // Text the caller sent and gets back masked touches no stored PI: no event.
    no_event(&app, &id, async {
        app.post(
            "/v1/detect",
            Some(key),
            json!({"text": format!("手机{MOBILE}")}),
        )
        .await
    })
    .await;
    no_event(&app, &id, async {
        app.post(
            "/v1/mask",
            Some(key),
            json!({"text": format!("手机{MOBILE}")}),
        )
        .await
    })
    .await;

    // A subject token is minted on the record; the erasure is the last event of a subject.
    one_event(&app, &id, "token_mint", Some("u2"), async {
        app.post("/v1/subject-tokens", Some(key), json!({"subject_id": "u2"}))
            .await
    })
    .await;
    one_event(&app, &id, "erase", Some("u2"), async {
        app.call(Method::DELETE, "/v1/subjects/u2", Some(key), None)
            .await
    })
    .await;
}
