//! Masking over HTTP: policies, detection and masking of text and JSON, against a real
//! database.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const ID: &str = "510104199003071114";
const MOBILE: &str = "13800138000";
const CARD: &str = "6222021234567891233";

async fn put_policy(app: &TestApp, name: &str, body: Value) -> crate::helpers::Reply {
    app.call(
        Method::PUT,
        &format!("/v1/policies/{name}"),
        Some(&app.admin_key),
        Some(body),
    )
    .await
}

fn agent_policy() -> Value {
    json!({
        "description": "customer service screens",
        "rules": [
            {"roles": ["cs_agent"], "types": {"CN_MOBILE": {"op": "replace"}}},
            {"roles": ["analyst"], "types": {"CN_MOBILE": {"op": "hash"}, "PERSON": {"op": "redact"}}}
        ]
    })
}

#[tokio::test]
async fn detect_reports_types_offsets_and_validators() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let text = format!("客户王伟，身份证{ID}，手机{MOBILE}，卡号{CARD}，工号12012345678。");
    let r = app
        .post("/v1/detect", Some(&key), json!({"text": text}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let found = r.json()["findings"].as_array().unwrap().clone();
    let types: Vec<&str> = found.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["PERSON", "CN_ID", "CN_MOBILE", "BANK_CARD"],
        "the 12x number is no mobile"
    );
    let id = &found[1];
    assert_eq!(
        (id["start"].as_u64(), id["end"].as_u64()),
        (Some(8), Some(26))
    );
    let byte_start = id["byte_start"].as_u64().unwrap() as usize;
    assert_eq!(&text[byte_start..byte_start + 18], ID);
    assert_eq!(id["validator"], "gb11643");

    let r = app
        .post(
            "/v1/detect",
            Some(&key),
            json!({"json": {"customer": {"phones": [MOBILE]}}}),
        )
        .await;
    assert_eq!(
        r.json()["findings"][0]["path"],
        "$.customer.phones[0]",
        "{}",
        r.text
    );
}

#[tokio::test]
async fn mask_uses_the_display_defaults_without_a_policy() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"text": format!("借款人欧阳娜娜，身份证{ID}，手机{MOBILE}，卡号{CARD}。")}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["text"],
        "借款人欧阳**，身份证5***************14，手机138****8000，卡号622202*********1233。"
    );
    assert!(!r.text.contains(MOBILE) && !r.text.contains(ID) && !r.text.contains(CARD));
    assert_eq!(r.json()["findings"].as_array().unwrap().len(), 4);

    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"value": "四川省成都市锦江区科技园路602号", "type": "ADDRESS"}),
        )
        .await;
    assert_eq!(r.json()["value"], "四川省成都市锦江区", "{}", r.text);
}

#[tokio::test]
async fn policies_apply_per_role_and_are_versioned_and_audited() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let r = put_policy(&app, "screens", agent_policy()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], 1);
    let r = put_policy(&app, "screens", agent_policy()).await;
    assert_eq!(r.json()["version"], 2);
    let listed = app.get("/v1/policies", Some(&key)).await;
    assert_eq!(
        listed.json()["policies"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );
    assert_eq!(listed.json()["policies"][0]["version"], 2);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'policy_change'")
            .await,
        2
    );

    let text = format!("联系人：王伟，手机{MOBILE}");
    let masked = |role: &'static str| {
        let body = json!({"text": text, "policy": "screens", "role": role});
        let app = &app;
        let key = key.clone();
        async move { app.post("/v1/mask", Some(&key), body).await.json()["text"].clone() }
    };
    assert_eq!(masked("cs_agent").await, "联系人：王*，手机[手机号]");
    let analyst = masked("analyst").await;
    let analyst = analyst.as_str().unwrap();
    // The name redacted, the mobile number a keyed hash: 16 hex digits, not the number.
    let pseudonym = analyst
        .strip_prefix("联系人：，手机")
        .unwrap_or_else(|| panic!("{analyst}"));
    assert_eq!(pseudonym.len(), 16, "{analyst}");
    assert!(
        pseudonym
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{analyst}"
    );
    assert!(
        !analyst.contains(MOBILE) && !analyst.contains("王"),
        "{analyst}"
    );
    assert_eq!(masked("analyst").await, analyst, "the pseudonym is stable");
    assert_eq!(
        masked("auditor").await,
        "联系人：王*，手机138****8000",
        "no rule: the defaults"
    );

    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"text": "x", "policy": "nope"}),
        )
        .await;
    r.assert_problem(422, "masking.unknown_policy");
    let r = app.get("/v1/policies/nope", Some(&key)).await;
    r.assert_problem(404, "masking.unknown_policy");
}

#[tokio::test]
async fn bad_policies_are_refused_with_a_reason_and_nothing_stored() {
    let app = spawn_app().await;
    for (body, needle) in [
        // Unknown names are not repeated (errors never echo input); the expected ones are.
        (
            json!({"rules": [{"types": {"SSN": {"op": "mask"}}}]}),
            "expected one of `CN_ID`",
        ),
        (
            json!({"rules": [{"types": {"CN_ID": {"op": "scramble"}}}]}),
            "expected one of `keep`",
        ),
        (
            json!({"rules": [{"types": {"CN_MOBILE": {"op": "generalize", "to": "year"}}}]}),
            "generalize",
        ),
        (
            json!({"rules": [{"fields": [{"path": "cvv", "operator": {"op": "redact"}}]}]}),
            "start with $",
        ),
        (
            json!({"rules": [{"roles": ["cs_agent"], "fields": [
                {"path": "$.cvv", "type": "CARD_CVV", "operator": {"op": "keep"}}]}]}),
            "cs_agent",
        ),
    ] {
        let r = put_policy(&app, "bad", body).await;
        let problem = r.assert_problem(422, "masking.invalid_policy");
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{}",
            r.text
        );
    }
    put_policy(&app, "Bad Name", json!({}))
        .await
        .assert_problem(422, "masking.invalid_policy_name");
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM masking_policies").await,
        0
    );
    let (_, service) = app.create_key("service", &["support"]).await;
    let r = app
        .call(
            Method::PUT,
            "/v1/policies/x",
            Some(&service),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[tokio::test]
async fn c3_in_the_clear_is_allowed_only_for_configured_roles() {
    let app = spawn_app_with(|c| c.masking.clear_c3_roles = vec!["fraud".to_owned()]).await;
    let body = |role: &str| {
        json!({"rules": [{"roles": [role],
            "types": {"CARD_CVV": {"op": "keep"}},
            "fields": [{"path": "$.cvv", "type": "CARD_CVV", "operator": {"op": "keep"}}]}]})
    };
    assert_eq!(put_policy(&app, "fraud", body("fraud")).await.status, 200);
    put_policy(&app, "agents", body("cs_agent"))
        .await
        .assert_problem(422, "masking.invalid_policy");
    // The fraud role sees a CVV in the clear under the policy saved for it; a role the
    // policy does not name gets the default, which hides it.
    app.declare_purpose_if_missing("support").await;
    let (_, key) = app
        .create_key_with(json!({"name": "fraud desk", "role": "service",
            "grants": [{"purpose": "support", "views": ["masked"]}],
            "masking_roles": ["fraud", "cs_agent"]}))
        .await;
    let masked = |role: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app
                .post(
                    "/v1/mask",
                    Some(&key),
                    json!({"value": "123", "type": "CARD_CVV", "policy": "fraud", "role": role}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json()["value"].clone()
        }
    };
    assert_eq!(masked("fraud").await, "123");
    let hidden = masked("cs_agent").await;
    assert!(
        hidden.as_str().is_some_and(|v| !v.contains("123")),
        "{hidden}"
    );
}

#[tokio::test]
async fn json_documents_are_masked_by_path_and_by_scanning() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let policy = json!({"rules": [{
    "fields": [
        {"path": "$.card.cvv", "type": "CARD_CVV", "operator": {"op": "replace"}},
        {"path": "$..birth_date", "type": "BIRTH_DATE", "operator": {"op": "date_shift", "max_days": 30}}
    ]}]});
    assert_eq!(put_policy(&app, "export", policy).await.status, 200);
    let doc = json!({"card": {"no": CARD, "cvv": "123"}, "person": {"birth_date": "1990-03-07", "note": format!("id {ID}")}});
    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"json": doc, "policy": "export", "subject_id": "u1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let out = &r.json()["json"];
    assert_eq!(out["card"]["no"], "622202*********1233");
    assert_eq!(out["card"]["cvv"], "[卡验证码]");
    assert_eq!(out["person"]["note"], "id 5***************14");
    // Shifted by 1 to 30 days, still a date.
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let shifted = out["person"]["birth_date"]
        .as_str()
        .and_then(|d| time::Date::parse(d, &format).ok())
        .unwrap_or_else(|| panic!("not a date: {out}"));
    let original = time::Date::parse("1990-03-07", &format).unwrap();
    let days = (shifted - original).whole_days().abs();
    assert!((1..=30).contains(&days), "shifted by {days} days: {out}");
    let again = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"json": doc, "policy": "export", "subject_id": "u1"}),
        )
        .await;
    assert_eq!(
        again.json()["json"]["person"]["birth_date"],
        out["person"]["birth_date"]
    );

    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"json": doc, "policy": "export"}),
        )
        .await;
    r.assert_problem(422, "masking.subject_required");
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_no_value_in_them() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let mut deep = json!(MOBILE);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let r = app
        .post("/v1/mask", Some(&key), json!({"json": deep}))
        .await;
    r.assert_problem(422, "masking.too_deep");
    assert!(!r.text.contains(MOBILE));
    app.post("/v1/mask", Some(&key), json!({"text": "a", "json": {}}))
        .await
        .assert_problem(422, "request.invalid_field");
    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"value": "abc", "type": "BIRTH_DATE"}),
        )
        .await;
    r.assert_problem(422, "masking.not_applicable");
    assert!(!r.text.contains("abc"));
    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"value": MOBILE, "type": "NOPE"}),
        )
        .await;
    r.assert_problem(422, "request.invalid_body");
    assert!(
        !r.text.contains(MOBILE) && !r.text.contains("NOPE"),
        "{}",
        r.text
    );
    let r = app.post("/v1/detect", None, json!({"text": MOBILE})).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn masked_vault_reads_follow_the_policy_for_the_operator_role() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let enc = app
        .post(
            "/v1/encrypt",
            Some(&key),
            json!({"items": [
                {"subject_id": "u1", "field": "mobile", "value": MOBILE},
                {"subject_id": "u1", "field": "birth_date", "value": "1990-03-07"}
            ]}),
        )
        .await;
    assert_eq!(enc.status, 200, "{}", enc.text);
    let items: Vec<Value> = enc.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["mobile", "birth_date"])
        .map(|(i, f)| json!({"subject_id": "u1", "field": f, "ciphertext": i["ciphertext"]}))
        .collect();
    let policy = json!({"rules": [
        {"roles": ["cs_agent"], "purposes": ["support"], "types": {"CN_MOBILE": {"op": "mask", "first": 0, "last": 4}}},
        {"roles": ["analyst"], "fields": [{"path": "$.birth_date", "type": "BIRTH_DATE", "operator": {"op": "generalize", "to": "age_band"}}]}
    ]});
    assert_eq!(put_policy(&app, "default", policy).await.status, 200);
    let read = |role: Option<&'static str>, policy: Option<&'static str>| {
        let mut body = json!({"purpose": "support", "items": items});
        if let Some(p) = policy {
            body["policy"] = json!(p);
        }
        let url = app.url("/v1/decrypt");
        let key = key.clone();
        async move {
            let mut req = crate::helpers::client()
                .post(url)
                .bearer_auth(key)
                .json(&body);
            if let Some(r) = role {
                req = req.header("X-Baomi-Operator-Role", r);
            }
            let reply = crate::helpers::send(req).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let v = reply.json();
            (
                v["items"][0]["value"].clone(),
                v["items"][1]["value"].clone(),
            )
        }
    };
    let (mobile, birth) = read(Some("cs_agent"), None).await;
    assert_eq!(
        (mobile.as_str(), birth.as_str()),
        (Some("*******8000"), Some("1990"))
    );
    let (mobile, birth) = read(Some("analyst"), None).await;
    assert_eq!(mobile, "138****8000");
    assert!(
        birth.as_str().unwrap().ends_with('9') && birth.as_str().unwrap().contains('-'),
        "{birth}"
    );
    let (mobile, _) = read(None, None).await;
    assert_eq!(
        mobile, "138****8000",
        "the key's role has no rule: display defaults"
    );
    let r = app
        .post(
            "/v1/decrypt",
            Some(&key),
            json!({"purpose": "support", "policy": "nope", "items": items}),
        )
        .await;
    r.assert_problem(422, "masking.unknown_policy");
}

#[tokio::test]
async fn the_encrypt_operator_seals_through_the_vault_for_the_subject() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let policy = json!({"rules": [{"types": {"CN_ID": {"op": "encrypt"}}}]});
    assert_eq!(put_policy(&app, "sealed", policy).await.status, 200);
    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"text": format!("证件{ID}"), "policy": "sealed", "subject_id": "u2"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let text = r.json()["text"].as_str().unwrap().to_owned();
    let c = text.strip_prefix("证件").unwrap();
    assert!(c.starts_with("bm:v1:") && !text.contains(ID), "{text}");
    let d = app
        .post(
            "/v1/decrypt",
            Some(&key),
            json!({"purpose": "support", "view": "plain",
                   "items": [{"subject_id": "u2", "field": "id_number", "ciphertext": c}]}),
        )
        .await;
    assert_eq!(d.json()["items"][0]["value"], ID, "{}", d.text);

    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"text": format!("证件{ID}"), "policy": "sealed"}),
        )
        .await;
    r.assert_problem(422, "masking.operator_unavailable");
    assert!(!r.text.contains(ID));
}

#[tokio::test]
async fn the_operator_role_header_selects_the_rule_of_a_mask_call() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    assert_eq!(
        put_policy(&app, "screens", agent_policy()).await.status,
        200
    );
    let req = crate::helpers::client()
        .post(app.url("/v1/mask"))
        .bearer_auth(&key)
        .header("X-Baomi-Operator-Role", "cs_agent")
        .json(&json!({"text": format!("手机{MOBILE}"), "policy": "screens"}));
    let r = crate::helpers::send(req).await;
    assert_eq!(r.json()["text"], "手机[手机号]", "{}", r.text);
    let req = crate::helpers::client()
        .post(app.url("/v1/mask"))
        .bearer_auth(&key)
        .header("X-Baomi-Operator-Role", "not a role!")
        .json(&json!({"text": "x"}));
    crate::helpers::send(req)
        .await
        .assert_problem(400, "request.invalid_operator_role");
}

#[tokio::test]
async fn the_tokenize_operator_stores_the_value_and_detokenize_gives_it_back() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let policy = json!({"rules": [{"types": {"CN_MOBILE": {"op": "tokenize"}}}]});
    assert_eq!(put_policy(&app, "tokens", policy).await.status, 200);
    let r = app
        .post(
            "/v1/mask",
            Some(&key),
            json!({"text": format!("手机{MOBILE}，备用{MOBILE}"), "policy": "tokens", "subject_id": "u3"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let text = r.json()["text"].as_str().unwrap().to_owned();
    assert!(!text.contains(MOBILE), "{text}");
    let token = text
        .strip_prefix("手机")
        .and_then(|t| t.split_once('，'))
        .map(|(t, _)| t.to_owned())
        .unwrap();
    assert_eq!(
        text,
        format!("手机{token}，备用{token}"),
        "one value, one token"
    );
    assert_eq!(token.len(), 11, "a mobile keeps its shape: {token}");
    let back = app
        .post(
            "/v1/detokenize",
            Some(&key),
            json!({"purpose": "support", "view": "plain", "tokens": [token]}),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert!(back.text.contains(MOBILE), "{}", back.text);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'store' AND subject = 'u3'")
            .await,
        1
    );
}
