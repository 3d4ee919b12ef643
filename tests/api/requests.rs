//! Data-subject rights requests and the subject's copy of their data, over HTTP.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// An app with a service key, an officer key, and a token for subject `alice` who has
/// stored data.
async fn setup() -> (TestApp, String, String, String) {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    let stored = app
        .call(
            Method::PUT,
            "/v1/subjects/alice/data",
            Some(&key),
            Some(json!({"fields": {"mobile": "13800138000", "name": "张三"}})),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let token = app.mint_token(&key, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, key, officer, token)
}

async fn file(app: &TestApp, token: &str, body: Value) -> crate::helpers::Reply {
    app.post("/v1/me/requests", Some(token), body).await
}

#[tokio::test]
async fn a_subject_files_requests_and_an_officer_answers_them() {
    let (app, key, officer, token) = setup().await;
    let filed = file(
        &app,
        &token,
        json!({"kind": "correction", "note": "my name is 张三丰"}),
    )
    .await;
    assert_eq!(filed.status, 201, "{}", filed.text);
    let request = filed.json();
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(request["status"], "open");
    assert_eq!(request["overdue"], false);
    assert_eq!(request["has_note"], true);
    assert!(!filed.text.contains("张三丰"), "the note is not echoed");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM rights_requests WHERE note_ciphertext LIKE 'bm:v1:%'")
            .await,
        1,
        "the note is stored encrypted"
    );
    file(&app, &token, json!({"kind": "correction"}))
        .await
        .assert_problem(409, "requests.duplicate");
    file(&app, &token, json!({"kind": "everything"}))
        .await
        .assert_problem(422, "request.invalid_body");
    file(
        &app,
        &token,
        json!({"kind": "explanation", "note": "x".repeat(2001)}),
    )
    .await
    .assert_problem(422, "request.invalid_field");

    let mine = app.get("/v1/me/requests", Some(&token)).await.json();
    assert_eq!(mine["requests"].as_array().unwrap().len(), 1);

    // The officer's queue, and the note for the one handling it (that read is audited).
    let queue = app
        .get("/v1/requests?status=open", Some(&officer))
        .await
        .json();
    assert_eq!(queue["requests"][0]["id"], id);
    let detail = app
        .get(&format!("/v1/requests/{id}"), Some(&officer))
        .await
        .json();
    assert_eq!(detail["note"], "my name is 张三丰");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'read' AND subject = 'alice' AND body LIKE '%request_note%'")
            .await,
        1
    );
    let closed = app
        .post(
            &format!("/v1/requests/{id}/close"),
            Some(&officer),
            json!({"status": "completed", "resolution": "name corrected in the loan system"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.json()["status"], "completed");
    app.post(
        &format!("/v1/requests/{id}/close"),
        Some(&officer),
        json!({"status": "rejected", "resolution": "again"}),
    )
    .await
    .assert_problem(409, "requests.closed");
    // Closed, the same kind can be asked again.
    assert_eq!(
        file(&app, &token, json!({"kind": "correction"}))
            .await
            .status,
        201
    );

    // Who may do what.
    app.get("/v1/requests", Some(&key))
        .await
        .assert_problem(403, "auth.forbidden");
    app.get("/v1/requests", Some(&token))
        .await
        .assert_problem(403, "auth.forbidden");
    app.get("/v1/me/requests", Some(&officer))
        .await
        .assert_problem(403, "auth.forbidden");
    app.get("/v1/requests/req_nothing", Some(&officer))
        .await
        .assert_problem(404, "requests.not_found");
    app.post(
        "/v1/requests/req_nothing/close",
        Some(&officer),
        json!({"status": "open", "resolution": "x"}),
    )
    .await
    .assert_problem(422, "request.invalid_field");
    let steps = app
        .db
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE action IN ('request_create', 'request_close')",
        )
        .await;
    assert_eq!(steps, 3);
}

/// Moves request `id`'s deadline into the past and checks the officers' queue flags it.
async fn past_its_deadline(app: &TestApp, officer: &str, id: &str) {
    app.db
        .execute(&format!(
            "UPDATE rights_requests SET due_at = 1 WHERE id = '{id}'"
        ))
        .await;
    let overdue = app
        .get("/v1/requests?overdue=true", Some(officer))
        .await
        .json();
    assert_eq!(overdue["requests"][0]["id"], id);
    assert_eq!(overdue["requests"][0]["overdue"], true);
}

#[tokio::test]
async fn overdue_requests_are_flagged() {
    let (app, _, officer, token) = setup().await;
    let id = file(&app, &token, json!({"kind": "access"})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/v1/requests?overdue=true", Some(&officer))
            .await
            .json()["requests"],
        json!([])
    );
    past_its_deadline(&app, &officer, &id).await;
    app.get("/v1/requests?status=lost", Some(&officer))
        .await
        .assert_problem(422, "request.invalid_field");
}

#[tokio::test]
async fn a_subject_gets_a_copy_of_everything_held_about_them() {
    let (app, key, _, token) = setup().await;
    file(&app, &token, json!({"kind": "access"})).await;
    // A consent given, then withdrawn: both are in the copy, with the state they leave.
    let declared = app
        .call(
            Method::PUT,
            "/v1/purposes/marketing",
            Some(&app.admin_key),
            Some(
                json!({"description": "Offers by SMS", "legal_basis": "consent",
                "categories": [{"name": "mobile", "sensitive": false, "level": "C2"}],
                "retention_days": 365}),
            ),
        )
        .await;
    assert_eq!(declared.status, 200, "{}", declared.text);
    let (_, marketer) = app.create_key("service", &["marketing"]).await;
    let granted = app
        .post(
            "/v1/subjects/alice/consents",
            Some(&marketer),
            json!({"purpose": "marketing", "channel": "app", "evidence": "opt-in"}),
        )
        .await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    let withdrawn = app
        .call(
            Method::DELETE,
            "/v1/subjects/alice/consents/marketing",
            Some(&marketer),
            None,
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);
    let export = app.get("/v1/me/export", Some(&token)).await;
    assert_eq!(export.status, 200, "{}", export.text);
    let export = export.json();
    assert_eq!(export["subject_id"], "alice");
    assert_eq!(export["data"]["mobile"], "13800138000");
    assert_eq!(export["data"]["name"], "张三");
    assert_eq!(export["requests"][0]["kind"], "access");
    let consents = export["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 1, "{consents:?}");
    assert_eq!(consents[0]["purpose"], "marketing");
    let history: Vec<&str> = consents[0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(history.len(), 2, "{consents:?}");
    assert_ne!(
        history[0], history[1],
        "a grant, then a withdrawal: {history:?}"
    );
    let log = export["access_log"]["entries"].as_array().unwrap();
    assert!(log.iter().any(|e| e["action"] == "store"), "{log:?}");
    assert!(
        log.iter().any(|e| e["purpose"] == "data_subject_access"),
        "the export itself is in the log"
    );
    app.get("/v1/me/export", Some(&key))
        .await
        .assert_problem(403, "auth.forbidden");
}

#[tokio::test]
async fn completing_a_deletion_request_erases_the_subject() {
    let (app, key, officer, token) = setup().await;
    let id = file(
        &app,
        &token,
        json!({"kind": "deletion", "note": "close my account"}),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let closed = app
        .post(
            &format!("/v1/requests/{id}/close"),
            Some(&officer),
            json!({"status": "completed", "resolution": "all your data was erased"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    app.get("/v1/subjects/alice/data?purpose=kyc", Some(&key))
        .await
        .assert_problem(410, "vault.subject_erased");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'erase' AND subject = 'alice'")
            .await,
        1
    );
    // The request stays as evidence; its note died with the subject's keys.
    let detail = app
        .get(&format!("/v1/requests/{id}"), Some(&officer))
        .await
        .json();
    assert_eq!(detail["status"], "completed");
    assert!(detail.get("note").is_none());
    file(
        &app,
        &token,
        json!({"kind": "access", "note": "anything left?"}),
    )
    .await
    .assert_problem(410, "vault.subject_erased");
}

#[tokio::test]
async fn an_officer_approves_a_request_before_answering_it() {
    let (app, key, officer, token) = setup().await;
    let id = file(&app, &token, json!({"kind": "deletion"})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approve = |who: String| {
        let app = &app;
        let path = format!("/v1/requests/{id}/approve");
        async move { app.post(&path, Some(&who), json!({})).await }
    };
    approve(key.clone())
        .await
        .assert_problem(403, "auth.forbidden");
    app.post(
        "/v1/requests/req_nothing/approve",
        Some(&officer),
        json!({}),
    )
    .await
    .assert_problem(404, "requests.not_found");
    let approved = approve(officer.clone()).await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.json()["status"], "approved");
    assert!(approved.json()["approved_at"].is_string());
    approve(officer.clone())
        .await
        .assert_problem(409, "requests.not_open");
    // The subject sees it accepted; it is still their open request of its kind.
    let mine = app.get("/v1/me/requests", Some(&token)).await.json();
    assert_eq!(mine["requests"][0]["status"], "approved");
    file(&app, &token, json!({"kind": "deletion"}))
        .await
        .assert_problem(409, "requests.duplicate");
    // Approved is not answered: past its deadline it is overdue.
    past_its_deadline(&app, &officer, &id).await;
    let approved_list = app
        .get("/v1/requests?status=approved", Some(&officer))
        .await
        .json();
    assert_eq!(approved_list["requests"].as_array().unwrap().len(), 1);
    // Completing it erases the subject, as from open.
    let closed = app
        .post(
            &format!("/v1/requests/{id}/close"),
            Some(&officer),
            json!({"status": "completed", "resolution": "erased"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.json()["status"], "completed");
    assert!(closed.json()["approved_at"].is_string());
    app.get("/v1/subjects/alice/data?purpose=kyc", Some(&key))
        .await
        .assert_problem(410, "vault.subject_erased");
    let steps = app
        .db
        .texts("SELECT action FROM audit_events WHERE action LIKE 'request_%' ORDER BY seq")
        .await;
    assert_eq!(
        steps,
        ["request_create", "request_approve", "request_close"]
    );
    let approval = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'request_approve'")
        .await;
    assert!(approval[0].contains("status:approved"), "{approval:?}");
}
