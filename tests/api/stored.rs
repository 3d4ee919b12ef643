//! The stored vault over HTTP: fields kept by Baomi, tokens, reads under a purpose,
//! detokenization, blind-index search, and erasure of all of it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const PURPOSE: &str = "customer_service";
const CARD: &str = "6222021234567890128";

async fn service_key(app: &TestApp) -> String {
    app.create_key("service", &[PURPOSE]).await.1
}

async fn put(app: &TestApp, key: &str, subject: &str, body: Value) -> Value {
    let reply = app
        .call(
            Method::PUT,
            &format!("/v1/subjects/{subject}/data"),
            Some(key),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

async fn read(app: &TestApp, key: &str, subject: &str, query: &str) -> crate::helpers::Reply {
    app.get(
        &format!("/v1/subjects/{subject}/data?purpose={PURPOSE}{query}"),
        Some(key),
    )
    .await
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Tokens are drawn at random and stored, never derived from the value: the same card for
/// two subjects, or stored again for one, gets a new token each time.
#[tokio::test]
async fn tokens_are_random_not_derived_from_the_value() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let token = |subject: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            put(
                app,
                &key,
                subject,
                json!({"fields": {"bank_card": CARD, "name": "张三"}}),
            )
            .await["tokens"]
                .clone()
        }
    };
    let first = token("u-1").await;
    let other_subject = token("u-2").await;
    let again = token("u-1").await;
    for field in ["bank_card", "name"] {
        let tokens = [&first[field], &other_subject[field], &again[field]];
        assert!(tokens.iter().all(|t| t.is_string()), "{tokens:?}");
        assert_ne!(
            tokens[0], tokens[1],
            "{field}: another subject, another token"
        );
        assert_ne!(tokens[0], tokens[2], "{field}: stored again, a new token");
    }
}

#[tokio::test]
async fn stored_fields_get_tokens_of_the_right_shape_and_read_back() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let stored = put(&app, &key, "u-1", json!({
        "fields": {"bank_card": CARD, "mobile": "+86 138-0013-8000", "name": "张三", "id_number": "11010519491231002X"},
        "searchable": ["mobile", "id_number"],
    }))
    .await;
    let tokens = &stored["tokens"];
    let card_token = tokens["bank_card"].as_str().unwrap();
    assert_eq!(card_token.len(), CARD.len());
    assert_eq!(&card_token[..6], &CARD[..6]);
    assert_eq!(&card_token[15..], &CARD[15..]);
    assert_ne!(card_token, CARD);
    assert!(luhn(card_token), "{card_token}");
    let mobile_token = tokens["mobile"].as_str().unwrap();
    assert_eq!(mobile_token.len(), 11);
    assert!(mobile_token.starts_with('1') && mobile_token != "13800138000");
    assert!(tokens["name"].as_str().unwrap().starts_with("tok_"));

    let plain = read(&app, &key, "u-1", "&view=plain").await;
    assert_eq!(plain.status, 200, "{}", plain.text);
    let fields = &plain.json()["fields"];
    assert_eq!(fields["bank_card"]["value"], CARD);
    assert_eq!(fields["mobile"]["value"], "+86 138-0013-8000");
    assert_eq!(fields["name"]["value"], "张三");
    assert_eq!(fields["name"]["token"], tokens["name"]);

    let masked = read(&app, &key, "u-1", "&fields=bank_card,name")
        .await
        .json();
    assert_eq!(masked["view"], "masked");
    assert_eq!(
        masked["fields"]["bank_card"]["value"],
        "622202*********0128"
    );
    assert_eq!(masked["fields"]["name"]["value"], "张*");
    assert!(
        masked["fields"]["mobile"].is_null(),
        "only the fields asked for"
    );

    // Random tokens on request.
    let random = put(
        &app,
        &key,
        "u-2",
        json!({"fields": {"bank_card": CARD}, "format_preserving_tokens": false}),
    )
    .await;
    assert!(
        random["tokens"]["bank_card"]
            .as_str()
            .unwrap()
            .starts_with("tok_")
    );

    // Purpose and role are checked; nothing unknown is quietly ignored.
    app.get("/v1/subjects/u-1/data?purpose=marketing", Some(&key))
        .await
        .assert_problem(403, "auth.purpose_not_allowed");
    app.get("/v1/subjects/u-1/data", Some(&key))
        .await
        .assert_problem(400, "request.invalid_query");
    read(&app, &key, "u-1", "&fields=phone")
        .await
        .assert_problem(422, "request.invalid_field");
    read(&app, &app.admin_key, "u-1", "")
        .await
        .assert_problem(403, "auth.forbidden");
    let reads = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'read' ORDER BY seq")
        .await;
    assert_eq!(reads.len(), 3, "two reads and one refusal: {reads:?}");
    assert!(
        reads[2].contains("auth.purpose_not_allowed"),
        "{}",
        reads[2]
    );
    assert!(reads[0].contains("\"purpose\":\"customer_service\""));
    for r in &reads {
        assert!(!r.contains(CARD) && !r.contains("张三"), "{r}");
    }
}

#[tokio::test]
async fn a_store_request_is_all_or_nothing() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    put(&app, &key, "u-1", json!({"fields": {"name": "李四"}})).await;
    for body in [
        json!({"fields": {"mobile": "13800138000", "phone": "x"}}),
        json!({"fields": {"mobile": "13800138000", "name": "x".repeat(300)}}),
        json!({"fields": {"mobile": "13800138000"}, "searchable": ["email"]}),
        json!({"fields": {}}),
        json!({"fields": {"mobile": "13800138000"}, "keyring": "Bad Name"}),
    ] {
        let r = app
            .call(
                Method::PUT,
                "/v1/subjects/u-1/data",
                Some(&key),
                Some(body.clone()),
            )
            .await;
        r.assert_problem(422, "request.invalid_field");
    }
    let fields = read(&app, &key, "u-1", "&view=plain").await.json()["fields"].clone();
    assert_eq!(fields.as_object().unwrap().len(), 1, "{fields}");
    assert_eq!(fields["name"]["value"], "李四");
    app.call(
        Method::PUT,
        "/v1/subjects/bad%20id/data",
        Some(&key),
        Some(json!({"fields": {"name": "x"}})),
    )
    .await
    .assert_problem(422, "request.invalid_field");
}

#[tokio::test]
async fn tokens_detokenize_until_replaced() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let first = put(
        &app,
        &key,
        "u-1",
        json!({"fields": {"mobile": "13800138000", "email": "a@example.cn"}}),
    )
    .await;
    let old_mobile = first["tokens"]["mobile"].as_str().unwrap().to_owned();
    let email = first["tokens"]["email"].as_str().unwrap().to_owned();
    let second = put(
        &app,
        &key,
        "u-1",
        json!({"fields": {"mobile": "13912345678"}}),
    )
    .await;
    let new_mobile = second["tokens"]["mobile"].as_str().unwrap().to_owned();
    assert_ne!(old_mobile, new_mobile);

    let reply = app
        .post("/v1/detokenize", Some(&key), json!({"purpose": PURPOSE, "view": "plain", "tokens": [new_mobile, old_mobile, email, "tok_nothing"]}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let items = reply.json()["items"].as_array().unwrap().clone();
    assert_eq!(items[0]["value"], "13912345678");
    assert_eq!(items[0]["subject_id"], "u-1");
    assert_eq!(items[0]["field"], "mobile");
    assert_eq!(
        items[1]["error"]["code"], "vault.unknown_token",
        "a replaced value's token is dead"
    );
    assert_eq!(
        items[2]["value"], "a@example.cn",
        "other fields keep their tokens"
    );
    assert_eq!(items[3]["error"]["code"], "vault.unknown_token");
    app.post(
        "/v1/detokenize",
        Some(&key),
        json!({"purpose": "other", "tokens": [email]}),
    )
    .await
    .assert_problem(403, "auth.purpose_not_allowed");
    let events = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'detokenize' ORDER BY seq")
        .await;
    assert_eq!(events.len(), 2, "one allowed, one refused: {events:?}");
    assert!(
        events[0].contains("\"subject\":\"u-1\"") && events[0].contains("\"count\":2"),
        "{}",
        events[0]
    );
    assert!(
        events[1].contains("auth.purpose_not_allowed"),
        "{}",
        events[1]
    );
}

#[tokio::test]
async fn blind_index_search_normalises_and_survives_rotation() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    put(&app, &key, "u-1", json!({"fields": {"mobile": "13800138000", "id_number": "11010519491231002x", "name": "王五"}, "searchable": ["mobile", "id_number"]})).await;
    put(
        &app,
        &key,
        "u-2",
        json!({"fields": {"mobile": "+86 138 0013 8000"}, "searchable": ["mobile"]}),
    )
    .await;
    put(
        &app,
        &key,
        "u-3",
        json!({"fields": {"mobile": "13900000000"}, "searchable": ["mobile"]}),
    )
    .await;
    let search = |field: &'static str, value: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app
                .post(
                    "/v1/search",
                    Some(&key),
                    json!({"purpose": PURPOSE, "field": field, "value": value}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json()["subject_ids"].clone()
        }
    };
    assert_eq!(
        search("mobile", "+86 138-0013-8000").await,
        json!(["u-1", "u-2"])
    );
    assert_eq!(
        search("mobile", "１３８００１３８０００").await,
        json!(["u-1", "u-2"])
    );
    assert_eq!(
        search("id_number", "11010519491231002X").await,
        json!(["u-1"])
    );
    assert_eq!(
        search("name", "王五").await,
        json!([]),
        "not declared searchable"
    );
    assert_eq!(search("mobile", "13700000000").await, json!([]));

    let rotated = app.rotate_default_keyring().await;
    assert_eq!(rotated.status, 200);
    put(
        &app,
        &key,
        "u-4",
        json!({"fields": {"mobile": "13800138000"}, "searchable": ["mobile"]}),
    )
    .await;
    assert_eq!(
        search("mobile", "13800138000").await,
        json!(["u-1", "u-2", "u-4"])
    );

    app.post(
        "/v1/search",
        Some(&key),
        json!({"purpose": "other", "field": "mobile", "value": "1"}),
    )
    .await
    .assert_problem(403, "auth.purpose_not_allowed");
    let audited = app
        .db
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'search'")
        .await;
    assert!(audited >= 6, "{audited}");
    let bodies = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'search'")
        .await;
    // Times and request ids are digits too: look at everything else.
    for body in &bodies {
        let mut event: Value = serde_json::from_str(body).unwrap();
        let fields = event.as_object_mut().unwrap();
        fields.remove("at_ms");
        fields.remove("request_id");
        let rest = event.to_string();
        assert!(
            !rest.contains("13800138000") && !rest.contains("11010519491231002"),
            "{rest}"
        );
    }
}

#[tokio::test]
async fn erasure_removes_stored_fields_tokens_and_index_entries() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let stored = put(
        &app,
        &key,
        "leaver",
        json!({"fields": {"mobile": "13800138000", "bank_card": CARD}, "searchable": ["mobile"]}),
    )
    .await;
    let token = stored["tokens"]["bank_card"].as_str().unwrap().to_owned();
    let receipt = app
        .call(Method::DELETE, "/v1/subjects/leaver", Some(&key), None)
        .await
        .json();
    assert_eq!(receipt["fields_deleted"], 2);
    assert_eq!(receipt["index_entries_deleted"], 1);
    assert_eq!(receipt["data_keys_destroyed"], 1);

    read(&app, &key, "leaver", "")
        .await
        .assert_problem(410, "vault.subject_erased");
    app.call(
        Method::PUT,
        "/v1/subjects/leaver/data",
        Some(&key),
        Some(json!({"fields": {"name": "x"}})),
    )
    .await
    .assert_problem(410, "vault.subject_erased");
    let d = app
        .post(
            "/v1/detokenize",
            Some(&key),
            json!({"purpose": PURPOSE, "tokens": [token]}),
        )
        .await
        .json();
    assert_eq!(d["items"][0]["error"]["code"], "vault.unknown_token");
    let s = app
        .post(
            "/v1/search",
            Some(&key),
            json!({"purpose": PURPOSE, "field": "mobile", "value": "13800138000"}),
        )
        .await
        .json();
    assert_eq!(s["subject_ids"], json!([]));
    for table in ["subject_fields", "blind_index", "subject_keys"] {
        let left = app
            .db
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE subject = 'leaver'"
            ))
            .await;
        assert_eq!(left, 0, "{table}");
    }
}

#[tokio::test]
async fn old_versions_are_retired_only_after_stored_fields_are_re_encrypted() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let admin = app.admin_key.clone();
    put(
        &app,
        &key,
        "u-1",
        json!({"fields": {"mobile": "13800138000"}, "searchable": ["mobile"]}),
    )
    .await;
    let rotated = app.rotate_default_keyring().await;
    assert_eq!(rotated.json()["latest_version"], 2);
    let raise = json!({"min_decryption_version": 2});
    app.call(
        Method::PATCH,
        "/v1/keyrings/default",
        Some(&admin),
        Some(raise.clone()),
    )
    .await
    .assert_problem(409, "vault.reencryption_pending");

    let tick = baomi::service::maintenance::tick(&app.vault, baomi::service::now())
        .await
        .unwrap();
    assert_eq!(tick.reencrypted, 1, "{tick:?}");
    let r = app
        .call(
            Method::PATCH,
            "/v1/keyrings/default",
            Some(&admin),
            Some(raise),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let data = read(&app, &key, "u-1", "&view=plain").await.json();
    assert_eq!(
        data["fields"]["mobile"]["value"], "13800138000",
        "nothing stored is lost"
    );
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_keys WHERE subject = 'u-1' AND version < 2")
            .await,
        0
    );
    let found = app
        .post(
            "/v1/search",
            Some(&key),
            json!({"purpose": PURPOSE, "field": "mobile", "value": "13800138000"}),
        )
        .await
        .json();
    assert_eq!(found["subject_ids"], json!(["u-1"]));
}

#[tokio::test]
async fn writes_racing_an_erasure_leave_nothing_behind() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    put(
        &app,
        &key,
        "racer",
        json!({"fields": {"mobile": "13800138000"}, "searchable": ["mobile"]}),
    )
    .await;
    let mut writers = Vec::new();
    for i in 0..16 {
        let client = app.client.clone();
        let base = app.url("");
        let key = key.clone();
        writers.push(tokio::spawn(async move {
            let body =
                json!({"fields": {"mobile": format!("1380013{i:04}")}, "searchable": ["mobile"]});
            let put = client
                .put(format!("{base}/v1/subjects/racer/data"))
                .bearer_auth(&key)
                .json(&body)
                .send();
            let enc = client
                .post(format!("{base}/v1/encrypt"))
                .bearer_auth(&key)
                .json(&json!({"items": [{"subject_id": "racer", "field": "name", "value": "x"}]}))
                .send();
            let (a, b) = tokio::join!(put, enc);
            let (a, b) = (a.unwrap(), b.unwrap());
            let put_status = a.status().as_u16();
            let put_body: Value = a.json().await.unwrap();
            let enc_status = b.status().as_u16();
            let enc_body: Value = b.json().await.unwrap();
            (put_status, put_body, enc_status, enc_body)
        }));
    }
    let erased = app
        .call(Method::DELETE, "/v1/subjects/racer", Some(&key), None)
        .await;
    assert_eq!(erased.status, 200);
    // Each write either happened before the erasure (and the erasure destroyed it) or was
    // refused as the subject's erasure; an encrypt answers per item, the same way.
    let mut sealed = Vec::new();
    for w in writers {
        let (put_status, put_body, enc_status, enc_body) = w.await.unwrap();
        match put_status {
            200 => assert!(put_body["tokens"]["mobile"].is_string(), "{put_body}"),
            410 => assert_eq!(put_body["code"], "vault.subject_erased", "{put_body}"),
            other => panic!("{other}: {put_body}"),
        }
        assert_eq!(enc_status, 200, "{enc_body}");
        let items = enc_body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{enc_body}");
        match items[0]["ciphertext"].as_str() {
            Some(c) => sealed.push(c.to_owned()),
            None => assert_eq!(
                items[0]["error"]["code"], "vault.subject_erased",
                "{enc_body}"
            ),
        }
    }
    // A ciphertext made before the erasure no longer opens.
    for c in &sealed {
        let r = app
            .post(
                "/v1/decrypt",
                Some(&key),
                json!({"purpose": PURPOSE, "items": [{"subject_id": "racer", "field": "name", "ciphertext": c}]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json()["items"][0]["error"]["code"],
            "vault.subject_erased",
            "{}",
            r.text
        );
    }
    for table in ["subject_keys", "subject_fields", "blind_index"] {
        let left = app
            .db
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE subject = 'racer'"
            ))
            .await;
        assert_eq!(left, 0, "{table} kept rows of an erased subject");
    }
    read(&app, &key, "racer", "")
        .await
        .assert_problem(410, "vault.subject_erased");
}

#[tokio::test]
async fn one_unreadable_stored_field_does_not_stop_re_encryption() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    put(
        &app,
        &key,
        "broken",
        json!({"fields": {"mobile": "13800138000"}}),
    )
    .await;
    put(
        &app,
        &key,
        "fine",
        json!({"fields": {"mobile": "13900000000"}}),
    )
    .await;
    // The first row is damaged behind Baomi's back.
    app.db
        .execute("UPDATE subject_fields SET ciphertext = 'bm:v1:damaged' WHERE subject = 'broken'")
        .await;
    let r = app.rotate_default_keyring().await;
    assert_eq!(r.status, 200);
    let tick = baomi::service::maintenance::tick(&app.vault, baomi::service::now())
        .await
        .unwrap();
    assert_eq!(tick.reencrypted, 1, "{tick:?}");
    let fine = read(&app, &key, "fine", "&view=plain").await.json();
    assert_eq!(fine["fields"]["mobile"]["value"], "13900000000");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_fields WHERE subject = 'fine' AND version = 2")
            .await,
        1
    );
}
