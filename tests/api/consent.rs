//! Purposes, the consent ledger and its enforcement at every read, over HTTP.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

fn marketing(categories: Value) -> Value {
    json!({
        "description": "Offers of wealth products by SMS",
        "legal_basis": "consent",
        "categories": categories,
        "retention_days": 365
    })
}

fn mobile_category() -> Value {
    json!([{"name": "mobile", "sensitive": false, "level": "C2"}])
}

async fn put_purpose(app: &TestApp, id: &str, body: Value) -> crate::helpers::Reply {
    app.call(
        Method::PUT,
        &format!("/v1/purposes/{id}"),
        Some(&app.admin_key),
        Some(body),
    )
    .await
}

async fn grant(app: &TestApp, key: &str, subject: &str, body: Value) -> crate::helpers::Reply {
    app.post(&format!("/v1/subjects/{subject}/consents"), Some(key), body)
        .await
}

fn sms_grant() -> Value {
    json!({"purpose": "marketing", "channel": "app", "evidence": "opt-in switch on the offers page, off by default"})
}

/// Encrypts a mobile number for `subject`; the ciphertext.
async fn ciphertext(app: &TestApp, key: &str, subject: &str) -> String {
    app.post(
        "/v1/encrypt",
        Some(key),
        json!({"items": [{"subject_id": subject, "field": "mobile", "value": "13800138000"}]}),
    )
    .await
    .json()["items"][0]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn decrypt(app: &TestApp, key: &str, subject: &str, c: &str) -> Value {
    let r = app
        .post("/v1/decrypt", Some(key), json!({"purpose": "marketing", "view": "plain", "items": [{"subject_id": subject, "field": "mobile", "ciphertext": c}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"][0].clone()
}

/// The newest decrypt event of `subject`, parsed.
async fn last_decrypt_event(app: &TestApp, subject: &str) -> Value {
    let bodies = app
        .db
        .texts(&format!(
            "SELECT body FROM audit_events WHERE action = 'decrypt' AND subject = '{subject}' ORDER BY seq DESC"
        ))
        .await;
    serde_json::from_str(&bodies[0]).unwrap()
}

#[tokio::test]
async fn purposes_are_versioned_and_material_changes_need_fresh_consent() {
    let app = spawn_app().await;
    let created = put_purpose(&app, "marketing", marketing(mobile_category())).await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json()["version"], 1);
    let (_, key) = app.create_key("service", &["marketing"]).await;

    // Wording only: a new version, consents stand.
    let mut reworded = marketing(mobile_category());
    reworded["description"] = json!("Offers of our wealth products by SMS");
    let v2 = put_purpose(&app, "marketing", reworded).await.json();
    assert_eq!(
        (v2["version"].clone(), v2["renewal_from"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(v2["renewal_required_by"], json!([]));

    assert_eq!(grant(&app, &key, "alice", sms_grant()).await.status, 201);
    let c = ciphertext(&app, &key, "alice").await;
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["value"],
        "13800138000"
    );

    // A new PI category is a material change (PIPL Art. 14): the grant needs renewing.
    let wider = marketing(json!([
        {"name": "mobile", "sensitive": false, "level": "C2"},
        {"name": "income", "sensitive": false, "level": "C2"}
    ]));
    let v3 = put_purpose(&app, "marketing", wider).await.json();
    assert_eq!(v3["renewal_required_by"], json!(["categories"]));
    assert_eq!(v3["renewal_from"], 3);
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["error"]["code"],
        "consent.renewal_required"
    );
    let consents = app
        .get("/v1/subjects/alice/consents", Some(&key))
        .await
        .json();
    assert_eq!(
        consents["consents"][0]["state"]["state"],
        "renewal_required"
    );
    assert_eq!(grant(&app, &key, "alice", sms_grant()).await.status, 201);
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["value"],
        "13800138000"
    );

    let list = app.get("/v1/purposes", Some(&key)).await.json();
    assert_eq!(list["purposes"][0]["version"], 3);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM purpose_versions WHERE id = 'marketing'")
            .await,
        3
    );
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'purpose_change'")
            .await,
        3
    );

    // Only admins declare purposes; definitions are checked.
    app.call(
        Method::PUT,
        "/v1/purposes/x",
        Some(&key),
        Some(marketing(mobile_category())),
    )
    .await
    .assert_problem(403, "auth.forbidden");
    put_purpose(&app, "x", marketing(json!([])))
        .await
        .assert_problem(422, "consent.invalid_purpose");
    put_purpose(&app, "Bad Id", marketing(mobile_category()))
        .await
        .assert_problem(422, "consent.invalid_purpose");
    put_purpose(&app, "x", json!({"legal_basis": "whim"}))
        .await
        .assert_problem(422, "request.invalid_body");
}

#[tokio::test]
async fn a_withdrawal_refuses_the_very_next_read_and_both_are_audited() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing", "kyc"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let c = ciphertext(&app, &key, "alice").await;

    // No consent yet: refused, item by item, and audited as refused.
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["error"]["code"],
        "consent.not_given"
    );
    let refused = last_decrypt_event(&app, "alice").await;
    assert_eq!(refused["outcome"]["code"], "consent.not_given");

    let granted = grant(&app, &key, "alice", sms_grant()).await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    let grant_id = granted.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["value"],
        "13800138000"
    );
    let allowed = last_decrypt_event(&app, "alice").await;
    assert_eq!(allowed["outcome"]["result"], "allowed");
    assert_eq!(
        allowed["consent_event"], grant_id,
        "the decision's reference is in the trail"
    );

    let withdrawn = app
        .call(
            Method::DELETE,
            "/v1/subjects/alice/consents/marketing",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);
    let withdrawal_id = withdrawn.json()["id"].as_str().unwrap().to_owned();
    let item = decrypt(&app, &key, "alice", &c).await;
    assert_eq!(item["error"]["code"], "consent.withdrawn");
    assert!(item.get("value").is_none());
    let refused = last_decrypt_event(&app, "alice").await;
    assert_eq!(refused["outcome"]["code"], "consent.withdrawn");
    assert_eq!(refused["consent_event"], withdrawal_id);

    // Stored data is refused the same way, as a whole.
    let stored = app
        .call(
            Method::PUT,
            "/v1/subjects/alice/data",
            Some(&key),
            Some(json!({"fields": {"mobile": "13800138000"}})),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    app.get("/v1/subjects/alice/data?purpose=marketing", Some(&key))
        .await
        .assert_problem(403, "consent.withdrawn");
    // A purpose that is not consent-based (or not declared) is not gated by consent.
    assert_eq!(
        app.get("/v1/subjects/alice/data?purpose=kyc", Some(&key))
            .await
            .status,
        200
    );

    // The decision call says the same, with its reference.
    let d = app
        .post(
            "/v1/consent/decisions",
            Some(&key),
            json!({"subject_id": "alice", "purpose": "marketing"}),
        )
        .await
        .json();
    assert_eq!(
        (d["allowed"].clone(), d["reason"].clone()),
        (json!(false), json!("consent_withdrawn"))
    );
    assert_eq!(d["consent_event"], withdrawal_id);
    let d = app
        .post(
            "/v1/consent/decisions",
            Some(&key),
            json!({"subject_id": "alice", "purpose": "kyc"}),
        )
        .await
        .json();
    // `kyc` is declared on a contract basis (a key holds declared purposes only).
    assert_eq!(d["reason"], "other_legal_basis");

    // Withdrawing again, or what was never given, is a conflict; the ledger holds it all.
    app.call(
        Method::DELETE,
        "/v1/subjects/alice/consents/marketing",
        Some(&key),
        None,
    )
    .await
    .assert_problem(409, "consent.not_active");
    let history = app
        .get("/v1/subjects/alice/consents", Some(&key))
        .await
        .json();
    let actions: Vec<&str> = history["consents"][0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["granted", "withdrawn"]);
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM audit_events WHERE action IN ('consent_grant', 'consent_withdraw')").await,
        2
    );
    assert!(
        app.db
            .try_execute("DELETE FROM consent_events")
            .await
            .is_err(),
        "the ledger is append-only"
    );
}

/// A consent given until a time lapses at that time: the next read is refused with
/// `consent.expired`, item by item and in the trail, and the decision call says so.
#[tokio::test]
async fn a_consent_that_lapses_refuses_the_next_read() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let c = ciphertext(&app, &key, "dora").await;
    let until = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let mut body = sms_grant();
    body["expires_at"] = json!(
        until
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let granted = grant(&app, &key, "dora", body).await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    assert_eq!(
        decrypt(&app, &key, "dora", &c).await["value"],
        "13800138000"
    );

    let decision = || {
        let (app, key) = (&app, key.clone());
        async move {
            app.post(
                "/v1/consent/decisions",
                Some(&key),
                json!({"subject_id": "dora", "purpose": "marketing"}),
            )
            .await
            .json()
        }
    };
    crate::helpers::until("the consent lapses", async || {
        decision().await["reason"] == "consent_expired"
    })
    .await;
    assert_eq!(decision().await["allowed"], false);
    let item = decrypt(&app, &key, "dora", &c).await;
    assert_eq!(item["error"]["code"], "consent.expired", "{item}");
    assert!(item.get("value").is_none());
    assert_eq!(
        last_decrypt_event(&app, "dora").await["outcome"]["code"],
        "consent.expired"
    );
}

#[tokio::test]
async fn separate_consents_minors_and_bad_grants_are_refused() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["credit_check"]).await;
    let purpose = json!({
        "description": "Credit check with the credit bureau",
        "legal_basis": "consent",
        "categories": [{"name": "bank_card", "sensitive": true, "level": "C3"}],
        "recipients": [{"name": "Baihang Credit", "contact": "dpo@baihang.example"}],
        "retention_days": 1825
    });
    assert_eq!(put_purpose(&app, "credit_check", purpose).await.status, 200);
    let bundled = json!({"purpose": "credit_check", "channel": "app", "evidence": "one checkbox for the terms"});
    let refused = grant(&app, &key, "bob", bundled).await;
    let problem = refused.assert_problem(422, "consent.separate_consent_missing");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("sensitive, third_party")
    );
    let separate = json!({"purpose": "credit_check", "channel": "app", "evidence": "a separate page per scope",
        "scopes": {"sensitive": true, "third_party": true}});
    assert_eq!(grant(&app, &key, "bob", separate.clone()).await.status, 201);

    let mut minor = separate.clone();
    minor["minor"] = json!(true);
    grant(&app, &key, "kid", minor.clone())
        .await
        .assert_problem(422, "consent.guardian_required");
    minor["guardian"] = json!({"id": "parent-88", "relation": "parent", "verification": "household_register_check"});
    let with_guardian = grant(&app, &key, "kid", minor).await;
    assert_eq!(with_guardian.status, 201, "{}", with_guardian.text);
    assert_eq!(with_guardian.json()["guardian"]["relation"], "parent");

    grant(
        &app,
        &key,
        "bob",
        json!({"purpose": "nope", "channel": "app", "evidence": "x"}),
    )
    .await
    // Refused for the key before the purpose is looked up: a key learns nothing of the
    // purposes it does not hold, not even whether they are declared.
    .assert_problem(403, "auth.purpose_not_allowed");
    grant(
        &app,
        &key,
        "bob",
        json!({"purpose": "credit_check", "channel": "", "evidence": "x"}),
    )
    .await
    .assert_problem(422, "consent.invalid_grant");
    let mut past = separate.clone();
    past["expires_at"] = json!("2001-01-01T00:00:00Z");
    grant(&app, &key, "bob", past)
        .await
        .assert_problem(422, "request.invalid_field");
    app.call(
        Method::DELETE,
        "/v1/subjects/carol/consents/credit_check",
        Some(&key),
        None,
    )
    .await
    .assert_problem(409, "consent.not_active");
    // Nothing half-written: only the two grants are in the ledger.
    assert_eq!(app.db.count("SELECT COUNT(*) FROM consent_events").await, 2);
}

#[tokio::test]
async fn subjects_manage_their_own_consents() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let token = app.mint_token(&key, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mine = app.post("/v1/me/consents", Some(&token), sms_grant()).await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    assert_eq!(mine.json()["subject"], "alice");
    let list = app.get("/v1/me/consents", Some(&token)).await.json();
    assert_eq!(list["consents"][0]["state"]["state"], "active");

    // A token acts only for its own subject; keys cannot use /v1/me.
    app.post("/v1/subjects/bob/consents", Some(&token), sms_grant())
        .await
        .assert_problem(403, "auth.forbidden");
    app.get("/v1/me/consents", Some(&key))
        .await
        .assert_problem(403, "auth.forbidden");

    let gone = app
        .call(
            Method::DELETE,
            "/v1/me/consents/marketing",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(gone.status, 200, "{}", gone.text);
    assert_eq!(gone.json()["channel"], "self_service");
    let c = ciphertext(&app, &key, "alice").await;
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["error"]["code"],
        "consent.withdrawn"
    );
    let log = app.get("/v1/me/access-log", Some(&token)).await.json();
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "consent_withdraw"),
        "{log}"
    );
}

#[tokio::test]
async fn receipts_carry_an_sm2_signature_when_configured() {
    use baomi::config::SignatureSetting;
    let app = crate::helpers::spawn_app_with(|c| {
        c.audit.signature_algorithms = vec![SignatureSetting::Ed25519, SignatureSetting::Sm2];
    })
    .await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let id = grant(&app, &key, "alice", sms_grant()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let receipt = app
        .get(&format!("/v1/consent/receipts/{id}"), Some(&key))
        .await;
    let body = receipt.json();
    assert_eq!(body["signatures"][1]["alg"], "SM2", "{body}");
    sign_checkpoint(&app).await;
    let view = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    let sm2 = view["verifier_keys"][1]["key"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    let cli = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_baomi"))
            .args([
                "consent",
                "verify-receipt",
                path.to_str().unwrap(),
                "--public-key",
                &sm2,
            ])
            .output()
            .unwrap()
    };
    std::fs::write(&file, &receipt.text).unwrap();
    assert!(cli(&file).status.success());
    std::fs::write(&file, receipt.text.replace("alice", "mallory")).unwrap();
    assert_eq!(cli(&file).status.code(), Some(1));
}

#[tokio::test]
async fn receipts_are_signed_and_a_tampered_one_fails() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    let (_, officer) = app.create_key("officer", &["marketing"]).await;
    let (_, other_officer) = app.create_key("officer", &["credit_check"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let id = grant(&app, &key, "alice", sms_grant()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let receipt = app
        .get(&format!("/v1/consent/receipts/{id}"), Some(&key))
        .await;
    assert_eq!(receipt.status, 200, "{}", receipt.text);
    let body = receipt.json();
    assert_eq!(body["format"], "baomi-consent-receipt/1");
    assert_eq!(body["action"], "granted");
    assert_eq!(body["purpose"]["definition"]["legal_basis"], "consent");
    // Verified with the key published beside the audit checkpoints.
    sign_checkpoint(&app).await;
    let verifier = app.get("/v1/audit/checkpoint", Some(&officer)).await.json()["verifier_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        baomi_consent::receipt::verify_receipt(
            &receipt.text,
            &baomi_audit::checkpoint::TrustedKey(&verifier)
        )
        .is_ok()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, &receipt.text).unwrap();
    let cli = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_baomi"))
            .args([
                "consent",
                "verify-receipt",
                path.to_str().unwrap(),
                "--public-key",
                &verifier,
            ])
            .output()
            .unwrap()
    };
    assert!(cli(&file).status.success());
    std::fs::write(&file, receipt.text.replace("alice", "mallory")).unwrap();
    let tampered = cli(&file);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("altered"));
    assert!(
        body.get("signatures").is_none(),
        "one signing key by default"
    );

    // The subject's own token gets it; another subject's does not; an officer does under a
    // purpose it carries, and not under another (the refusal is in the trail).
    let alice = app.mint_token(&key, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = app.mint_token(&key, "bob").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(&format!("/v1/consent/receipts/{id}"), Some(&alice))
            .await
            .status,
        200
    );
    app.get(&format!("/v1/consent/receipts/{id}"), Some(&bob))
        .await
        .assert_problem(404, "consent.unknown_receipt");
    assert_eq!(
        app.get(&format!("/v1/consent/receipts/{id}"), Some(&officer))
            .await
            .status,
        200
    );
    app.get(&format!("/v1/consent/receipts/{id}"), Some(&other_officer))
        .await
        .assert_problem(403, "auth.purpose_not_allowed");
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE outcome = 'denied' \
                 AND body LIKE '%\"target\":\"{id}\"%'"
            ))
            .await,
        1
    );
    app.get("/v1/consent/receipts/cev_nothing", Some(&key))
        .await
        .assert_problem(404, "consent.unknown_receipt");
}

async fn sign_checkpoint(app: &TestApp) {
    app.audit_log
        .checkpoint_now(baomi::service::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_read_under_a_withdrawn_consent_raises_an_alert() {
    let app = crate::helpers::spawn_app_with(|c| c.audit.alerts.evaluate_every_ms = 20).await;
    let (key_id, key) = app.create_key("service", &["marketing"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    grant(&app, &key, "alice", sms_grant()).await;
    app.call(
        Method::DELETE,
        "/v1/subjects/alice/consents/marketing",
        Some(&key),
        None,
    )
    .await;
    let c = ciphertext(&app, &key, "alice").await;
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["error"]["code"],
        "consent.withdrawn"
    );
    let mut alerts = Vec::new();
    for _ in 0..200 {
        alerts = app.get("/v1/audit/alerts", Some(&officer)).await.json()["alerts"]
            .as_array()
            .unwrap()
            .clone();
        if !alerts.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "withdrawn_consent_read");
    assert_eq!(alerts[0]["key"], format!("actor:{key_id}"));
    assert_eq!(alerts[0]["detail"]["purpose"], "marketing");
}

#[tokio::test]
async fn tokens_and_searches_are_gated_too() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let stored = app
        .call(
            Method::PUT,
            "/v1/subjects/alice/data",
            Some(&key),
            Some(json!({"fields": {"mobile": "13800138000"}, "searchable": ["mobile"]})),
        )
        .await
        .json();
    let token = stored["tokens"]["mobile"].as_str().unwrap().to_owned();
    let detokenize = || {
        app.post(
            "/v1/detokenize",
            Some(&key),
            json!({"purpose": "marketing", "view": "plain", "tokens": [token.clone()]}),
        )
    };
    let search = || {
        app.post(
            "/v1/search",
            Some(&key),
            json!({"purpose": "marketing", "field": "mobile", "value": "13800138000"}),
        )
    };
    let refused = detokenize().await;
    assert_eq!(refused.status, 200, "{}", refused.text);
    assert_eq!(
        refused.json()["items"][0]["error"]["code"],
        "consent.not_given"
    );
    assert!(!refused.text.contains("13800138000"));
    assert_eq!(search().await.json()["subject_ids"], json!([]));

    grant(&app, &key, "alice", sms_grant()).await;
    assert_eq!(
        detokenize().await.json()["items"][0]["value"],
        "13800138000"
    );
    assert_eq!(search().await.json()["subject_ids"], json!(["alice"]));
    let denied = app
        .db
        .count("SELECT COUNT(*) FROM audit_events WHERE action IN ('detokenize', 'search') AND outcome = 'denied'")
        .await;
    assert_eq!(denied, 2);
}

/// Several nodes share a PostgreSQL database; an embedded SQLite file has one server.
#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=… cargo test -- --include-ignored"]
async fn a_withdrawal_on_one_node_refuses_the_next_read_on_another() {
    crate::helpers::postgres_only();
    let app = spawn_app().await;
    let other = app.other_node().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    grant(&app, &key, "alice", sms_grant()).await;
    let c = ciphertext(&app, &key, "alice").await;
    let read_on_other = || async {
        let reply = crate::helpers::read(
            app.client
                .post(other.url("/v1/decrypt"))
                .bearer_auth(&key)
                .json(&json!({"purpose": "marketing", "view": "plain", "items": [{"subject_id": "alice", "field": "mobile", "ciphertext": c}]}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()["items"][0].clone()
    };
    assert_eq!(read_on_other().await["value"], "13800138000");
    app.call(
        Method::DELETE,
        "/v1/subjects/alice/consents/marketing",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(read_on_other().await["error"]["code"], "consent.withdrawn");
}

#[tokio::test]
async fn grants_name_the_notice_version_the_subject_saw() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let publish = |text: &'static str, purposes: Value| {
        app.call(
            Method::PUT,
            "/v1/notices/privacy-policy",
            Some(&app.admin_key),
            Some(json!({"language": "zh-CN", "text": text, "purposes": purposes})),
        )
    };
    let v1 = publish("我们会向您发送理财产品信息。", json!(["marketing"])).await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    let v1 = v1.json();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["text_sha256"].as_str().unwrap().len(), 64);
    let v2 = publish("我们会通过短信向您发送理财产品信息。", json!(["marketing"]))
        .await
        .json();
    assert_eq!(v2["version"], 2);
    assert_ne!(v1["text_sha256"], v2["text_sha256"]);

    let mut with_notice = sms_grant();
    with_notice["notice"] = json!({"id": "privacy-policy", "version": 2});
    let granted = grant(&app, &key, "alice", with_notice.clone()).await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    assert_eq!(granted.json()["notice"]["version"], 2);
    let id = granted.json()["id"].as_str().unwrap().to_owned();
    let receipt = app
        .get(&format!("/v1/consent/receipts/{id}"), Some(&key))
        .await
        .json();
    assert_eq!(receipt["notice"]["id"], "privacy-policy");

    with_notice["notice"]["version"] = json!(9);
    grant(&app, &key, "alice", with_notice)
        .await
        .assert_problem(422, "consent.unknown_notice");
    publish("x", json!(["nope"]))
        .await
        .assert_problem(422, "consent.unknown_purpose");
    app.call(
        Method::PUT,
        "/v1/notices/privacy-policy",
        Some(&app.admin_key),
        Some(json!({"language": "zh CN!", "text": "x", "purposes": ["marketing"]})),
    )
    .await
    .assert_problem(422, "consent.invalid_notice");
    app.call(
        Method::PUT,
        "/v1/notices/privacy-policy",
        Some(&key),
        Some(json!({"language": "zh-CN", "text": "x", "purposes": ["marketing"]})),
    )
    .await
    .assert_problem(403, "auth.forbidden");
}

#[tokio::test]
async fn a_deterministic_ciphertext_cannot_borrow_another_subjects_consent() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    app.post(
        "/v1/keyrings",
        Some(&app.admin_key),
        json!({"name": "joinable", "suite": "aes256siv"}),
    )
    .await;
    grant(&app, &key, "bob", sms_grant()).await;
    // Alice never consented; her deterministic ciphertext is not bound to her.
    let c = app
        .post("/v1/encrypt", Some(&key), json!({"keyring": "joinable", "purpose": "marketing", "items": [{"subject_id": "alice", "field": "mobile", "value": "13800138000"}]}))
        .await
        .json()["items"][0]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(c.starts_with("bm:v1:aes256siv:"));
    let item = decrypt(&app, &key, "bob", &c).await;
    assert_eq!(item["error"]["code"], "consent.unbound_ciphertext");
    assert!(item.get("value").is_none());
    assert_eq!(
        decrypt(&app, &key, "alice", &c).await["error"]["code"],
        "consent.not_given"
    );
}

#[tokio::test]
async fn a_service_key_acts_only_for_the_purposes_it_holds() {
    let app = spawn_app().await;
    let (_, fraud_only) = app.create_key("service", &["anti_fraud"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    grant(&app, &fraud_only, "alice", sms_grant())
        .await
        .assert_problem(403, "auth.purpose_not_allowed");
    app.post(
        "/v1/consent/decisions",
        Some(&fraud_only),
        json!({"subject_id": "alice", "purpose": "marketing"}),
    )
    .await
    .assert_problem(403, "auth.purpose_not_allowed");
    assert_eq!(app.db.count("SELECT COUNT(*) FROM consent_events").await, 0);
}

#[tokio::test]
async fn reads_of_the_ledger_by_keys_are_in_the_trail() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    let (_, officer) = app.create_key("officer", &["marketing"]).await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    let id = grant(&app, &key, "alice", sms_grant()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/v1/subjects/alice/consents", Some(&officer))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(&format!("/v1/consent/receipts/{id}"), Some(&key))
            .await
            .status,
        200
    );
    let token = app.mint_token(&key, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get("/v1/me/consents", Some(&token)).await.status, 200);
    let reads = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'read' AND subject = 'alice' ORDER BY seq")
        .await;
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(
        reads[0].contains("\"target\":\"consent_ledger\"")
            && reads[0].contains("\"role\":\"officer\"")
    );
    assert!(reads[1].contains(&format!("\"target\":\"{id}\"")));
}

#[tokio::test]
async fn an_officer_key_reads_only_the_histories_of_the_purposes_it_carries() {
    let app = spawn_app().await;
    let (_, key) = app
        .create_key("service", &["marketing", "credit_check"])
        .await;
    put_purpose(&app, "marketing", marketing(mobile_category())).await;
    put_purpose(&app, "credit_check", marketing(mobile_category())).await;
    grant(&app, &key, "alice", sms_grant()).await;
    let mut credit = sms_grant();
    credit["purpose"] = json!("credit_check");
    grant(&app, &key, "alice", credit).await;
    let (_, scoped) = app.create_key("officer", &["credit_check"]).await;
    let (_, unscoped) = app.create_key("officer", &[]).await;
    let purposes_of = |reply: crate::helpers::Reply| -> Vec<String> {
        reply.json()["consents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["purpose"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        purposes_of(app.get("/v1/subjects/alice/consents", Some(&scoped)).await),
        ["credit_check"]
    );
    // An officer key that carries no purpose reads no history (and the refusal is recorded).
    app.get("/v1/subjects/alice/consents", Some(&unscoped))
        .await
        .assert_problem(403, "auth.purpose_not_allowed");
    assert_eq!(
        app.db
            .count(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'read' AND subject = 'alice' \
                 AND outcome = 'denied'"
            )
            .await,
        1
    );
    // An admin key carries none.
    app.post(
        "/v1/keys",
        Some(&app.admin_key),
        json!({"name": "adm", "role": "admin", "purposes": ["marketing"]}),
    )
    .await
    .assert_problem(422, "request.invalid_field");
}
