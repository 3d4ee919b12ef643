//! Least privilege: the seven holes a new user found (issue 16), each as a regression test
//! over HTTP, and the trail naming the key and operator behind every event.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, contract_purpose, send, spawn_app, spawn_app_with};

const MOBILE: &str = "13912345678";
const ID_NUMBER: &str = "11010519491231002X";
const CARD: &str = "6222020200112233446";

async fn declare(app: &TestApp, id: &str, body: Value) {
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/purposes/{id}"),
            Some(&app.admin_key),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn consent_purpose(categories: &[&str]) -> Value {
    json!({
        "description": "needs consent",
        "legal_basis": "consent",
        "categories": categories.iter().map(|c| json!({"name": c, "sensitive": false, "level": "C2"})).collect::<Vec<_>>(),
        "retention_days": 30,
    })
}

/// Stores u-10086's card, ID number and mobile with a key that may write.
async fn store_subject(app: &TestApp) {
    declare(app, "onboarding", contract_purpose()).await;
    let (_, writer) = app
        .create_key_with(
            json!({"name": "writer", "role": "service", "purposes": ["onboarding"],
            "permissions": ["store_data"]}),
        )
        .await;
    let r = app
        .call(
            Method::PUT,
            "/v1/subjects/u-10086/data",
            Some(&writer),
            Some(json!({"fields": {"bank_card": CARD, "id_number": ID_NUMBER, "mobile": MOBILE}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn with_operator(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(key)
        .header("X-Baomi-Operator", "cs-agent-017");
    if let Some(b) = body {
        req = req.json(&b);
    }
    req
}

fn no_pi(text: &str) {
    for v in [MOBILE, ID_NUMBER, CARD] {
        assert!(!text.contains(v), "a PI value in {text}");
    }
}

async fn events(app: &TestApp, action: &str) -> Vec<Value> {
    let page = app
        .get(
            &format!("/v1/audit/events?action={action}&limit=500"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.json()["events"].as_array().unwrap().clone()
}

/// Hole 1: a subject token minted by a key does not launder its access. Minting needs its
/// own permission and is audited; the export needs the issuer's self-service permission;
/// every event the token causes names the issuer and the operator; bulk access counts by
/// the issuer.
#[tokio::test]
async fn subject_tokens_act_within_their_issuer_and_are_attributed_to_it() {
    let app = spawn_app_with(|c| {
        c.audit.alerts.bulk_max_subjects = 2;
        c.audit.alerts.evaluate_every_ms = 20;
    })
    .await;
    store_subject(&app).await;
    // An undeclared purpose cannot be held at all.
    let r = app
        .post(
            "/v1/keys",
            Some(&app.admin_key),
            json!({"name": "sms", "role": "service", "purposes": ["marketing_sms"]}),
        )
        .await;
    r.assert_problem(422, "keys.undeclared_purpose");
    declare(&app, "marketing_sms", consent_purpose(&["mobile"])).await;

    // Without the permission, no token.
    let (_, plain_key) = app
        .create_key_with(json!({"name": "sms", "role": "service", "purposes": ["marketing_sms"]}))
        .await;
    let r = app
        .post(
            "/v1/subject-tokens",
            Some(&plain_key),
            json!({"subject_id": "u-10086"}),
        )
        .await;
    r.assert_problem(403, "auth.permission_not_granted");

    // Minting alone does not open the export.
    let (minter_id, minter) = app
        .create_key_with(
            json!({"name": "app", "role": "service", "purposes": ["marketing_sms"],
            "permissions": ["mint_subject_tokens"]}),
        )
        .await;
    let minted = send(with_operator(
        &app,
        Method::POST,
        "/v1/subject-tokens",
        &minter,
        Some(json!({"subject_id": "u-10086"})),
    ))
    .await;
    assert_eq!(minted.status, 201, "{}", minted.text);
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    let token_id = minted.json()["token_id"].as_str().unwrap().to_owned();
    let r = app.get("/v1/me/export", Some(&token)).await;
    r.assert_problem(403, "auth.permission_not_granted");
    no_pi(&r.text);
    let r = app.get("/v1/me/access-log", Some(&token)).await;
    r.assert_problem(403, "auth.permission_not_granted");

    // Minting is in the trail: the issuer, its operator, the subject, the token, its life.
    let mints = events(&app, "token_mint").await;
    assert_eq!(mints.len(), 1, "{mints:?}");
    let mint = &mints[0]["event"];
    assert_eq!(mint["actor"]["id"], minter_id.as_str());
    assert_eq!(mint["operator"], "cs-agent-017");
    assert_eq!(mint["subject"], "u-10086");
    assert_eq!(mint["target"], token_id.as_str());
    assert_eq!(mint["fields"], json!(["ttl_seconds:900"]));

    // With self-service granted the subject reads their own data, and the read names the
    // issuing key and the operator who had the token minted.
    let (svc_id, svc) = app
        .create_key_with(
            json!({"name": "self", "role": "service", "purposes": ["marketing_sms"],
            "permissions": ["mint_subject_tokens", "self_service"]}),
        )
        .await;
    for subject in ["u-10086", "u-2", "u-3"] {
        let t = send(with_operator(
            &app,
            Method::POST,
            "/v1/subject-tokens",
            &svc,
            Some(json!({"subject_id": subject})),
        ))
        .await;
        let t = t.json()["token"].as_str().unwrap().to_owned();
        let r = app.get("/v1/me/export", Some(&t)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if subject == "u-10086" {
            assert_eq!(r.json()["data"]["mobile"], MOBILE);
        }
    }
    let reads: Vec<Value> = events(&app, "read")
        .await
        .into_iter()
        .filter(|e| e["event"]["purpose"] == "data_subject_access")
        .collect();
    assert_eq!(reads.len(), 3, "{reads:?}");
    for e in &reads {
        assert_eq!(e["event"]["issuer"], svc_id.as_str(), "{e}");
        assert_eq!(e["event"]["operator"], "cs-agent-017", "{e}");
        assert_eq!(e["event"]["actor"]["role"], "subject");
    }
    // An officer finds them by the key, and bulk access counts by it: three subjects, one
    // token each, past a threshold of two.
    let by_key = app
        .get(
            &format!("/v1/audit/events?actor={svc_id}&action=read"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(
        by_key.json()["events"].as_array().unwrap().len(),
        3,
        "{}",
        by_key.text
    );
    let target = app.db.count("SELECT MAX(seq) FROM audit_events").await;
    let mut alerts = Vec::new();
    for _ in 0..200 {
        let page = app
            .get("/v1/audit/alerts", Some(&app.admin_key))
            .await
            .json();
        if page["evaluated_through_seq"].as_i64().unwrap() >= target {
            alerts = page["alerts"].as_array().unwrap().clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        alerts
            .iter()
            .any(|a| a["rule"] == "bulk_access" && a["key"] == format!("actor:{svc_id}")),
        "{alerts:?}"
    );
}

/// Hole 2: a token cannot grant consent for a purpose its issuer does not hold, so another
/// backend's reads stay refused; it may always withdraw.
#[tokio::test]
async fn a_token_grants_consent_only_for_its_issuers_purposes() {
    let app = spawn_app().await;
    store_subject(&app).await;
    declare(&app, "marketing_sms", consent_purpose(&["mobile"])).await;
    declare(
        &app,
        "loan_underwriting",
        consent_purpose(&["mobile", "id_number", "bank_card"]),
    )
    .await;
    let (_, sms) = app
        .create_key_with(
            json!({"name": "sms", "role": "service", "purposes": ["marketing_sms"],
            "permissions": ["mint_subject_tokens", "record_consent"]}),
        )
        .await;
    let (_, loans) = app
        .create_key_with(json!({"name": "loans", "role": "service",
            "grants": [{"purpose": "loan_underwriting", "views": ["masked"]}],
            "permissions": ["record_consent"]}))
        .await;
    let grant = json!({"purpose": "loan_underwriting", "channel": "app", "evidence": "tap"});
    // Not with its own credential …
    app.post("/v1/subjects/u-10086/consents", Some(&sms), grant.clone())
        .await
        .assert_problem(403, "auth.purpose_not_allowed");
    // … and not through a token it mints.
    let token = app.mint_token(&sms, "u-10086").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/v1/me/consents", Some(&token), grant.clone())
        .await
        .assert_problem(403, "auth.issuer_purpose_not_allowed");
    let read = app
        .get(
            "/v1/subjects/u-10086/data?purpose=loan_underwriting",
            Some(&loans),
        )
        .await;
    read.assert_problem(403, "consent.not_given");

    // The lender records the consent; the subject withdraws it through the other key's
    // token: withdrawing is as easy as granting.
    let r = app
        .post("/v1/subjects/u-10086/consents", Some(&loans), grant)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let read = app
        .get(
            "/v1/subjects/u-10086/data?purpose=loan_underwriting",
            Some(&loans),
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let r = app
        .call(
            Method::DELETE,
            "/v1/me/consents/loan_underwriting",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.get(
        "/v1/subjects/u-10086/data?purpose=loan_underwriting",
        Some(&loans),
    )
    .await
    .assert_problem(403, "consent.withdrawn");
}

/// Hole 3: reads under an undeclared purpose are refused, and a purpose reads only the
/// fields of its PI categories.
#[tokio::test]
async fn purposes_must_be_declared_and_read_only_their_categories() {
    let app = spawn_app().await;
    store_subject(&app).await;
    declare(&app, "marketing_sms", contract_purpose()).await;
    declare(&app, "contact", json!({"description": "calls", "legal_basis": "contract",
        "categories": [{"name": "mobile", "sensitive": false, "level": "C2"}], "retention_days": 30})).await;
    let (key_id, key) = app
        .create_key_with(json!({"name": "k", "role": "service",
            "grants": [{"purpose": "contact", "views": ["masked", "plain"]},
                       {"purpose": "marketing_sms", "views": ["masked", "plain"]}]}))
        .await;

    // Only the fields of the purpose's categories, each refused one with its code.
    let r = app
        .get(
            "/v1/subjects/u-10086/data?purpose=contact&view=plain",
            Some(&key),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fields = r.json()["fields"].clone();
    assert_eq!(fields.as_object().unwrap().len(), 1, "{fields}");
    assert_eq!(fields["mobile"]["value"], MOBILE);
    let r = app
        .get(
            "/v1/subjects/u-10086/data?purpose=contact&view=plain&fields=mobile,id_number",
            Some(&key),
        )
        .await;
    let fields = r.json()["fields"].clone();
    assert_eq!(fields["mobile"]["value"], MOBILE);
    assert_eq!(
        fields["id_number"]["error"]["code"], "auth.field_not_granted",
        "{fields}"
    );
    assert!(
        fields["id_number"].get("value").is_none() && fields["id_number"].get("token").is_none()
    );
    no_pi(&fields["id_number"].to_string());
    let r = app
        .post(
            "/v1/search",
            Some(&key),
            json!({"purpose": "contact", "field": "id_number", "value": ID_NUMBER}),
        )
        .await;
    r.assert_problem(403, "auth.field_not_granted");
    no_pi(&r.text);

    // A key row of an earlier release naming a purpose nobody declared: unusable until it is.
    app.db
        .execute(&format!(
            "UPDATE api_keys SET grants = NULL, purposes = '[\"ghost\"]' WHERE id = '{key_id}'"
        ))
        .await;
    let app = app.restart().await;
    let r = app
        .get(
            "/v1/subjects/u-10086/data?purpose=ghost&view=plain",
            Some(&key),
        )
        .await;
    r.assert_problem(403, "auth.purpose_not_declared");
    no_pi(&r.text);
    let refused = events(&app, "read").await;
    assert!(
        refused.iter().any(
            |e| e["event"]["outcome"]["code"] == "auth.purpose_not_declared"
                && e["event"]["purpose"] == "ghost"
        ),
        "{refused:?}"
    );
}

/// Hole 4: the plain view and the masking role are grants, not requests.
#[tokio::test]
async fn plain_views_and_masking_roles_come_from_the_grant() {
    let app = spawn_app().await;
    store_subject(&app).await;
    declare(&app, "support", contract_purpose()).await;
    let (_, key) = app
        .create_key_with(
            json!({"name": "cs", "role": "service", "purposes": ["support"],
            "masking_roles": ["cs_agent"]}),
        )
        .await;
    let r = app
        .get(
            "/v1/subjects/u-10086/data?purpose=support&view=plain",
            Some(&key),
        )
        .await;
    r.assert_problem(403, "auth.view_not_granted");
    no_pi(&r.text);
    let r = app
        .get("/v1/subjects/u-10086/data?purpose=support", Some(&key))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["fields"]["mobile"]["value"], "139****5678");
    no_pi(&r.text);

    // A policy that shows C3 in the clear to auditors does not help a key that is not one.
    let policy = json!({"rules": [{"roles": ["auditor"], "types": {"CN_MOBILE": {"op": "keep"}}}]});
    let r = app
        .call(
            Method::PUT,
            "/v1/policies/default",
            Some(&app.admin_key),
            Some(policy),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        app.client
            .get(app.url("/v1/subjects/u-10086/data?purpose=support"))
            .bearer_auth(&key)
            .header("X-Baomi-Operator-Role", "auditor"),
    )
    .await;
    r.assert_problem(403, "auth.masking_role_not_granted");
    no_pi(&r.text);
    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"text": format!("手机{MOBILE}"), "role": "auditor"}),
        )
        .await;
    r.assert_problem(403, "auth.masking_role_not_granted");
    no_pi(&r.text);
}

/// Hole 5: erasing needs its permission, and a subject Baomi knows nothing of is erased
/// only on purpose.
#[tokio::test]
async fn erasure_is_a_permission_and_tombstones_are_asked_for() {
    let app = spawn_app().await;
    store_subject(&app).await;
    declare(&app, "support", contract_purpose()).await;
    let (_, reader) = app
        .create_key_with(json!({"name": "r", "role": "service", "purposes": ["support"]}))
        .await;
    app.call(Method::DELETE, "/v1/subjects/u-10086", Some(&reader), None)
        .await
        .assert_problem(403, "auth.permission_not_granted");
    let (_, eraser) = app
        .create_key_with(
            json!({"name": "e", "role": "service", "purposes": ["support"],
            "permissions": ["erase_subjects"]}),
        )
        .await;
    app.call(
        Method::DELETE,
        "/v1/subjects/nobody-here",
        Some(&eraser),
        None,
    )
    .await
    .assert_problem(404, "vault.unknown_subject");
    assert_eq!(app.db.count("SELECT COUNT(*) FROM erasures").await, 0);
    let r = app
        .call(
            Method::DELETE,
            "/v1/subjects/nobody-here?tombstone=true",
            Some(&eraser),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .call(Method::DELETE, "/v1/subjects/u-10086", Some(&eraser), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["fields_deleted"], 3);
}

/// Hole 6: every encrypt call is audited, and a deterministic keyring encrypts only under
/// a purpose whose plain view the key holds.
#[tokio::test]
async fn encryption_is_audited_and_deterministic_keyrings_need_a_plain_grant() {
    let app = spawn_app().await;
    declare(&app, "kyc", contract_purpose()).await;
    let r = app
        .post(
            "/v1/keyrings",
            Some(&app.admin_key),
            json!({"name": "joins", "suite": "aes256siv"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (masked_id, masked) = app
        .create_key_with(json!({"name": "m", "role": "service", "purposes": ["kyc"]}))
        .await;
    let (_, plain) = app
        .create_key_with(json!({"name": "p", "role": "service",
            "grants": [{"purpose": "kyc", "views": ["masked", "plain"]}]}))
        .await;
    let items = json!([{"subject_id": "u-1", "field": "mobile", "value": MOBILE},
                       {"subject_id": "u-1", "field": "id_number", "value": ID_NUMBER}]);
    let r = app
        .post("/v1/encrypt", Some(&masked), json!({"items": items}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let encrypts = events(&app, "encrypt").await;
    assert_eq!(encrypts.len(), 1, "{encrypts:?}");
    let e = &encrypts[0]["event"];
    assert_eq!(e["actor"]["id"], masked_id.as_str());
    assert_eq!(e["subject"], "u-1");
    assert_eq!(e["fields"], json!(["mobile", "id_number"]));
    assert_eq!(e["count"], 2);
    assert_eq!(e["target"], "keyring:default");
    no_pi(&encrypts[0].to_string());

    let r = app
        .post(
            "/v1/encrypt",
            Some(&masked),
            json!({"keyring": "joins", "items": items}),
        )
        .await;
    r.assert_problem(422, "request.invalid_field");
    let r = app
        .post(
            "/v1/encrypt",
            Some(&masked),
            json!({"keyring": "joins", "purpose": "kyc", "items": items}),
        )
        .await;
    r.assert_problem(403, "auth.view_not_granted");
    no_pi(&r.text);
    let r = app
        .post(
            "/v1/encrypt",
            Some(&plain),
            json!({"keyring": "joins", "purpose": "kyc", "items": items}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json()["items"][0]["ciphertext"]
            .as_str()
            .unwrap()
            .starts_with("bm:v1:")
    );
    let encrypts = events(&app, "encrypt").await;
    assert_eq!(
        encrypts.len(),
        3,
        "the refusal is recorded too: {encrypts:?}"
    );
}

/// Hole 7: a service key reads the consent ledger of its own purposes only.
#[tokio::test]
async fn service_keys_read_the_ledger_of_their_purposes_only() {
    let app = spawn_app().await;
    declare(&app, "marketing", consent_purpose(&["mobile"])).await;
    declare(&app, "loans", consent_purpose(&["mobile"])).await;
    let (_, loans) = app
        .create_key_with(json!({"name": "l", "role": "service", "purposes": ["loans"], "permissions": ["record_consent"]}))
        .await;
    let (_, market) = app
        .create_key_with(json!({"name": "m", "role": "service", "purposes": ["marketing"], "permissions": ["record_consent"]}))
        .await;
    let grant = |p: &str| json!({"purpose": p, "channel": "app", "evidence": "tap"});
    let r = app
        .post("/v1/subjects/u-1/consents", Some(&loans), grant("loans"))
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .post(
            "/v1/subjects/u-1/consents",
            Some(&market),
            grant("marketing"),
        )
        .await;
    let marketing_event = r.json()["id"].as_str().unwrap().to_owned();
    let listed = app.get("/v1/subjects/u-1/consents", Some(&loans)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let purposes: Vec<&str> = listed.json()["consents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purpose"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .leak()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(purposes, ["loans"]);
    app.get(
        &format!("/v1/consent/receipts/{marketing_event}"),
        Some(&loans),
    )
    .await
    .assert_problem(403, "auth.purpose_not_allowed");
    let r = app
        .get(
            &format!("/v1/consent/receipts/{marketing_event}"),
            Some(&market),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Grants can be changed without a new secret; the change is audited and takes effect at
/// once.
#[tokio::test]
async fn an_admin_changes_a_keys_grants_and_the_change_is_audited() {
    let app = spawn_app().await;
    store_subject(&app).await;
    declare(&app, "support", contract_purpose()).await;
    let (id, key) = app
        .create_key_with(json!({"name": "k", "role": "service", "purposes": ["support"]}))
        .await;
    app.get(
        "/v1/subjects/u-10086/data?purpose=support&view=plain",
        Some(&key),
    )
    .await
    .assert_problem(403, "auth.view_not_granted");
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/keys/{id}/grants"),
            Some(&app.admin_key),
            Some(json!({"grants": [{"purpose": "support", "views": ["masked", "plain"]}], "permissions": ["erase_subjects"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["permissions"], json!(["erase_subjects"]));
    let r = app
        .get(
            "/v1/subjects/u-10086/data?purpose=support&view=plain",
            Some(&key),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let changes = events(&app, "key_grant").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0]["event"]["fields"],
        json!([
            "role:service",
            "purpose:support:masked+plain",
            "permission:erase_subjects",
            "masking_role:service"
        ])
    );
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/keys/{id}/grants"),
            Some(&app.admin_key),
            Some(json!({"purposes": ["nope"]})),
        )
        .await;
    r.assert_problem(422, "keys.undeclared_purpose");
}

/// Every event the tests above cause names who caused it: a key as the actor, and for a
/// subject token's acts the issuing key and its operator.
#[tokio::test]
async fn every_event_of_a_token_names_its_issuer_and_operator() {
    let app = spawn_app().await;
    store_subject(&app).await;
    declare(&app, "marketing", consent_purpose(&["mobile"])).await;
    let (svc_id, svc) = app
        .create_key_with(
            json!({"name": "s", "role": "service", "purposes": ["marketing"],
            "permissions": ["mint_subject_tokens", "self_service"]}),
        )
        .await;
    let minted = send(with_operator(
        &app,
        Method::POST,
        "/v1/subject-tokens",
        &svc,
        Some(json!({"subject_id": "u-10086"})),
    ))
    .await;
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    let calls: [(Method, &str, Option<Value>); 6] = [
        (
            Method::POST,
            "/v1/me/consents",
            Some(json!({"purpose": "marketing", "channel": "app", "evidence": "tap"})),
        ),
        (Method::GET, "/v1/me/consents", None),
        (Method::DELETE, "/v1/me/consents/marketing", None),
        (
            Method::POST,
            "/v1/me/requests",
            Some(json!({"kind": "access"})),
        ),
        (Method::GET, "/v1/me/export", None),
        (Method::GET, "/v1/me/access-log", None),
    ];
    for (method, path, body) in calls {
        let r = app.call(method, path, Some(&token), body).await;
        assert!(r.status.is_success(), "{path}: {}", r.text);
    }
    let all = app
        .get("/v1/audit/events?limit=500", Some(&app.admin_key))
        .await
        .json();
    let by_token: Vec<&Value> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["actor"]["role"] == "subject")
        .collect();
    assert!(by_token.len() >= 5, "{by_token:?}");
    for e in by_token {
        assert_eq!(e["event"]["issuer"], svc_id.as_str(), "{e}");
        assert_eq!(e["event"]["operator"], "cs-agent-017", "{e}");
    }
    for e in all["events"].as_array().unwrap() {
        assert!(
            e["event"]["actor"]["id"]
                .as_str()
                .is_some_and(|a| !a.is_empty()),
            "{e}"
        );
    }
}

/// The field catalogue says which category a field belongs to: versioned, audited, and
/// applied from the next read on.
#[tokio::test]
async fn the_field_catalogue_binds_fields_to_categories() {
    let app = spawn_app().await;
    let category = |name: &str| json!({"name": name, "sensitive": false, "level": "C2"});
    let purpose = |cats: Vec<Value>| json!({"description": "d", "legal_basis": "contract", "categories": cats, "retention_days": 30});
    declare(&app, "onboarding", contract_purpose()).await;
    declare(&app, "jobs", purpose(vec![category("occupation")])).await;
    declare(&app, "chat", purpose(vec![category("text")])).await;
    let (_, writer) = app
        .create_key_with(json!({"name": "w", "role": "service", "purposes": ["onboarding"], "permissions": ["store_data"]}))
        .await;
    let r = app
        .call(
            Method::PUT,
            "/v1/subjects/u-1/data",
            Some(&writer),
            Some(json!({"fields": {"text.occupation": "welder", "text.hobby": "chess"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, reader) = app
        .create_key_with(json!({"name": "r", "role": "service",
            "grants": [{"purpose": "jobs", "views": ["plain"]}, {"purpose": "chat", "views": ["plain"]}]}))
        .await;
    let read = |purpose: &'static str| {
        let (app, reader) = (&app, reader.clone());
        async move {
            let r = app
                .get(
                    &format!("/v1/subjects/u-1/data?purpose={purpose}&view=plain"),
                    Some(&reader),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let mut names: Vec<String> = r.json()["fields"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        }
    };
    // The built-in defaults: a text field is in the category `text`.
    let shown = app.get("/v1/field-catalogue", Some(&reader)).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.json()["version"], 0);
    assert!(
        shown.json()["built_in"]
            .as_array()
            .unwrap()
            .contains(&json!("mobile"))
    );
    assert_eq!(read("jobs").await, Vec::<String>::new());
    assert_eq!(read("chat").await, ["text.hobby", "text.occupation"]);

    // Only an admin changes it, and a bad entry is refused without being quoted.
    let put = |key: String, fields: Value| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                "/v1/field-catalogue",
                Some(&key),
                Some(json!({"fields": fields})),
            )
            .await
        }
    };
    put(reader.clone(), json!({}))
        .await
        .assert_problem(403, "auth.forbidden");
    let bad = put(
        app.admin_key.clone(),
        json!({"text.occupation": "Welder Category"}),
    )
    .await;
    bad.assert_problem(422, "request.invalid_field");
    assert!(!bad.text.contains("Welder"), "{}", bad.text);

    let v1 = put(
        app.admin_key.clone(),
        json!({"text.occupation": "occupation"}),
    )
    .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(v1.json()["version"], 1);
    assert_eq!(read("jobs").await, ["text.occupation"]);
    assert_eq!(read("chat").await, ["text.hobby"]);

    let v2 = put(app.admin_key.clone(), json!({})).await;
    assert_eq!(v2.json()["version"], 2);
    assert_eq!(read("jobs").await, Vec::<String>::new());
    let changes: Vec<Value> = events(&app, "catalogue_change")
        .await
        .into_iter()
        .map(|e| e["event"]["fields"].clone())
        .collect();
    // Newest first.
    assert_eq!(
        changes,
        [
            json!(["text.occupation:"]),
            json!(["text.occupation:occupation"])
        ]
    );
}
