//! API keys: create, list, revoke; who may.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn admin_creates_lists_and_revokes_keys() {
    let app = spawn_app().await;
    let (id, secret) = app
        .create_key("service", &["loan_underwriting", "anti_fraud"])
        .await;
    assert!(secret.starts_with(&format!("bm_{id}_")));

    let list = app.get("/v1/keys", Some(&app.admin_key)).await;
    assert_eq!(list.status, 200);
    let keys = list.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "bootstrap admin + the new key");
    let created = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(created["role"], "service");
    assert_eq!(
        created["purposes"],
        json!(["anti_fraud", "loan_underwriting"])
    );
    assert_eq!(created["active"], true);
    assert!(created["created_by"].is_string());
    assert!(
        !list.text.contains(&secret[3..]),
        "a list must never show secrets"
    );
    assert!(!list.text.contains("secret"));

    // The new key works (its role may mint subject tokens) …
    app.mint_token(&secret, "u-1").await;
    // … until it is revoked.
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/v1/keys/{id}"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let denied = app
        .post(
            "/v1/subject-tokens",
            Some(&secret),
            json!({"subject_id": "u-1"}),
        )
        .await;
    denied.assert_problem(401, "auth.invalid_key");

    // Revoking again is a no-op; the list says when it was revoked.
    let trail = app
        .db
        .texts("SELECT action FROM audit_events WHERE action IN ('key_create', 'key_revoke') ORDER BY seq")
        .await;
    assert_eq!(trail, ["key_create", "key_revoke"]);

    let again = app
        .call(
            Method::DELETE,
            &format!("/v1/keys/{id}"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(again.status, 204);
    let list = app.get("/v1/keys", Some(&app.admin_key)).await.json();
    let k = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(k["active"], false);
    assert!(k["revoked_at"].is_string());
}

#[tokio::test]
async fn unknown_wrong_and_missing_credentials_get_401() {
    let app = spawn_app().await;
    let (_, secret) = app.create_key("officer", &[]).await;
    let none = app.get("/v1/keys", None).await;
    none.assert_problem(401, "auth.missing");
    assert!(
        none.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // The right id with a wrong secret.
    let mut wrong = secret.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    app.get("/v1/keys", Some(&wrong))
        .await
        .assert_problem(401, "auth.invalid_key");
    // An id nobody has.
    let unknown = format!("bm_aaaaaaaaaaaaa_{}", &secret[17..]);
    app.get("/v1/keys", Some(&unknown))
        .await
        .assert_problem(401, "auth.invalid_key");

    for header in ["Basic Zm9vOmJhcg==", "Bearer", "Bearer nonsense", "bm_x"] {
        let r = app
            .client
            .get(app.url("/v1/keys"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        let reply = crate::helpers::read(r).await;
        assert_eq!(reply.status, 401, "{header}: {}", reply.text);
        let code = reply.json()["code"].as_str().unwrap().to_owned();
        assert!(
            code == "auth.malformed" || code == "auth.missing",
            "{header}: {code}"
        );
    }
}

#[tokio::test]
async fn roles_that_may_not_get_403_before_their_body_is_read() {
    let app = spawn_app().await;
    let (_, service) = app.create_key("service", &["marketing"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    for key in [&service, &officer] {
        app.get("/v1/keys", Some(key))
            .await
            .assert_problem(403, "auth.forbidden");
        // A malformed body is not even looked at: the role check comes first.
        app.post("/v1/keys", Some(key), json!({"nonsense": true}))
            .await
            .assert_problem(403, "auth.forbidden");
        app.call(Method::DELETE, "/v1/keys/aaaaaaaaaaaaa", Some(key), None)
            .await
            .assert_problem(403, "auth.forbidden");
    }
    // Only service keys mint subject tokens.
    for key in [&app.admin_key, &officer] {
        app.post("/v1/subject-tokens", Some(key), json!({"subject_id": "u1"}))
            .await
            .assert_problem(403, "auth.forbidden");
    }
}

#[tokio::test]
async fn key_requests_are_validated_and_nothing_is_written_on_error() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"name": "", "role": "officer"}),
            422,
            "request.invalid_field",
        ),
        (
            json!({"name": "x".repeat(65), "role": "officer"}),
            422,
            "request.invalid_field",
        ),
        (
            json!({"name": "a\u{7}b", "role": "officer"}),
            422,
            "request.invalid_field",
        ),
        (
            json!({"name": "svc", "role": "service"}),
            422,
            "request.invalid_field",
        ),
        (
            json!({"name": "svc", "role": "service", "purposes": ["Bad Purpose"]}),
            422,
            "request.invalid_field",
        ),
        (
            json!({"name": "adm", "role": "admin", "purposes": ["x"]}),
            422,
            "request.invalid_field",
        ),
        (
            json!({"name": "r", "role": "root"}),
            422,
            "request.invalid_body",
        ),
        (
            json!({"name": "r", "role": "officer", "extra": 1}),
            422,
            "request.invalid_body",
        ),
        (json!({"role": "officer"}), 422, "request.invalid_body"),
    ];
    for (body, status, code) in cases {
        app.post("/v1/keys", Some(&app.admin_key), body.clone())
            .await
            .assert_problem(status, code);
    }
    let list = app.get("/v1/keys", Some(&app.admin_key)).await.json();
    assert_eq!(
        list["keys"].as_array().unwrap().len(),
        1,
        "only the bootstrap key"
    );
}

#[tokio::test]
async fn the_last_admin_key_cannot_be_revoked() {
    let app = spawn_app().await;
    let list = app.get("/v1/keys", Some(&app.admin_key)).await.json();
    let bootstrap_id = list["keys"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/keys/{bootstrap_id}");
    app.call(Method::DELETE, &path, Some(&app.admin_key), None)
        .await
        .assert_problem(409, "keys.last_admin");

    // With a second admin the first can go, and the second still cannot.
    let (second_id, second) = app.create_key("admin", &[]).await;
    let r = app.call(Method::DELETE, &path, Some(&second), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.call(
        Method::DELETE,
        &format!("/v1/keys/{second_id}"),
        Some(&second),
        None,
    )
    .await
    .assert_problem(409, "keys.last_admin");
    app.get("/v1/keys", Some(&app.admin_key))
        .await
        .assert_problem(401, "auth.invalid_key");
}

#[tokio::test]
async fn revoking_unknown_or_malformed_ids() {
    let app = spawn_app().await;
    app.call(
        Method::DELETE,
        "/v1/keys/aaaaaaaaaaaaa",
        Some(&app.admin_key),
        None,
    )
    .await
    .assert_problem(404, "keys.not_found");
    let long = "a".repeat(300);
    app.call(
        Method::DELETE,
        &format!("/v1/keys/{long}"),
        Some(&app.admin_key),
        None,
    )
    .await
    .assert_problem(404, "keys.not_found");
    app.call(
        Method::DELETE,
        "/v1/keys/%0Aabc",
        Some(&app.admin_key),
        None,
    )
    .await
    .assert_problem(404, "keys.not_found");
}

/// A flood of made-up key ids churns the cache of absences only: a real key's record stays
/// cached through it, so real keys are not sent to the database behind the flood. (The key
/// is revoked behind the server's back, in the database: only a record still cached lets
/// it in.)
#[tokio::test]
async fn a_flood_of_unknown_key_ids_leaves_real_keys_cached() {
    let app = spawn_app_with(|c| c.auth_cache_ttl_secs = 3600).await;
    let (id, officer) = app.create_key("officer", &[]).await;
    assert_eq!(
        app.get("/v1/audit/events?limit=1", Some(&officer))
            .await
            .status,
        200
    );

    // More made-up ids than the absences kept (10,000), so that they are dropped at least
    // once, from 32 callers at a time.
    let secret = "A".repeat(43);
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..32 {
        let (client, url, secret) = (app.client.clone(), app.url("/v1/keys"), secret.clone());
        callers.spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..315 {
                let key = format!("bm_{:013}_{secret}", caller * 1000 + n);
                let reply = crate::helpers::send(client.get(&url).bearer_auth(key)).await;
                statuses.push((reply.status.as_u16(), reply.json()["code"].clone()));
            }
            statuses
        });
    }
    let mut flooded = 0;
    while let Some(statuses) = callers.join_next().await {
        for (status, code) in statuses.unwrap() {
            assert_eq!((status, code), (401, json!("auth.invalid_key")));
            flooded += 1;
        }
    }
    assert_eq!(flooded, 10_080);

    app.db
        .execute(&format!(
            "UPDATE api_keys SET revoked_at = created_at WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(
        app.get("/v1/audit/events?limit=1", Some(&officer))
            .await
            .status,
        200,
        "the real key's record stayed cached through the flood"
    );
}
