//! Every class of bad request gets `application/problem+json` with a stable code, and none
//! of them echoes what was sent.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{read, spawn_app, spawn_app_with};

const SEEDED_ID_NUMBER: &str = "110101199003077777";

#[tokio::test]
async fn malformed_json_wrong_types_and_media_types() {
    let app = spawn_app().await;
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/v1/keys"))
            .bearer_auth(&app.admin_key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    read(send("{\"name\": ", "application/json").await.unwrap())
        .await
        .assert_problem(400, "request.malformed_json");
    read(
        send(
            "{\"name\":\"a\",\"role\":\"officer\"} trailing",
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await
    .assert_problem(400, "request.malformed_json");
    read(send("[]", "application/json").await.unwrap())
        .await
        .assert_problem(422, "request.invalid_body");
    read(
        send("name=a", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
    )
    .await
    .assert_problem(415, "request.unsupported_media_type");
    let no_type = app
        .client
        .post(app.url("/v1/keys"))
        .bearer_auth(&app.admin_key)
        .body("{}")
        .send()
        .await
        .unwrap();
    read(no_type)
        .await
        .assert_problem(415, "request.unsupported_media_type");
}

#[tokio::test]
async fn errors_never_echo_the_values_sent() {
    let app = spawn_app().await;
    for (body, code) in [
        (
            json!({"name": "x", "role": SEEDED_ID_NUMBER}),
            "request.invalid_body",
        ),
        (
            json!({"name": 13800138000_u64, "role": "officer"}),
            "request.invalid_body",
        ),
        (
            json!({"name": "x", "role": "service", "purposes": [SEEDED_ID_NUMBER.to_owned() + "X"]}),
            "request.invalid_field",
        ),
        (
            json!({"name": ["x", SEEDED_ID_NUMBER], "role": "officer"}),
            "request.invalid_body",
        ),
        (
            json!({"name": "x", "role": "officer", SEEDED_ID_NUMBER: 1}),
            "request.invalid_body",
        ),
    ] {
        let reply = app.post("/v1/keys", Some(&app.admin_key), body).await;
        reply.assert_problem(422, code);
        assert!(!reply.text.contains(SEEDED_ID_NUMBER), "{}", reply.text);
        assert!(!reply.text.contains("13800138000"), "{}", reply.text);
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_and_write_nothing() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let big = json!({"name": "x".repeat(5000), "role": "officer"});
    app.post("/v1/keys", Some(&app.admin_key), big)
        .await
        .assert_problem(413, "request.too_large");
    let list = app.get("/v1/keys", Some(&app.admin_key)).await.json();
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
}

/// A body declared larger than the limit is refused at once, before it is read: the
/// client that sends 64 KiB of a declared 200 MB is answered, not held.
#[tokio::test]
async fn a_declared_oversize_body_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n",
        app.addr, app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; 64 * 1024]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered at once, not after the time limit")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("request.too_large"), "{answer}");
}

/// Text holding a NUL character is refused the same way on SQLite and PostgreSQL (which
/// cannot store it): 422 naming the field in a body, 400 in a path or a query string, and
/// nothing is written. Problem responses carry one `Content-Type`.
#[tokio::test]
async fn nul_characters_are_refused_alike_on_both_backends() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let grant = json!({"purpose": "kyc", "channel": "app\u{0}", "evidence": "tap"});
    let r = app
        .post("/v1/subjects/u1/consents", Some(&key), grant)
        .await;
    let body = r.assert_problem(422, "request.invalid_body");
    assert!(
        body["detail"].as_str().unwrap().contains("`channel`"),
        "{body}"
    );
    assert_eq!(r.headers.get_all("content-type").iter().count(), 1);
    let nested = json!({"purpose": "kyc", "channel": "app", "evidence": "tap",
        "notice": {"id": "n\u{0}", "version": 1}});
    app.post("/v1/subjects/u1/consents", Some(&key), nested)
        .await
        .assert_problem(422, "request.invalid_body");
    assert_eq!(app.db.count("SELECT COUNT(*) FROM consent_events").await, 0);

    for path in [
        "/v1/requests/req_%00",
        "/v1/consent/receipts/cev_%00",
        "/v1/policies/x%00",
    ] {
        app.get(path, Some(&app.admin_key))
            .await
            .assert_problem(400, "request.invalid_path");
    }
    app.get("/v1/audit/events?actor=a%00b", Some(&app.admin_key))
        .await
        .assert_problem(400, "request.invalid_query");
}

/// A field named after a PI type holds a value of that type: a 15-digit "mobile number" is
/// refused by name (nothing stored, nothing quoted) unless the platform says the field is
/// free-form; encrypt answers per item.
#[tokio::test]
async fn typed_fields_are_checked_on_write() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let bad = "139123456789999";
    let r = app
        .call(
            Method::PUT,
            "/v1/subjects/u1/data",
            Some(&key),
            Some(json!({"fields": {"mobile": bad, "name": "张三"}})),
        )
        .await;
    let body = r.assert_problem(422, "vault.invalid_value");
    assert!(
        body["detail"].as_str().unwrap().contains("fields.mobile"),
        "{body}"
    );
    assert!(!r.text.contains(bad));
    assert_eq!(app.db.count("SELECT COUNT(*) FROM subject_fields").await, 0);
    let r = app
        .call(
            Method::PUT,
            "/v1/subjects/u1/data",
            Some(&key),
            Some(json!({"fields": {"mobile": bad}, "free_form": ["mobile"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = app
        .post(
            "/v1/encrypt",
            Some(&key),
            json!({"items": [
                {"subject_id": "u1", "field": "mobile", "value": bad},
                {"subject_id": "u1", "field": "mobile", "value": bad, "free_form": true},
                {"subject_id": "u1", "field": "mobile", "value": "+86 138 0013 8000"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json()["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 3);
    assert_eq!(items[0]["error"]["code"], "vault.invalid_value");
    assert!(items[1]["ciphertext"].is_string());
    assert!(items[2]["ciphertext"].is_string());
    assert!(!r.text.contains(bad));
}

/// A policy naming an operator that does not exist is refused by its place, not its value.
#[tokio::test]
async fn a_bad_policy_is_refused_without_quoting_it() {
    let app = spawn_app().await;
    let policy = json!({"rules": [{"types": {"CN_MOBILE": {"op": SEEDED_ID_NUMBER}}}]});
    let r = app
        .call(
            Method::PUT,
            "/v1/policies/x",
            Some(&app.admin_key),
            Some(policy),
        )
        .await;
    let body = r.assert_problem(422, "masking.invalid_policy");
    assert!(!r.text.contains(SEEDED_ID_NUMBER), "{}", r.text);
    assert!(
        body["detail"].as_str().unwrap().contains("rules[0]"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = spawn_app().await;
    app.get("/v1/nothing-here", None)
        .await
        .assert_problem(404, "request.not_found");
    app.get("/", None)
        .await
        .assert_problem(404, "request.not_found");
    app.call(Method::PUT, "/healthz", None, None)
        .await
        .assert_problem(405, "request.method_not_allowed");
    app.call(Method::PATCH, "/v1/keys", Some(&app.admin_key), None)
        .await
        .assert_problem(405, "request.method_not_allowed");
}

#[tokio::test]
async fn operator_and_request_id_headers_are_validated() {
    let app = spawn_app().await;
    let get = |headers: Vec<(&'static str, Vec<u8>)>| {
        let mut req = app
            .client
            .get(app.url("/v1/keys"))
            .bearer_auth(&app.admin_key);
        for (name, value) in headers {
            req = req.header(
                name,
                reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
            );
        }
        req.send()
    };
    // A valid operator, in Chinese, and a caller-chosen request id are accepted and echoed.
    let ok = read(
        get(vec![
            ("x-baomi-operator", "客服-王".as_bytes().to_vec()),
            ("x-request-id", b"trace-42.a_b".to_vec()),
        ])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.headers["x-request-id"], "trace-42.a_b");

    for bad in [
        "a".repeat(129).into_bytes(),
        b"agent\t7".to_vec(),
        vec![0xff, 0xfe],
    ] {
        let reply = read(get(vec![("x-baomi-operator", bad)]).await.unwrap()).await;
        reply.assert_problem(400, "request.invalid_operator");
    }
    for bad in [
        "a".repeat(65),
        "has space".to_owned(),
        "semi;colon".to_owned(),
    ] {
        let reply = read(get(vec![("x-request-id", bad.into_bytes())]).await.unwrap()).await;
        reply.assert_problem(400, "request.invalid_request_id");
        // The bad id is not echoed; a fresh one is made.
        assert_eq!(reply.headers["x-request-id"].len(), 24);
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app.get("/healthz", None).await;
    let b = app.get("/healthz", None).await;
    let ida = a.headers["x-request-id"].to_str().unwrap();
    let idb = b.headers["x-request-id"].to_str().unwrap();
    assert_eq!(ida.len(), 24);
    assert_ne!(ida, idb);
}

#[tokio::test]
async fn a_corrupt_record_is_a_500_that_says_nothing_of_it() {
    let app = spawn_app().await;
    app.create_key("officer", &[]).await;
    let changed = app
        .db
        .execute("UPDATE api_keys SET purposes = '{\"not\": \"a list\"}' WHERE role = 'officer'")
        .await;
    assert_eq!(changed, 1);
    let reply = app.get("/v1/keys", Some(&app.admin_key)).await;
    let body = reply.assert_problem(500, "internal");
    assert!(!reply.text.contains("purposes"), "{}", reply.text);
    assert!(body["detail"].as_str().unwrap().contains("request id"));
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_503() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|c| c.request_timeout_secs = 1).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"na",
        app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("answered within the limit")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    assert!(
        response.contains("\"code\":\"request.timeout\""),
        "{response}"
    );
}

#[tokio::test]
async fn a_struct_is_read_from_an_object_never_from_an_array() {
    let app = spawn_app().await;
    let (id, _) = app.create_key("service", &["marketing"]).await;
    let grants = || async {
        app.get("/v1/keys", Some(&app.admin_key)).await.json()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .unwrap()["grants"]
            .clone()
    };
    let before = grants().await;
    assert!(!before.as_array().unwrap().is_empty());
    // serde alone reads `[]` as a struct with every field at its default: no grants.
    let put = |body: &'static str| {
        app.client
            .put(app.url(&format!("/v1/keys/{id}/grants")))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    read(put("[]").await.unwrap())
        .await
        .assert_problem(422, "request.invalid_body");
    read(
        put(r#"{"grants":[["marketing",["plain"]]]}"#)
            .await
            .unwrap(),
    )
    .await
    .assert_problem(422, "request.invalid_body");
    let after = grants().await;
    assert_eq!(
        after, before,
        "a refused change leaves the grants as they were"
    );
    let patch = app
        .call(
            Method::PATCH,
            "/v1/keyrings/default",
            Some(&app.admin_key),
            Some(json!([null, null])),
        )
        .await;
    patch.assert_problem(422, "request.invalid_body");
}

#[tokio::test]
async fn whole_numbers_may_be_written_with_a_fraction() {
    let app = spawn_app().await;
    // JSON has one kind of number, and JSON Schema calls 30.0 an integer.
    let created = app
        .post(
            "/v1/keyrings",
            Some(&app.admin_key),
            json!({"name": "whole", "rotation_period_days": 30.0}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["rotation_period_days"], 30);
    app.post(
        "/v1/keyrings",
        Some(&app.admin_key),
        json!({"name": "fraction", "rotation_period_days": 30.5}),
    )
    .await
    .assert_problem(422, "request.invalid_body");
}

#[tokio::test]
async fn pages_and_filters_refuse_what_the_document_refuses() {
    let app = spawn_app().await;
    let (_, officer) = app.create_key("officer", &["marketing"]).await;
    app.get("/v1/audit/events?cursor=-1", Some(&officer))
        .await
        .assert_problem(400, "request.invalid_query");
    app.get("/v1/audit/events?limit=0", Some(&officer))
        .await
        .assert_problem(422, "request.invalid_field");
    // `overdue` no longer hides a status that is not one.
    app.get("/v1/requests?status=&overdue=true", Some(&officer))
        .await
        .assert_problem(422, "request.invalid_field");
    app.get("/v1/requests?status=sideways", Some(&officer))
        .await
        .assert_problem(422, "request.invalid_field");
}

/// Sends raw bytes and returns the status line of the answer.
async fn raw_status(app: &crate::helpers::TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // The server may answer (and close) before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn rejections_made_by_the_http_library_are_as_documented() {
    // hyper answers these before Baomi sees a request, with empty bodies (docs/api.md).
    let app = spawn_app().await;
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    assert!(
        raw_status(&app, huge_header.as_bytes())
            .await
            .contains(" 431 ")
    );
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000));
    assert!(
        raw_status(&app, long_path.as_bytes())
            .await
            .contains(" 414 ")
    );
    let raw_byte = b"GET /v1/\xff HTTP/1.1\r\nHost: x\r\n\r\n";
    assert!(raw_status(&app, raw_byte).await.contains(" 400 "));
    let control = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n";
    assert!(raw_status(&app, control).await.contains(" 400 "));
    // And the server goes on answering.
    assert_eq!(app.get("/healthz", None).await.status, 200);
}

#[tokio::test]
async fn long_paths_and_large_heads_below_the_librarys_limits_get_problems() {
    let app = spawn_app().await;
    let (_, officer) = app.create_key("officer", &["marketing"]).await;
    let long_path = format!("/v1/requests/{}", "a".repeat(33 * 1024));
    app.get(&long_path, Some(&officer))
        .await
        .assert_problem(414, "request.uri_too_long");
    let long_query = format!("/v1/audit/events?operator={}", "b".repeat(33 * 1024));
    let problem = app
        .get(&long_query, Some(&officer))
        .await
        .assert_problem(414, "request.uri_too_long");
    assert!(!problem.to_string().contains("bbbb"), "{problem}");
    // Refused before the key is even looked at: no credential is needed to be told.
    app.get(&long_path, None)
        .await
        .assert_problem(414, "request.uri_too_long");

    let mut request = crate::helpers::client().get(app.url("/v1/audit/events"));
    request = request.bearer_auth(&officer);
    for n in 0..5 {
        request = request.header(format!("x-padding-{n}"), "c".repeat(8 * 1024));
    }
    let problem = crate::helpers::send(request)
        .await
        .assert_problem(431, "request.headers_too_large");
    assert!(!problem.to_string().contains("cccc"), "{problem}");

    // Just under both limits, the request is Baomi's to judge as usual.
    let near = format!("/v1/audit/events?operator={}", "d".repeat(31 * 1024));
    assert_eq!(app.get(&near, Some(&officer)).await.status, 200);
}

#[tokio::test]
async fn masking_refuses_a_malformed_purpose_or_subject() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["marketing"]).await;
    for (body, field) in [
        (json!({"text": "hello", "purpose": ""}), "purpose"),
        (json!({"text": "hello", "subject_id": "a b"}), "subject_id"),
    ] {
        let reply = app.post("/v1/mask", Some(&key), body).await;
        let problem = reply.assert_problem(422, "request.invalid_field");
        assert!(problem["detail"].as_str().unwrap().starts_with(field));
    }
}
