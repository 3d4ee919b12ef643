//! Quotas that contain a stolen key: a key reading past its quota is refused from the next
//! subject on (429 with `Retry-After`), the refusal is in the trail and raises an alert, an
//! admin's break-glass raise lifts the quota for a while and is on the record, and nodes
//! sharing PostgreSQL share one quota.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{OtherNode, Reply, TestApp, send, spawn_app_with};

const PURPOSE: &str = "collection";
const MOBILE: &str = "13912345678";

/// A service key under [`PURPOSE`] with both views and `quota` as its grant's own; returns
/// (id, secret).
async fn key_with_quota(app: &TestApp, quota: Value) -> (String, String) {
    app.declare_purpose_if_missing(PURPOSE).await;
    app.create_key_with(json!({
        "name": "collection partner",
        "role": "service",
        "grants": [{"purpose": PURPOSE, "views": ["masked", "plain"], "quota": quota}],
        "permissions": ["mint_subject_tokens", "self_service"],
    }))
    .await
}

/// Ciphertexts of [`MOBILE`] for subjects `s0`…, made with a key of its own.
async fn ciphertexts(app: &TestApp, n: usize) -> Vec<String> {
    let (_, writer) = app.create_key("service", &[PURPOSE]).await;
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"subject_id": format!("s{i}"), "field": "mobile", "value": MOBILE}))
        .collect();
    let reply = app
        .post("/v1/encrypt", Some(&writer), json!({"items": items}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let items = reply.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), n);
    items
        .iter()
        .map(|i| i["ciphertext"].as_str().unwrap().to_owned())
        .collect()
}

/// Decrypts subject `i`'s ciphertext under [`PURPOSE`] in the plain view, on `node` if
/// given.
async fn read(
    app: &TestApp,
    node: Option<&OtherNode>,
    key: &str,
    ciphertexts: &[String],
    i: usize,
) -> Reply {
    let url = match node {
        Some(n) => n.url("/v1/decrypt"),
        None => app.url("/v1/decrypt"),
    };
    let request = crate::helpers::client().post(url).bearer_auth(key);
    send(request.json(&decrypt_body(PURPOSE, "plain", ciphertexts, i))).await
}

/// A decrypt of subject `i`'s ciphertext under `purpose` in `view`.
fn decrypt_body(purpose: &str, view: &str, ciphertexts: &[String], i: usize) -> Value {
    json!({
        "purpose": purpose,
        "view": view,
        "items": [{"subject_id": format!("s{i}"), "field": "mobile", "ciphertext": ciphertexts[i]}],
    })
}

fn assert_read(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["items"][0]["value"], MOBILE, "{}", reply.text);
}

/// Asserts `reply` is the 429 of `limit` for `scope`, with a `Retry-After` of at most a
/// day, and nothing of the request in it.
fn assert_refused(reply: &Reply, code: &str, limit: &str, scope: &str) {
    let body = reply.assert_problem(429, code);
    assert_eq!(body["limit"], limit, "{}", reply.text);
    assert_eq!(body["scope"], scope);
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert_eq!(body["retry_after"], retry);
    assert!(!reply.text.contains(MOBILE));
}

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let page = app
        .get(
            &format!("/v1/audit/events?{query}&limit=500"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let page = page.json();
    let views = page["events"].as_array().unwrap();
    views.iter().map(|v| v["event"].clone()).collect()
}

/// The subject quota holds on every read of PI, not only decrypt: a stored read, a
/// detokenize and a search that would reach a second subject are refused alike.
#[tokio::test]
async fn every_read_path_counts_against_the_subject_quota() {
    let app = spawn_app_with(|_| {}).await;
    let (_, writer) = app.create_key("service", &[PURPOSE]).await;
    let mut tokens = Vec::new();
    for subject in ["s0", "s1"] {
        let stored = app
            .call(
                Method::PUT,
                &format!("/v1/subjects/{subject}/data"),
                Some(&writer),
                Some(json!({"fields": {"mobile": MOBILE}, "searchable": ["mobile"]})),
            )
            .await;
        assert_eq!(stored.status, 200, "{}", stored.text);
        tokens.push(
            stored.json()["tokens"]["mobile"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (_, key) = key_with_quota(&app, json!({"key": {"subjects_per_day": 1}})).await;
    let stored_read = |subject: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            app.get(
                &format!("/v1/subjects/{subject}/data?purpose={PURPOSE}&view=plain"),
                Some(&key),
            )
            .await
        }
    };
    let first = stored_read("s0").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_refused(
        &stored_read("s1").await,
        "quota.exceeded",
        "subjects_per_day",
        "key",
    );
    let detokenized = app
        .post(
            "/v1/detokenize",
            Some(&key),
            json!({"purpose": PURPOSE, "view": "plain", "tokens": [tokens[1]]}),
        )
        .await;
    assert_refused(&detokenized, "quota.exceeded", "subjects_per_day", "key");
    let searched = app
        .post(
            "/v1/search",
            Some(&key),
            json!({"purpose": PURPOSE, "field": "mobile", "value": MOBILE}),
        )
        .await;
    assert_refused(&searched, "quota.exceeded", "subjects_per_day", "key");
    // The subject already read stays readable.
    assert_eq!(stored_read("s0").await.status, 200);
}

#[tokio::test]
async fn a_key_past_its_subject_quota_is_refused_on_the_record_and_an_officer_alerted() {
    let app = spawn_app_with(|c| {
        c.audit.alerts.evaluate_every_ms = 20;
        c.audit.alerts.bulk_max_subjects = 0;
        c.quotas.refusals_recorded_every_secs = 1;
    })
    .await;
    let sealed = ciphertexts(&app, 8).await;
    let (key_id, key) = key_with_quota(&app, json!({"key": {"subjects_per_day": 5}})).await;
    for i in 0..5 {
        assert_read(&read(&app, None, &key, &sealed, i).await);
    }
    let refused = read(&app, None, &key, &sealed, 5).await;
    assert_refused(&refused, "quota.exceeded", "subjects_per_day", "key");
    assert_read(&read(&app, None, &key, &sealed, 2).await);
    for i in 6..8 {
        let again = read(&app, None, &key, &sealed, i).await;
        assert_refused(&again, "quota.exceeded", "subjects_per_day", "key");
    }

    // The first refusal is in the trail at once, and the alert follows it.
    let denied = events(&app, &format!("actor={key_id}&outcome=denied")).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["action"], "decrypt");
    assert_eq!(denied[0]["outcome"]["code"], "quota.exceeded");
    assert_eq!(denied[0]["purpose"], PURPOSE);
    assert_eq!(denied[0]["fields"], json!(["quota:key:subjects_per_day"]));
    let raised = crate::audit_alerts::alerts_after_evaluation(&app, &app.admin_key).await;
    let quota: Vec<&Value> = raised
        .iter()
        .filter(|a| a["rule"] == "quota_exceeded")
        .collect();
    assert_eq!(quota.len(), 1, "{raised:?}");
    assert_eq!(quota[0]["key"], format!("actor:{key_id}"));
    assert_eq!(quota[0]["detail"]["purpose"], PURPOSE);

    // The two after it are counted, and recorded as one event with their count.
    let mut counted = Vec::new();
    for _ in 0..100 {
        counted = events(&app, &format!("actor={key_id}&outcome=denied")).await;
        if counted.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted.len(), 2, "{counted:?}");
    let later = counted
        .iter()
        .find(|e| e["count"] == 2)
        .expect("one counted event");
    assert_eq!(later["outcome"]["code"], "quota.exceeded");
    let allowed = events(
        &app,
        &format!("actor={key_id}&action=decrypt&outcome=allowed"),
    )
    .await;
    assert_eq!(allowed.len(), 6, "five subjects and one read again");
}

#[tokio::test]
async fn operators_have_their_own_quota_and_requests_per_second_slow_a_key_down() {
    let app = spawn_app_with(|_| {}).await;
    let sealed = ciphertexts(&app, 4).await;
    let (_, key) = key_with_quota(
        &app,
        json!({"key": {"requests_per_second": 1000}, "operator": {"subjects_per_hour": 2}}),
    )
    .await;
    let as_operator = |op: &'static str, i: usize| {
        let body = json!({
            "purpose": PURPOSE,
            "view": "masked",
            "items": [{"subject_id": format!("s{i}"), "field": "mobile", "ciphertext": sealed[i]}],
        });
        send(
            app.client
                .post(app.url("/v1/decrypt"))
                .bearer_auth(&key)
                .header("x-baomi-operator", op)
                .json(&body),
        )
    };
    assert_eq!(as_operator("agent-7", 0).await.status, 200);
    assert_eq!(as_operator("agent-7", 1).await.status, 200);
    let refused = as_operator("agent-7", 2).await;
    assert_refused(&refused, "quota.exceeded", "subjects_per_hour", "operator");
    assert_eq!(
        as_operator("agent-9", 2).await.status,
        200,
        "another operator"
    );

    // A key allowed two requests a second gets the third refused, and is served again the
    // next second.
    let (_, slow) = key_with_quota(&app, json!({"key": {"requests_per_second": 2}})).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(read(&app, None, &slow, &sealed, 3).await);
    }
    let limited: Vec<&Reply> = statuses.iter().filter(|r| r.status == 429).collect();
    assert!(!limited.is_empty(), "six requests at once, two a second");
    assert_refused(
        limited[0],
        "quota.rate_limited",
        "requests_per_second",
        "key",
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_read(&read(&app, None, &slow, &sealed, 3).await);
}

/// With no quota of its own in the grant, a key gets `[quotas.key]`'s: here three fields in
/// the plain view a day. Each purpose counts apart, and the masked view does not count.
#[tokio::test]
async fn plain_fields_per_day_come_from_the_defaults_and_count_per_purpose() {
    let app = spawn_app_with(|c| c.quotas.key.plain_fields_per_day = 3).await;
    let sealed = ciphertexts(&app, 5).await;
    let other_purpose = "billing";
    app.declare_purpose_if_missing(other_purpose).await;
    let (_, key) = app
        .create_key_with(json!({
            "name": "default quotas",
            "role": "service",
            "grants": [
                {"purpose": PURPOSE, "views": ["masked", "plain"]},
                {"purpose": other_purpose, "views": ["masked", "plain"]},
            ],
        }))
        .await;
    for i in 0..3 {
        assert_read(&read(&app, None, &key, &sealed, i).await);
    }
    let refused = read(&app, None, &key, &sealed, 3).await;
    assert_refused(&refused, "quota.exceeded", "plain_fields_per_day", "key");
    // A subject read before is still a field shown in plain: it counts again.
    let again = read(&app, None, &key, &sealed, 0).await;
    assert_refused(&again, "quota.exceeded", "plain_fields_per_day", "key");

    let as_key = |body: Value| {
        send(
            app.client
                .post(app.url("/v1/decrypt"))
                .bearer_auth(&key)
                .json(&body),
        )
    };
    let masked = as_key(decrypt_body(PURPOSE, "masked", &sealed, 3)).await;
    assert_eq!(masked.status, 200, "{}", masked.text);
    let shown = masked.json()["items"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(shown, MOBILE, "masked");
    let elsewhere = as_key(decrypt_body(other_purpose, "plain", &sealed, 3)).await;
    assert_read(&elsewhere);

    let denied = events(&app, "action=decrypt&outcome=denied").await;
    let quota_fields: Vec<&Value> = denied
        .iter()
        .filter(|e| e["purpose"] == PURPOSE)
        .flat_map(|e| e["fields"].as_array().into_iter().flatten())
        .collect();
    assert!(
        quota_fields.contains(&&json!("quota:key:plain_fields_per_day")),
        "{denied:?}"
    );
}

#[tokio::test]
async fn break_glass_raises_a_quota_for_a_while_and_is_on_the_record() {
    let app = spawn_app_with(|_| {}).await;
    let sealed = ciphertexts(&app, 7).await;
    let (key_id, key) = key_with_quota(&app, json!({"key": {"subjects_per_day": 2}})).await;
    assert_read(&read(&app, None, &key, &sealed, 0).await);
    assert_read(&read(&app, None, &key, &sealed, 1).await);
    assert_eq!(read(&app, None, &key, &sealed, 2).await.status, 429);

    // Only an admin raises, for a purpose the key holds, with a reason and an end.
    let reason = "month-end reconciliation, ticket OPS-1182";
    let path = format!("/v1/keys/{key_id}/quota-raises");
    let raise = |body: Value, bearer: String| {
        let path = path.clone();
        let app = &app;
        async move {
            app.call(Method::POST, &path, Some(&bearer), Some(body))
                .await
        }
    };
    let body = json!({"purpose": PURPOSE, "quota": {"key": {"subjects_per_day": 4}},
        "reason": reason, "seconds": 3});
    raise(body.clone(), key.clone())
        .await
        .assert_problem(403, "auth.forbidden");
    let mut unheld = body.clone();
    unheld["purpose"] = json!("marketing");
    raise(unheld, app.admin_key.clone())
        .await
        .assert_problem(422, "keys.purpose_not_held");
    for (field, bad) in [
        ("reason", json!(" ")),
        ("seconds", json!(86_401)),
        ("quota", json!({})),
    ] {
        let mut wrong = body.clone();
        wrong[field] = bad;
        raise(wrong, app.admin_key.clone())
            .await
            .assert_problem(422, "request.invalid_field");
    }
    let raised = raise(body, app.admin_key.clone()).await;
    assert_eq!(raised.status, 200, "{}", raised.text);
    let view = raised.json();
    assert_eq!(view["quota_raises"][0]["purpose"], PURPOSE);
    assert_eq!(view["quota_raises"][0]["reason"], reason);
    assert_eq!(
        view["quota_raises"][0]["quota"]["key"]["subjects_per_day"],
        4
    );

    assert_read(&read(&app, None, &key, &sealed, 2).await);
    assert_read(&read(&app, None, &key, &sealed, 3).await);
    assert_eq!(
        read(&app, None, &key, &sealed, 4).await.status,
        429,
        "4 is the raise"
    );

    // Officers see it on the console's dashboard while it lasts.
    let (_, officer) = app.create_key("officer", &[]).await;
    let signed_in = crate::console::sign_in(&app, &[("username", ""), ("api_key", &officer)]).await;
    let dashboard = app
        .client
        .get(app.url("/console?lang=en"))
        .header("cookie", crate::console::session_of(&signed_in))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = dashboard
        .split("id=\"quota-raises\"")
        .nth(1)
        .expect("the raises in force are on the dashboard");
    for expected in [reason, key_id.as_str(), PURPOSE, "subjects_per_day:4"] {
        assert!(shown.contains(expected), "{expected} not shown");
    }

    // It ends on its own: the key is back to its grant's quota.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let listed = app.get("/v1/keys", Some(&app.admin_key)).await.json();
    let listed = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap()
        .clone();
    assert!(listed.get("quota_raises").is_none(), "{listed}");
    assert_read(&read(&app, None, &key, &sealed, 0).await);
    assert_eq!(read(&app, None, &key, &sealed, 5).await.status, 429);

    // In the trail: who raised what, for what purpose, until when; the reason by its digest.
    let trail = events(&app, "action=key_quota_raise").await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    let event = &trail[0];
    assert_eq!(event["target"], key_id.as_str());
    assert_eq!(event["purpose"], PURPOSE);
    let digest = ring::digest::digest(&ring::digest::SHA256, reason.as_bytes());
    let fields: Vec<&str> = event["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(fields.contains(&format!("reason_sha256:{}", hex(digest.as_ref())).as_str()));
    assert!(fields.contains(&"key.subjects_per_day:4"), "{fields:?}");
    assert!(fields.iter().any(|f| f.starts_with("until:")));
    assert!(
        !event.to_string().contains("OPS-1182"),
        "the reason stays out of the trail"
    );

    // Ended early by an admin, also on the record.
    let again = json!({"purpose": PURPOSE, "quota": {"key": {"subjects_per_day": 0}},
        "reason": "incident bridge", "seconds": 600});
    assert_eq!(raise(again, app.admin_key.clone()).await.status, 200);
    assert_read(&read(&app, None, &key, &sealed, 5).await);
    let end = format!("/v1/keys/{key_id}/quota-raises/{PURPOSE}");
    let ended = app
        .call(Method::DELETE, &end, Some(&app.admin_key), None)
        .await;
    assert_eq!(ended.status, 204, "{}", ended.text);
    app.call(Method::DELETE, &end, Some(&app.admin_key), None)
        .await
        .assert_problem(404, "keys.no_quota_raise");
    assert_eq!(read(&app, None, &key, &sealed, 6).await.status, 429);
    let trail = events(&app, "action=key_quota_raise").await;
    assert_eq!(trail.len(), 3);
    assert!(trail.iter().any(|e| e["fields"] == json!(["ended"])));
}

#[tokio::test]
async fn subject_tokens_count_against_the_key_that_minted_them() {
    let app = spawn_app_with(|c| c.quotas.key.subjects_per_day = 2).await;
    let (_, key) = key_with_quota(&app, json!({})).await;
    for (i, expected) in [(0, 200), (1, 200), (2, 429)] {
        let token = app.mint_token(&key, &format!("s{i}")).await;
        let token = token["token"].as_str().unwrap();
        let export = app.get("/v1/me/export", Some(token)).await;
        assert_eq!(export.status, expected, "{}", export.text);
        if expected == 429 {
            assert_refused(&export, "quota.exceeded", "subjects_per_day", "key");
        }
    }
}

/// Two nodes on one PostgreSQL database share the key's quota: together they never admit
/// more than it, and refuse at most one unused lease block per node early. SQLite is one
/// embedded process and has no second node.
#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=… cargo test -- --include-ignored"]
async fn nodes_sharing_postgresql_share_one_quota() {
    crate::helpers::postgres_only();
    let app = spawn_app_with(|_| {}).await;
    let other = app.other_node().await;
    let quota: u64 = 32;
    let sealed = ciphertexts(&app, 48).await;
    let (_, key) = key_with_quota(&app, json!({"key": {"subjects_per_day": quota}})).await;
    let mut admitted = 0;
    for i in 0..48 {
        let node = if i % 2 == 0 { None } else { Some(&other) };
        let reply = read(&app, node, &key, &sealed, i).await;
        match reply.status.as_u16() {
            200 => admitted += 1,
            429 => assert_refused(&reply, "quota.exceeded", "subjects_per_day", "key"),
            other => panic!("{other}: {}", reply.text),
        }
    }
    let block = quota.div_ceil(16);
    assert!(admitted <= quota, "never past the quota: {admitted}");
    assert!(
        admitted >= quota - 2 * (block - 1),
        "early by a block less one on each node at most: {admitted}"
    );
    let used = app
        .db
        .count("SELECT CAST(SUM(used) AS BIGINT) FROM quota_usage WHERE quota_limit = 'subjects_per_day'")
        .await;
    assert_eq!(
        used,
        i64::try_from(quota).unwrap(),
        "the fleet leased the whole quota and no more"
    );

    // An operator's quota is the fleet's too: one operator read through both nodes by turns
    // is held to it, while the key's own allowance is far from spent.
    let operator_quota: u64 = 16;
    let (_, key) = key_with_quota(
        &app,
        json!({"operator": {"subjects_per_day": operator_quota}}),
    )
    .await;
    let mut admitted = 0;
    for i in 0..32 {
        let url = if i % 2 == 0 {
            app.url("/v1/decrypt")
        } else {
            other.url("/v1/decrypt")
        };
        let request = crate::helpers::client()
            .post(url)
            .bearer_auth(&key)
            .header("x-baomi-operator", "agent-42");
        let reply = send(request.json(&decrypt_body(PURPOSE, "plain", &sealed, i))).await;
        match reply.status.as_u16() {
            200 => admitted += 1,
            429 => assert_refused(&reply, "quota.exceeded", "subjects_per_day", "operator"),
            other => panic!("{other}: {}", reply.text),
        }
    }
    let block = operator_quota.div_ceil(16);
    assert!(
        admitted <= operator_quota,
        "never past the quota: {admitted}"
    );
    assert!(
        admitted >= operator_quota - 2 * (block - 1),
        "early by a block less one on each node at most: {admitted}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
