//! The audit trail as a Merkle log over HTTP: signed checkpoints, inclusion and consistency
//! proofs checked with the audit crate's verifier, and tampering detected.

use baomi_audit::checkpoint;
use baomi_audit::merkle::{Hash, leaf_hash, verify_consistency, verify_inclusion};
use data_encoding::BASE64;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

pub fn hash(v: &Value) -> Hash {
    BASE64
        .decode(v.as_str().unwrap().as_bytes())
        .unwrap()
        .try_into()
        .unwrap()
}

pub fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

/// `n` encrypt-then-decrypt round trips for subjects `u0`, `u1`, … under purpose `kyc`.
pub async fn some_reads(app: &TestApp, key: &str, n: usize) {
    // One encrypt call (one audit event) first, so that the reads' events are consecutive.
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"subject_id": format!("u{i}"), "field": "mobile", "value": "13800138000"}))
        .collect();
    let sealed = app
        .post("/v1/encrypt", Some(key), json!({"items": items}))
        .await
        .json();
    for i in 0..n {
        let c = sealed["items"][i]["ciphertext"].clone();
        let r = app
            .post("/v1/decrypt", Some(key), json!({"purpose": "kyc", "items": [{"subject_id": format!("u{i}"), "field": "mobile", "ciphertext": c}]}))
            .await;
        assert_eq!(r.status, 200);
    }
}

#[tokio::test]
async fn checkpoints_and_proofs_verify_and_tampering_is_detected() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    app.get("/v1/audit/checkpoint", Some(&officer))
        .await
        .assert_problem(404, "audit.no_checkpoint");
    some_reads(&app, &key, 5).await;
    assert!(
        app.audit_log
            .checkpoint_now(baomi::service::now())
            .await
            .unwrap()
            .unwrap()
            >= 5
    );

    // The checkpoint is a signed note that verifies with the published key.
    let first = app.get("/v1/audit/checkpoint", Some(&officer)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    let stated = checkpoint::verify(
        first["note"].as_str().unwrap(),
        first["verifier_key"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(stated.size, first["tree_size"].as_u64().unwrap());
    assert_eq!(stated.root, hash(&first["root"]));
    assert_eq!(stated.origin, "baomi/audit");

    // An event's inclusion proof checks against the signed root.
    let seq = app
        .db
        .count("SELECT MIN(seq) FROM audit_events WHERE action = 'decrypt'")
        .await;
    let proof = app
        .get(
            &format!("/v1/audit/proofs/inclusion?seq={seq}"),
            Some(&officer),
        )
        .await;
    assert_eq!(proof.status, 200, "{}", proof.text);
    let proof = proof.json();
    let event = proof["event"].as_str().unwrap();
    assert!(event.contains("\"action\":\"decrypt\"") && !event.contains("13800138000"));
    let leaf = leaf_hash(event.as_bytes());
    assert_eq!(leaf, hash(&proof["leaf_hash"]));
    let index = proof["leaf_index"].as_u64().unwrap();
    assert!(verify_inclusion(
        index,
        stated.size,
        &leaf,
        &hashes(&proof["proof"]),
        &stated.root
    ));

    // More events, a newer checkpoint, and a proof that the old tree is a prefix of it.
    some_reads(&app, &key, 3).await;
    app.audit_log
        .checkpoint_now(baomi::service::now())
        .await
        .unwrap();
    let second = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    let newer = checkpoint::verify(
        second["note"].as_str().unwrap(),
        second["verifier_key"].as_str().unwrap(),
    )
    .unwrap();
    assert!(newer.size > stated.size);
    let c = app
        .get(
            &format!(
                "/v1/audit/proofs/consistency?from={}&to={}",
                stated.size, newer.size
            ),
            Some(&officer),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    let c = c.json();
    assert_eq!(hash(&c["from_root"]), stated.root);
    assert_eq!(hash(&c["to_root"]), newer.root);
    assert!(verify_consistency(
        stated.size,
        newer.size,
        &stated.root,
        &newer.root,
        &hashes(&c["proof"])
    ));

    // The database refuses edits of the trail; someone who gets past that is caught.
    let edit =
        format!("UPDATE audit_events SET body = replace(body, 'kyc', 'kyd') WHERE seq = {seq}");
    assert!(
        app.db.try_execute(&edit).await.is_err(),
        "audit_events must be append-only"
    );
    let disable = if app.db.url.is_some() {
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete"
    } else {
        "DROP TRIGGER audit_events_no_update"
    };
    app.db.execute(disable).await;
    assert_eq!(app.db.execute(&edit).await, 1);
    let tampered = app
        .get(
            &format!("/v1/audit/proofs/inclusion?seq={seq}"),
            Some(&officer),
        )
        .await
        .json();
    let edited = tampered["event"].as_str().unwrap();
    assert!(edited.contains("kyd"));
    assert!(
        !verify_inclusion(
            index,
            newer.size,
            &leaf_hash(edited.as_bytes()),
            &hashes(&tampered["proof"]),
            &newer.root
        ),
        "an edited event no longer proves into the signed tree"
    );

    // Reading the trail is itself audited, and only officers and admins may.
    app.get("/v1/audit/checkpoint", Some(&key))
        .await
        .assert_problem(403, "auth.forbidden");
    assert!(
        app.db
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'audit_read'")
            .await
            >= 5
    );
    app.get("/v1/audit/proofs/inclusion?seq=999999", Some(&officer))
        .await
        .assert_problem(404, "audit.not_in_tree");
    app.get("/v1/audit/proofs/consistency?from=0&to=1", Some(&officer))
        .await
        .assert_problem(422, "request.invalid_field");
}

#[tokio::test]
async fn officers_search_the_trail_by_subject_operator_purpose_outcome_and_time() {
    let app = spawn_app().await;
    let (service_id, key) = app.create_key("service", &["kyc", "collections"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    let started = time::OffsetDateTime::now_utc();
    let ask = |subject: &'static str, purpose: &'static str, operator: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            let c = app
                .post("/v1/encrypt", Some(&key), json!({"items": [{"subject_id": subject, "field": "mobile", "value": "13800138000"}]}))
                .await
                .json()["items"][0]["ciphertext"]
                .clone();
            app.client
                .post(app.url("/v1/decrypt"))
                .bearer_auth(&key)
                .header("x-baomi-operator", operator)
                .json(&json!({"purpose": purpose, "items": [{"subject_id": subject, "field": "mobile", "ciphertext": c}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(ask("u1", "kyc", "agent-1").await, 200);
    assert_eq!(ask("u1", "collections", "agent-2").await, 200);
    assert_eq!(ask("u2", "kyc", "agent-1").await, 200);
    assert_eq!(ask("u3", "marketing", "agent-3").await, 403);

    let query = |q: String| {
        let app = &app;
        let officer = officer.clone();
        async move {
            let r = app
                .get(&format!("/v1/audit/events?{q}"), Some(&officer))
                .await;
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.json()
        }
    };
    let seqs = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"]["subject"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    assert_eq!(
        seqs(&query("subject=u1&action=decrypt".into()).await),
        ["u1", "u1"]
    );
    assert_eq!(
        seqs(&query("operator=agent-1&action=decrypt".into()).await),
        ["u2", "u1"]
    );
    assert_eq!(seqs(&query("purpose=collections".into()).await), ["u1"]);
    let denied = query("outcome=denied".into()).await;
    assert_eq!(seqs(&denied), ["u3"]);
    assert_eq!(
        denied["events"][0]["event"]["outcome"]["code"],
        "auth.purpose_not_allowed"
    );
    assert_eq!(
        seqs(&query(format!("actor={service_id}&action=decrypt")).await).len(),
        4
    );
    let from = started
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .replace('+', "%2B");
    assert_eq!(
        seqs(&query(format!("action=decrypt&from={from}")).await).len(),
        4
    );
    assert!(seqs(&query("action=decrypt&to=2000-01-01T00:00:00Z".into()).await).is_empty());

    // Pages of two, newest first, until the cursor runs out.
    let first = query("action=decrypt&limit=2".into()).await;
    assert_eq!(seqs(&first), ["u3", "u2"]);
    let cursor = first["next_cursor"].as_i64().unwrap();
    let second = query(format!("action=decrypt&limit=2&cursor={cursor}")).await;
    assert_eq!(seqs(&second), ["u1", "u1"]);
    let third = query(format!(
        "action=decrypt&limit=2&cursor={}",
        second["next_cursor"]
    ))
    .await;
    assert!(seqs(&third).is_empty() && third["next_cursor"].is_null());

    // One event, with its proof into the newest checkpoint.
    app.audit_log
        .checkpoint_now(baomi::service::now())
        .await
        .unwrap();
    let seq = first["events"][0]["seq"].as_i64().unwrap();
    let one = app
        .get(&format!("/v1/audit/events/{seq}"), Some(&officer))
        .await
        .json();
    let cp = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    let root = hash(&cp["root"]);
    let leaf = leaf_hash(one["event"].as_str().unwrap().as_bytes());
    assert!(verify_inclusion(
        one["leaf_index"].as_u64().unwrap(),
        one["tree_size"].as_u64().unwrap(),
        &leaf,
        &hashes(&one["proof"]),
        &root
    ));

    for (bad, status, code) in [
        ("limit=0", 422, "request.invalid_field"),
        ("limit=501", 422, "request.invalid_field"),
        ("outcome=maybe", 422, "request.invalid_field"),
        ("from=yesterday", 422, "request.invalid_field"),
        ("colour=red", 400, "request.invalid_query"),
        (
            "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            422,
            "request.invalid_field",
        ),
        ("cursor=abc", 400, "request.invalid_query"),
    ] {
        app.get(&format!("/v1/audit/events?{bad}"), Some(&officer))
            .await
            .assert_problem(status, code);
    }
    app.get("/v1/audit/events", Some(&key))
        .await
        .assert_problem(403, "auth.forbidden");
    let searches = app
        .db
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'audit_read' AND body LIKE '%\"target\":\"events\"%'")
        .await;
    assert!(searches >= 9, "{searches}");
}
