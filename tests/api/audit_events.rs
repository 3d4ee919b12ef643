//! State changes and their audit events: one event per change, with the right fields,
//! written in the change's own transaction (no change without its record, no record of a
//! change that did not happen), and events a crash left in the outbox still enter the trail.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// The events of `action`, oldest first, parsed.
async fn events(app: &TestApp, action: &str) -> Vec<Value> {
    app.db
        .texts(&format!(
            "SELECT body FROM audit_events WHERE action = '{action}' ORDER BY seq"
        ))
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

async fn put_data(app: &TestApp, key: &str, subject: &str) -> crate::helpers::Reply {
    app.call(
        Method::PUT,
        &format!("/v1/subjects/{subject}/data"),
        Some(key),
        Some(json!({"fields": {"mobile": "13800138000", "name": "张三"}})),
    )
    .await
}

#[tokio::test]
async fn every_state_change_is_one_event_with_its_fields() {
    let app = spawn_app().await;
    let (key_id, key) = app.create_key("service", &["kyc"]).await;
    let created = events(&app, "key_create").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["target"], key_id);
    // The grants, by name: role, purposes with views, permissions, masking roles.
    let fields = created[0]["fields"].as_array().unwrap();
    assert_eq!(fields[0], "role:service");
    assert_eq!(fields[1], "purpose:kyc:masked+plain");
    assert!(
        fields.contains(&json!("permission:erase_subjects")),
        "{fields:?}"
    );
    assert_eq!(created[0]["actor"]["role"], "admin");

    assert_eq!(put_data(&app, &key, "alice").await.status, 200);
    let stored = events(&app, "store").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["subject"], "alice");
    assert_eq!(stored[0]["fields"], json!(["mobile", "name"]));
    assert_eq!(stored[0]["count"], 2);
    assert!(
        !serde_json::to_string(&stored)
            .unwrap()
            .contains("13800138000")
    );

    let admin = app.admin_key.clone();
    app.post("/v1/keyrings", Some(&admin), json!({"name": "pii-cn"}))
        .await;
    app.call(
        Method::POST,
        "/v1/keyrings/pii-cn/rotate",
        Some(&admin),
        None,
    )
    .await;
    let policy = app
        .call(
            Method::PATCH,
            "/v1/keyrings/pii-cn",
            Some(&admin),
            Some(json!({"rotation_period_days": 30})),
        )
        .await;
    assert_eq!(policy.status, 200, "{}", policy.text);
    let keyring_events: Vec<Value> = [
        events(&app, "keyring_create").await,
        events(&app, "keyring_rotate").await,
        events(&app, "keyring_policy").await,
    ]
    .concat();
    let pii: Vec<&Value> = keyring_events
        .iter()
        .filter(|e| e["target"] == "pii-cn")
        .collect();
    assert_eq!(pii.len(), 3, "{keyring_events:?}");
    assert_eq!(pii[1]["fields"], json!(["version:2"]));
    assert_eq!(pii[2]["fields"], json!(["rotation_period_days:30"]));
    // The default keyring's creation at first start is the system's own event.
    assert!(
        keyring_events
            .iter()
            .any(|e| e["target"] == "default" && e["actor"]["role"] == "system")
    );

    let erased = app
        .call(Method::DELETE, "/v1/subjects/alice", Some(&key), None)
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    let erase = events(&app, "erase").await;
    assert_eq!(erase.len(), 1);
    assert_eq!(erase[0]["subject"], "alice");
    assert_eq!(
        erase[0]["target"],
        format!("receipt:{}", erased.json()["receipt_id"].as_str().unwrap())
    );

    app.call(
        Method::DELETE,
        &format!("/v1/keys/{key_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(events(&app, "key_revoke").await.len(), 1);
    // A refused change leaves no event of a change: the last admin key stays.
    let (admin_id,): (String,) = (app
        .db
        .texts("SELECT id FROM api_keys WHERE role = 'admin'")
        .await
        .remove(0),);
    app.call(
        Method::DELETE,
        &format!("/v1/keys/{admin_id}"),
        Some(&admin),
        None,
    )
    .await
    .assert_problem(409, "keys.last_admin");
    assert_eq!(events(&app, "key_revoke").await.len(), 1);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM audit_outbox").await, 0);
}

#[tokio::test]
async fn a_change_whose_event_cannot_be_written_is_not_made() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let keys_before = app.db.count("SELECT COUNT(*) FROM api_keys").await;
    // The trail's outbox refuses every write.
    if app.db.url.is_some() {
        app.db
            .execute("ALTER TABLE audit_outbox ADD CONSTRAINT broken CHECK (false) NOT VALID")
            .await;
    } else {
        app.db
            .execute("CREATE TRIGGER broken BEFORE INSERT ON audit_outbox BEGIN SELECT RAISE(ABORT, 'broken'); END")
            .await;
    }
    let refused = put_data(&app, &key, "alice").await;
    assert!(refused.status.is_server_error(), "{}", refused.text);
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    assert!(!refused.text.contains("13800138000"));
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_fields WHERE subject = 'alice'")
            .await,
        0,
        "nothing stored without its record"
    );
    let key_refused = app
        .post(
            "/v1/keys",
            Some(&app.admin_key),
            json!({"name": "x", "role": "officer"}),
        )
        .await;
    assert!(key_refused.status.is_server_error(), "{}", key_refused.text);
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM api_keys").await,
        keys_before
    );

    // Mended, the same change is made, with its one event.
    if app.db.url.is_some() {
        app.db
            .execute("ALTER TABLE audit_outbox DROP CONSTRAINT broken")
            .await;
    } else {
        app.db.execute("DROP TRIGGER broken").await;
    }
    assert_eq!(put_data(&app, &key, "alice").await.status, 200);
    assert_eq!(events(&app, "store").await.len(), 1);
}

#[tokio::test]
async fn events_left_in_the_outbox_enter_the_trail() {
    let app = spawn_app().await;
    // What a node that died between its change's commit and moving the event leaves behind.
    let mut event =
        baomi::service::audit::system("baomi-cli", baomi_types::Action::KeyRevoke, "k-left");
    // It happened an hour ago (say, `baomi keys revoke` while no server ran).
    let hour_ago = baomi::service::now_ms() - 3_600_000;
    event.at_ms = hour_ago;
    let body = event.to_json();
    app.db
        .execute(&format!(
            "INSERT INTO audit_outbox (body) VALUES ('{}')",
            body.replace('\'', "''")
        ))
        .await;
    for _ in 0..100 {
        if app.db.count("SELECT COUNT(*) FROM audit_outbox").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.db.count("SELECT COUNT(*) FROM audit_outbox").await, 0);
    let stored = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'key_revoke'")
        .await;
    assert_eq!(stored, vec![body], "moved with its text unchanged");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_leaves l JOIN audit_events e ON e.seq = l.seq WHERE e.action = 'key_revoke'")
            .await,
        1,
        "and made a leaf of the tree"
    );
    // An officer's query for the time it happened finds it, though it was appended later
    // than events that happened after it.
    let (_, officer) = app.create_key("officer", &[]).await;
    let rfc = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let page = app
        .get(
            &format!(
                "/v1/audit/events?action=key_revoke&from={}&to={}",
                rfc(hour_ago - 600_000),
                rfc(hour_ago + 600_000)
            ),
            Some(&officer),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.json()["events"].as_array().unwrap().len(),
        1,
        "{}",
        page.text
    );
}
