//! Subject tokens: bound to one subject, short-lived, revocable.

use data_encoding::BASE64URL_NOPAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_token_speaks_for_its_subject_only() {
    let app = spawn_app().await;
    let (_, service) = app.create_key("service", &["wealth_advice"]).await;
    let minted = app.mint_token(&service, "alice-01").await;
    let token = minted["token"].as_str().unwrap();
    assert!(token.starts_with("bmst_"));
    assert_eq!(minted["subject_id"], "alice-01");

    let me = app.get("/v1/me", Some(token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["subject_id"], "alice-01");
    assert_eq!(me.json()["token_id"], minted["token_id"]);

    // The token cannot mint a token for bob, nor reach admin calls.
    app.post(
        "/v1/subject-tokens",
        Some(token),
        json!({"subject_id": "bob-02"}),
    )
    .await
    .assert_problem(403, "auth.forbidden");
    app.get("/v1/keys", Some(token))
        .await
        .assert_problem(403, "auth.forbidden");

    // Rewriting the subject inside the token breaks its signature.
    let forged = rewrite_claims(token, |c| c["sub"] = json!("bob-02"));
    app.get("/v1/me", Some(&forged))
        .await
        .assert_problem(401, "auth.invalid_token");
    let stretched = rewrite_claims(token, |c| c["exp"] = json!(4_102_444_800_i64));
    app.get("/v1/me", Some(&stretched))
        .await
        .assert_problem(401, "auth.invalid_token");

    // An API key is not a subject.
    app.get("/v1/me", Some(&service))
        .await
        .assert_problem(403, "auth.forbidden");
}

fn rewrite_claims(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let (payload, tag) = token["bmst_".len()..].split_once('.').unwrap();
    let mut claims: Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap();
    change(&mut claims);
    let payload = BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).unwrap());
    format!("bmst_{payload}.{tag}")
}

#[tokio::test]
async fn expired_tokens_get_401() {
    let app = spawn_app().await;
    let (_, service) = app.create_key("service", &["wealth_advice"]).await;
    let minted = app
        .post(
            "/v1/subject-tokens",
            Some(&service),
            json!({"subject_id": "u1", "ttl_seconds": 1}),
        )
        .await;
    assert_eq!(minted.status, 201, "{}", minted.text);
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.get("/v1/me", Some(&token))
        .await
        .assert_problem(401, "auth.token_expired");
}

#[tokio::test]
async fn revoked_tokens_and_tokens_of_revoked_keys_get_401() {
    let app = spawn_app().await;
    let (service_id, service) = app.create_key("service", &["wealth_advice"]).await;
    let (_, other_service) = app.create_key("service", &["marketing"]).await;
    let first = app.mint_token(&service, "u1").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.mint_token(&service, "u1").await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another service may not revoke this service's tokens; the issuer may.
    app.post(
        "/v1/subject-tokens/revoke",
        Some(&other_service),
        json!({"token": first}),
    )
    .await
    .assert_problem(403, "auth.forbidden");
    let r = app
        .post(
            "/v1/subject-tokens/revoke",
            Some(&service),
            json!({"token": first}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/v1/me", Some(&first))
        .await
        .assert_problem(401, "auth.invalid_token");
    assert_eq!(app.get("/v1/me", Some(&second)).await.status, 200);

    // Revoking the key that minted a token ends the token too.
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/keys/{service_id}"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    app.get("/v1/me", Some(&second))
        .await
        .assert_problem(401, "auth.invalid_token");

    app.post(
        "/v1/subject-tokens/revoke",
        Some(&app.admin_key),
        json!({"token": "bmst_x.y"}),
    )
    .await
    .assert_problem(422, "request.invalid_field");
}

#[tokio::test]
async fn minting_validates_subject_and_lifetime() {
    let app = spawn_app().await;
    let (_, service) = app.create_key("service", &["wealth_advice"]).await;
    for subject in [
        json!(""),
        json!("a".repeat(129)),
        json!("u\n1"),
        json!("13800138000@example.cn"),
        json!("张三"),
    ] {
        app.post(
            "/v1/subject-tokens",
            Some(&service),
            json!({"subject_id": subject}),
        )
        .await
        .assert_problem(422, "request.invalid_field");
    }
    for ttl in [json!(0), json!(86_401)] {
        app.post(
            "/v1/subject-tokens",
            Some(&service),
            json!({"subject_id": "u1", "ttl_seconds": ttl}),
        )
        .await
        .assert_problem(422, "request.invalid_field");
    }
    app.post(
        "/v1/subject-tokens",
        Some(&service),
        json!({"subject_id": "u1", "ttl_seconds": -5}),
    )
    .await
    .assert_problem(422, "request.invalid_body");
}
