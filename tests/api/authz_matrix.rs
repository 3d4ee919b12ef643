//! The authorisation matrix: every route and method of the router, called by every kind of
//! caller, with the status each must get, and documented for that route. A route the router serves without a row here
//! fails the test, and so does a row for a route that does not exist. Every refusal must be
//! problem+json and must not carry any PI value the fixture stored.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ALL_PERMISSIONS, TestApp, contract_purpose, spawn_app};

/// The callers, in the order of each row's statuses.
const COLUMNS: [&str; 11] = [
    "no credential",
    "revoked key",
    "expired token",
    "admin",
    "officer",
    "service without the purpose",
    "service with the purpose, not the permission or view",
    "service with purpose, permission and view",
    "token of the same subject",
    "token of another subject",
    "token whose issuer lacks the purpose",
];

const MOBILE: &str = "13912345678";
const ID_NUMBER: &str = "11010519491231002X";

/// One row: a route, the request sent to it (placeholders in braces are filled per cell,
/// see [`Fixture::fill`]), and the status per column.
struct Row {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    expect: &'static str,
}

const fn row(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    expect: &'static str,
) -> Row {
    Row {
        method,
        route,
        path,
        body,
        expect,
    }
}

// Columns: none revoked expired admin officer svc-without svc-partial svc-full token-same
// token-other token-issuer-lacks.
const ANY_KEY: &str = "401 401 401 200 200 200 200 200 403 403 403";
const ADMIN: &str = "401 401 401 200 403 403 403 403 403 403 403";
const OFFICERS: &str = "401 401 401 200 200 403 403 403 403 403 403";
const PUBLIC: &str = "200 200 200 200 200 200 200 200 200 200 200";
const TOKENS: &str = "401 401 401 403 403 403 403 403 200 200 200";
const READ_PLAIN: &str = "401 401 401 403 403 403 403 200 403 403 403";

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // keys and tokens
    row("post", "/v1/keys", "/v1/keys", Some(r#"{"name":"k","role":"officer"}"#), "401 401 401 201 403 403 403 403 403 403 403"),
    row("get", "/v1/keys", "/v1/keys", None, ADMIN),
    row("delete", "/v1/keys/{id}", "/v1/keys/{fresh_key}", None, "401 401 401 204 403 403 403 403 403 403 403"),
    row("put", "/v1/keys/{id}/grants", "/v1/keys/{fresh_key}/grants", Some(r#"{"purposes":["mkt"]}"#), ADMIN),
    row("post", "/v1/keys/{id}/quota-raises", "/v1/keys/{fresh_service_key}/quota-raises",
        Some(r#"{"purpose":"loan","quota":{"key":{"subjects_per_day":10}},"reason":"matrix","seconds":60}"#), ADMIN),
    row("delete", "/v1/keys/{id}/quota-raises/{purpose}", "/v1/keys/{raised_key}/quota-raises/loan", None,
        "401 401 401 204 403 403 403 403 403 403 403"),
    row("post", "/v1/subject-tokens", "/v1/subject-tokens", Some(r#"{"subject_id":"u-1"}"#), "401 401 401 403 403 201 403 201 403 403 403"),
    row("post", "/v1/subject-tokens/revoke", "/v1/subject-tokens/revoke", Some(r#"{"token":"{fresh_token}"}"#), "401 401 401 204 403 403 403 204 403 403 403"),
    row("get", "/v1/me", "/v1/me", None, TOKENS),
    // stateless vault
    row("post", "/v1/encrypt", "/v1/encrypt", Some(r#"{"items":[{"subject_id":"u-1","field":"mobile","value":"13912345678"}]}"#), "401 401 401 403 403 200 200 200 403 403 403"),
    row("post", "/v1/decrypt", "/v1/decrypt", Some(r#"{"purpose":"loan","view":"plain","items":[{"subject_id":"u-1","field":"mobile","ciphertext":"{ciphertext}"}]}"#), READ_PLAIN),
    row("post", "/v1/rewrap", "/v1/rewrap", Some(r#"{"items":[{"subject_id":"u-1","field":"mobile","ciphertext":"{ciphertext}"}]}"#), "401 401 401 403 403 200 200 200 403 403 403"),
    row("delete", "/v1/subjects/{id}", "/v1/subjects/{fresh_subject}?tombstone=true", None, "401 401 401 200 403 200 403 200 403 403 403"),
    row("get", "/v1/subjects/{id}/erasure-certificate", "/v1/subjects/u-9/erasure-certificate", None, "401 401 401 200 200 200 403 200 403 403 403"),
    // stored vault
    row("put", "/v1/subjects/{id}/data", "/v1/subjects/{fresh_subject}/data", Some(r#"{"fields":{"mobile":"13912345678"}}"#), "401 401 401 403 403 200 403 200 403 403 403"),
    row("post", "/v1/store", "/v1/store", Some(r#"{"subjects":[{"subject_id":"{fresh_subject}","fields":{"mobile":"13912345678"}}]}"#), "401 401 401 403 403 200 403 200 403 403 403"),
    row("get", "/v1/subjects/{id}/data", "/v1/subjects/u-1/data?purpose=loan&view=plain", None, READ_PLAIN),
    row("post", "/v1/detokenize", "/v1/detokenize", Some(r#"{"purpose":"loan","view":"plain","tokens":["{field_token}"]}"#), READ_PLAIN),
    row("post", "/v1/search", "/v1/search", Some(r#"{"purpose":"loan","field":"mobile","value":"13912345678"}"#), "401 401 401 403 403 403 200 200 403 403 403"),
    // keyrings
    row("post", "/v1/keyrings", "/v1/keyrings", Some(r#"{"name":"{fresh_name}"}"#), "401 401 401 201 403 403 403 403 403 403 403"),
    row("get", "/v1/keyrings", "/v1/keyrings", None, "401 401 401 200 403 200 200 200 403 403 403"),
    row("get", "/v1/keyrings/{name}", "/v1/keyrings/default", None, "401 401 401 200 403 200 200 200 403 403 403"),
    row("patch", "/v1/keyrings/{name}", "/v1/keyrings/default", Some(r#"{"rotation_period_days":90}"#), ADMIN),
    row("post", "/v1/keyrings/{name}/rotate", "/v1/keyrings/default/rotate", None, ADMIN),
    // masking
    row("put", "/v1/policies/{name}", "/v1/policies/screens", Some(r#"{"rules":[]}"#), ADMIN),
    row("get", "/v1/policies/{name}", "/v1/policies/screens", None, ANY_KEY),
    row("get", "/v1/policies", "/v1/policies", None, ANY_KEY),
    row("post", "/v1/detect", "/v1/detect", Some(r#"{"text":"hello"}"#), ANY_KEY),
    row("post", "/v1/mask", "/v1/mask", Some(r#"{"text":"hello"}"#), ANY_KEY),
    // consent
    row("put", "/v1/purposes/{id}", "/v1/purposes/{fresh_name}", Some("{purpose}"), ADMIN),
    row("get", "/v1/purposes", "/v1/purposes", None, ANY_KEY),
    row("get", "/v1/field-catalogue", "/v1/field-catalogue", None, ANY_KEY),
    row("put", "/v1/field-catalogue", "/v1/field-catalogue", Some(r#"{"fields":{}}"#), ADMIN),
    row("put", "/v1/notices/{id}", "/v1/notices/privacy", Some(r#"{"language":"zh-CN","text":"notice","purposes":["mkt"]}"#), ADMIN),
    row("post", "/v1/subjects/{id}/consents", "/v1/subjects/u-1/consents", Some(r#"{"purpose":"mkt","channel":"app","evidence":"tap"}"#), "401 401 401 403 403 403 403 201 201 403 403"),
    row("get", "/v1/subjects/{id}/consents", "/v1/subjects/u-1/consents", None, "401 401 401 200 200 200 200 200 200 403 403"),
    row("delete", "/v1/subjects/{id}/consents/{purpose}", "/v1/subjects/u-1/consents/mkt", None, "401 401 401 403 403 403 403 200 200 403 403"),
    row("get", "/v1/me/consents", "/v1/me/consents", None, TOKENS),
    row("post", "/v1/me/consents", "/v1/me/consents", Some(r#"{"purpose":"mkt","channel":"app","evidence":"tap"}"#), "401 401 401 403 403 403 403 403 201 201 403"),
    row("delete", "/v1/me/consents/{purpose}", "/v1/me/consents/mkt", None, TOKENS),
    row("post", "/v1/consent/decisions", "/v1/consent/decisions", Some(r#"{"subject_id":"u-1","purpose":"mkt"}"#), "401 401 401 403 403 403 200 200 403 403 403"),
    row("get", "/v1/consent/receipts/{id}", "/v1/consent/receipts/{receipt}", None, "401 401 401 200 200 403 200 200 200 404 404"),
    // rights requests
    row("post", "/v1/me/requests", "/v1/me/requests", Some(r#"{"kind":"{fresh_kind}"}"#), "401 401 401 403 403 403 403 403 201 201 201"),
    row("get", "/v1/me/requests", "/v1/me/requests", None, TOKENS),
    row("get", "/v1/me/export", "/v1/me/export", None, "401 401 401 403 403 403 403 403 200 200 403"),
    row("get", "/v1/me/access-log", "/v1/me/access-log", None, "401 401 401 403 403 403 403 403 200 200 403"),
    row("get", "/v1/requests", "/v1/requests", None, OFFICERS),
    row("get", "/v1/requests/{id}", "/v1/requests/{request}", None, OFFICERS),
    row("post", "/v1/requests/{id}/approve", "/v1/requests/{fresh_request}/approve", None, OFFICERS),
    row("post", "/v1/requests/{id}/close", "/v1/requests/{fresh_request}/close", Some(r#"{"status":"rejected","resolution":"not ours"}"#), OFFICERS),
    // audit
    row("get", "/v1/audit/checkpoint", "/v1/audit/checkpoint", None, OFFICERS),
    row("get", "/v1/audit/keys", "/v1/audit/keys", None, OFFICERS),
    row("post", "/v1/audit/keys/rotate", "/v1/audit/keys/rotate", None, ADMIN),
    row("get", "/v1/audit/events", "/v1/audit/events", None, OFFICERS),
    row("get", "/v1/audit/events/{seq}", "/v1/audit/events/1", None, OFFICERS),
    row("get", "/v1/audit/proofs/inclusion", "/v1/audit/proofs/inclusion?seq=1", None, OFFICERS),
    row("get", "/v1/audit/proofs/consistency", "/v1/audit/proofs/consistency?from=1&to=1", None, OFFICERS),
    row("get", "/v1/audit/export", "/v1/audit/export", None, OFFICERS),
    row("get", "/v1/audit/alerts", "/v1/audit/alerts", None, OFFICERS),
    // operations
    row("get", "/healthz", "/healthz", None, PUBLIC),
    row("get", "/readyz", "/readyz", None, PUBLIC),
    row("get", "/metrics", "/metrics", None, PUBLIC),
    row("get", "/openapi.json", "/openapi.json", None, PUBLIC),
    row("get", "/docs", "/docs", None, PUBLIC),
];

/// The callers and the data every cell works on.
struct Fixture {
    credentials: [Option<String>; 11],
    full_key: String,
    ciphertext: String,
    field_token: String,
    receipt: String,
    counter: std::cell::Cell<u32>,
}

impl Fixture {
    async fn new(app: &TestApp) -> Self {
        let admin = app.admin_key.clone();
        for (id, purpose) in [
            ("loan", contract_purpose()),
            ("other", contract_purpose()),
            (
                "mkt",
                json!({"description": "marketing", "legal_basis": "consent",
                       "categories": [{"name": "mobile", "sensitive": false, "level": "C2"}],
                       "retention_days": 30}),
            ),
        ] {
            let r = app
                .call(
                    Method::PUT,
                    &format!("/v1/purposes/{id}"),
                    Some(&admin),
                    Some(purpose),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let (_, officer) = app
            .create_key_with(json!({"name": "o", "role": "officer", "purposes": ["mkt"]}))
            .await;
        let (_, without) = app
            .create_key_with(json!({"name": "without", "role": "service",
                "grants": [{"purpose": "other", "views": ["masked", "plain"]}],
                "permissions": ALL_PERMISSIONS}))
            .await;
        let (_, partial) = app
            .create_key_with(
                json!({"name": "partial", "role": "service", "purposes": ["loan", "mkt"]}),
            )
            .await;
        let (_, full) = app
            .create_key_with(json!({"name": "full", "role": "service",
                "grants": [{"purpose": "loan", "views": ["masked", "plain"]},
                           {"purpose": "mkt", "views": ["masked", "plain"]}],
                "permissions": ALL_PERMISSIONS}))
            .await;
        let (revoked_id, revoked) = app
            .create_key_with(json!({"name": "gone", "role": "service", "purposes": ["loan"]}))
            .await;
        let r = app
            .call(
                Method::DELETE,
                &format!("/v1/keys/{revoked_id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, 204);

        // The subject u-1's data, a ciphertext, a stored token and a consent receipt.
        let stored = app
            .call(
                Method::PUT,
                "/v1/subjects/u-1/data",
                Some(&full),
                Some(json!({"fields": {"mobile": MOBILE, "id_number": ID_NUMBER}, "searchable": ["mobile"]})),
            )
            .await;
        assert_eq!(stored.status, 200, "{}", stored.text);
        let field_token = stored.json()["tokens"]["mobile"]
            .as_str()
            .unwrap()
            .to_owned();
        let sealed = app
            .post(
                "/v1/encrypt",
                Some(&full),
                json!({"items": [{"subject_id": "u-1", "field": "mobile", "value": MOBILE}]}),
            )
            .await;
        let ciphertext = sealed.json()["items"][0]["ciphertext"]
            .as_str()
            .unwrap()
            .to_owned();
        let granted = app
            .post(
                "/v1/subjects/u-1/consents",
                Some(&full),
                json!({"purpose": "mkt", "channel": "app", "evidence": "tap"}),
            )
            .await;
        assert_eq!(granted.status, 201, "{}", granted.text);
        let receipt = granted.json()["id"].as_str().unwrap().to_owned();
        let r = app
            .call(
                Method::PUT,
                "/v1/policies/screens",
                Some(&admin),
                Some(json!({"rules": []})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);

        // An erased subject, whose certificate a checkpoint covers after the wait below.
        let erased = app
            .call(
                Method::DELETE,
                "/v1/subjects/u-9?tombstone=true",
                Some(&full),
                None,
            )
            .await;
        assert_eq!(erased.status, 200, "{}", erased.text);

        let token = |key: String, subject: &'static str, ttl: u64| {
            let app = &app;
            async move {
                let r = app
                    .post(
                        "/v1/subject-tokens",
                        Some(&key),
                        json!({"subject_id": subject, "ttl_seconds": ttl}),
                    )
                    .await;
                assert_eq!(r.status, 201, "{}", r.text);
                r.json()["token"].as_str().unwrap().to_owned()
            }
        };
        let expired = token(full.clone(), "u-1", 1).await;
        let same = token(full.clone(), "u-1", 900).await;
        let other = token(full.clone(), "u-2", 900).await;
        // A key that holds only `other` (not `mkt`), and not self-service.
        let (_, narrow) = app
            .create_key_with(
                json!({"name": "narrow", "role": "service", "purposes": ["other"],
                "permissions": ["mint_subject_tokens"]}),
            )
            .await;
        let lacking = token(narrow, "u-3", 900).await;
        // The expired token's second has passed, and the checkpoint of every second has
        // signed the trail with the erasure.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        Self {
            credentials: [
                None,
                Some(revoked),
                Some(expired),
                Some(admin),
                Some(officer),
                Some(without),
                Some(partial),
                Some(full.clone()),
                Some(same),
                Some(other),
                Some(lacking),
            ],
            full_key: full,
            ciphertext,
            field_token,
            receipt,
            counter: std::cell::Cell::new(0),
        }
    }

    fn next(&self) -> u32 {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }

    /// Fills a path or body's placeholders, making fresh objects where a cell changes one.
    async fn fill(&self, app: &TestApp, text: &str) -> String {
        let mut out = text
            .replace("{ciphertext}", &self.ciphertext)
            .replace("{field_token}", &self.field_token)
            .replace("{receipt}", &self.receipt);
        if out.contains("{fresh_subject}") {
            out = out.replace("{fresh_subject}", &format!("fresh-{}", self.next()));
        }
        if out.contains("{fresh_name}") {
            out = out.replace("{fresh_name}", &format!("fresh{}", self.next()));
        }
        if out.contains("{purpose}") {
            out = out.replace("{purpose}", &contract_purpose().to_string());
        }
        if out.contains("{fresh_key}") {
            let (id, _) = app
                .create_key_with(json!({"name": "throwaway", "role": "officer"}))
                .await;
            out = out.replace("{fresh_key}", &id);
        }
        if out.contains("{fresh_service_key}") || out.contains("{raised_key}") {
            let (id, _) = app
                .create_key_with(
                    json!({"name": "throwaway", "role": "service", "purposes": ["loan"]}),
                )
                .await;
            if out.contains("{raised_key}") {
                let raised = app
                    .post(
                        &format!("/v1/keys/{id}/quota-raises"),
                        Some(&app.admin_key),
                        json!({"purpose": "loan", "quota": {"key": {"subjects_per_day": 10}},
                               "reason": "matrix", "seconds": 60}),
                    )
                    .await;
                assert_eq!(raised.status, 200, "{}", raised.text);
            }
            out = out
                .replace("{fresh_service_key}", &id)
                .replace("{raised_key}", &id);
        }
        if out.contains("{fresh_token}") {
            let r = app
                .post(
                    "/v1/subject-tokens",
                    Some(&self.full_key),
                    json!({"subject_id": "u-9"}),
                )
                .await;
            out = out.replace("{fresh_token}", r.json()["token"].as_str().unwrap());
        }
        if out.contains("{fresh_kind}") {
            // Each subject may have one pending request of a kind: each cell asks another.
            let kinds = [
                "access",
                "portability",
                "correction",
                "deletion",
                "explanation",
            ];
            out = out.replace("{fresh_kind}", kinds[self.next() as usize % kinds.len()]);
        }
        if out.contains("{request}") || out.contains("{fresh_request}") {
            let subject = format!("req-{}", self.next());
            let token = app
                .post(
                    "/v1/subject-tokens",
                    Some(&self.full_key),
                    json!({"subject_id": subject}),
                )
                .await
                .json()["token"]
                .as_str()
                .unwrap()
                .to_owned();
            let made = app
                .post("/v1/me/requests", Some(&token), json!({"kind": "access"}))
                .await;
            assert_eq!(made.status, 201, "{}", made.text);
            let id = made.json()["id"].as_str().unwrap().to_owned();
            out = out
                .replace("{request}", &id)
                .replace("{fresh_request}", &id);
        }
        out
    }

    /// Puts the state back that a cell may have changed: u-1, u-2 and u-3 consent to `mkt`.
    async fn reset(&self, app: &TestApp) {
        for subject in ["u-1", "u-2", "u-3"] {
            let r = app
                .post(
                    &format!("/v1/subjects/{subject}/consents"),
                    Some(&self.full_key),
                    json!({"purpose": "mkt", "channel": "app", "evidence": "tap"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
}

/// The (method, route) pairs the server documents, which is every route it serves (the
/// router and the document come from one list, see `ops::ROUTES`).
async fn served_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc = app.get("/openapi.json", None).await.json();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_its_grants_say() {
    let app = spawn_app().await;
    let served = served_routes(&app).await;
    let rows: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|r| (r.method.to_owned(), r.route.to_owned()))
        .collect();
    assert_eq!(rows.len(), ROWS.len(), "a route has two rows");
    let missing: Vec<_> = served.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    let stale: Vec<_> = rows.difference(&served).collect();
    assert!(
        stale.is_empty(),
        "rows for routes the server does not have: {stale:?}"
    );

    let doc = app.get("/openapi.json", None).await.json();
    let fx = Fixture::new(&app).await;
    let mut wrong = Vec::new();
    let mut undocumented = BTreeSet::new();
    for r in ROWS {
        let expected: Vec<u16> = r.expect.split(' ').map(|s| s.parse().unwrap()).collect();
        assert_eq!(expected.len(), COLUMNS.len(), "{} {}", r.method, r.route);
        for (column, credential) in fx.credentials.iter().enumerate() {
            if r.route.contains("consents") {
                fx.reset(&app).await;
            }
            let path = fx.fill(&app, r.path).await;
            let body = match r.body {
                None => None,
                Some(b) => Some(serde_json::from_str::<Value>(&fx.fill(&app, b).await).unwrap()),
            };
            let method = Method::from_bytes(r.method.to_uppercase().as_bytes()).unwrap();
            let reply = app.call(method, &path, credential.as_deref(), body).await;
            let got = reply.status.as_u16();
            let documented = &doc["paths"][r.route][r.method]["responses"];
            if documented.get(got.to_string()).is_none() {
                undocumented.insert(format!("{} {} answers {got}", r.method, r.route));
            }
            if got != expected[column] {
                wrong.push(format!(
                    "{} {} as {}: expected {}, got {} {}",
                    r.method,
                    r.route,
                    COLUMNS[column],
                    expected[column],
                    got,
                    reply.text.chars().take(200).collect::<String>()
                ));
                continue;
            }
            if got >= 400 {
                assert_eq!(
                    reply.headers["content-type"], "application/problem+json",
                    "{} {} as {}",
                    r.method, r.route, COLUMNS[column]
                );
                let code = reply.json()["code"].as_str().unwrap_or_default().to_owned();
                assert!(!code.is_empty(), "{} {}: {}", r.method, r.route, reply.text);
                for value in [MOBILE, ID_NUMBER] {
                    assert!(
                        !reply.text.contains(value),
                        "{} {} as {} refused with a PI value: {}",
                        r.method,
                        r.route,
                        COLUMNS[column],
                        reply.text
                    );
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Every status a route gives is in its documented responses, so a generated client
    // knows it.
    assert!(
        undocumented.is_empty(),
        "statuses missing from the OpenAPI document:\n{}",
        undocumented.into_iter().collect::<Vec<_>>().join("\n")
    );
}
