//! The console's authorisation matrix: every console route (from the table the console's
//! router is built from), called by every kind of visitor, with the status each must get.
//! A console route without a row fails the test. A form posted without the session's CSRF
//! token is refused whoever posts it.

use reqwest::Method;
use serde_json::json;

use crate::console::{PASSWORD, add_account, csrf_in, session_of, sign_in};
use crate::helpers::{ALL_PERMISSIONS, TestApp, contract_purpose, spawn_app};

/// The visitors, in the order of each row's statuses.
const COLUMNS: [&str; 5] = [
    "no session",
    "a service key sent as a bearer credential",
    "officer without purposes",
    "officer carrying the purpose",
    "admin",
];

/// A console route, the path and form sent to it (placeholders filled per cell), and the
/// status per visitor: 303 is the redirect to the sign-in page.
struct Row {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    expect: &'static str,
}

const PAGE: &str = "303 303 200 200 200";
const PUBLIC: &str = "200 200 200 200 200";
const FORM: &str = "303 303 303 303 303";

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { method: "get", route: "/console", path: "/console", form: &[], expect: PAGE },
    Row { method: "get", route: "/console/signin", path: "/console/signin", form: &[], expect: PUBLIC },
    // A sign-in without its pre-session token is refused, session or not.
    Row { method: "post", route: "/console/signin", path: "/console/signin", form: &[("username", "nobody"), ("password", "x")], expect: "403 403 403 403 403" },
    Row { method: "get", route: "/console/audit", path: "/console/audit", form: &[], expect: PAGE },
    Row { method: "get", route: "/console/audit/export.csv", path: "/console/audit/export.csv", form: &[], expect: PAGE },
    Row { method: "get", route: "/console/audit/export.jsonl", path: "/console/audit/export.jsonl", form: &[], expect: PAGE },
    Row { method: "get", route: "/console/audit/events/{seq}", path: "/console/audit/events/1", form: &[], expect: PAGE },
    Row { method: "get", route: "/console/alerts", path: "/console/alerts", form: &[], expect: PAGE },
    Row { method: "get", route: "/console/alerts/{id}", path: "/console/alerts/999", form: &[], expect: "303 303 404 404 404" },
    // There is no alert 999: acknowledging it is a conflict (it is not open), for any officer.
    Row { method: "post", route: "/console/alerts/{id}/ack", path: "/console/alerts/999/ack", form: &[("csrf", "{csrf}"), ("comment", "seen")], expect: "303 303 409 409 409" },
    // A subject's consent history: an officer only under a purpose it carries (the charts,
    // counts without subjects, are open to every officer).
    Row { method: "get", route: "/console/consents", path: "/console/consents?purpose=mkt&subject=u-1", form: &[], expect: "303 303 403 200 200" },
    Row { method: "get", route: "/console/accounts", path: "/console/accounts", form: &[], expect: "303 303 403 403 200" },
    Row { method: "post", route: "/console/accounts", path: "/console/accounts", form: &[("csrf", "{csrf}"), ("username", "{fresh}"), ("role", "officer"), ("purposes", ""), ("password", "a long enough password 1")], expect: "303 303 403 403 303" },
    Row { method: "post", route: "/console/accounts/{name}/remove", path: "/console/accounts/{fresh_account}/remove", form: &[("csrf", "{csrf}")], expect: "303 303 403 403 303" },
    // Each account's own second factor: officers see a new enrolment, the admin (enrolled
    // by the fixture) that it is on; a wrong code confirms nothing.
    Row { method: "get", route: "/console/second-factor", path: "/console/second-factor", form: &[], expect: PAGE },
    Row { method: "post", route: "/console/second-factor", path: "/console/second-factor", form: &[("csrf", "{csrf}"), ("code", "000000")], expect: "303 303 422 422 422" },
    Row { method: "get", route: "/console/requests", path: "/console/requests", form: &[], expect: PAGE },
    Row { method: "post", route: "/console/requests/{id}/approve", path: "/console/requests/{request}/approve", form: &[("csrf", "{csrf}")], expect: FORM },
    Row { method: "post", route: "/console/requests/{id}/close", path: "/console/requests/{request}/close", form: &[("csrf", "{csrf}"), ("status", "rejected"), ("resolution", "not ours")], expect: FORM },
    Row { method: "get", route: "/console/assets/console.css", path: "/console/assets/console.css", form: &[], expect: PUBLIC },
    Row { method: "get", route: "/console/assets/verify.js", path: "/console/assets/verify.js", form: &[], expect: PUBLIC },
    // Last: signing out ends the session the rows above used.
    Row { method: "post", route: "/console/signout", path: "/console/signout", form: &[("csrf", "{csrf}")], expect: FORM },
];

/// A visitor: the session cookie (if any), its CSRF token, and a bearer credential.
struct Visitor {
    cookie: Option<String>,
    csrf: String,
    bearer: Option<String>,
}

async fn signed_in(app: &TestApp, client: &reqwest::Client, name: &str) -> Visitor {
    let r = sign_in(app, &[("username", name), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), 303, "{name} signs in");
    visiting(app, client, session_of(&r)).await
}

/// An admin account, which enrols its second factor and signs in with a code.
async fn admin_signed_in(app: &TestApp, client: &reqwest::Client, name: &str) -> Visitor {
    let enrolled = crate::second_factor::enrolled(app, name).await;
    visiting(app, client, enrolled.cookie).await
}

async fn visiting(app: &TestApp, client: &reqwest::Client, cookie: String) -> Visitor {
    let page = client
        .get(app.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    Visitor {
        cookie: Some(cookie),
        csrf,
        bearer: None,
    }
}

#[tokio::test]
async fn every_console_route_answers_every_kind_of_visitor_as_its_role_says() {
    let listed: std::collections::BTreeSet<(&str, &str)> =
        baomi::console::route_list().into_iter().collect();
    let rows: std::collections::BTreeSet<(&str, &str)> =
        ROWS.iter().map(|r| (r.method, r.route)).collect();
    let missing: Vec<_> = listed.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "console routes without a row: {missing:?}"
    );
    let stale: Vec<_> = rows.difference(&listed).collect();
    assert!(
        stale.is_empty(),
        "rows for routes the console does not have: {stale:?}"
    );

    let app = spawn_app().await;
    let r = app
        .call(
            Method::PUT,
            "/v1/purposes/mkt",
            Some(&app.admin_key),
            Some(contract_purpose()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, service) = app
        .create_key_with(json!({"name": "s", "role": "service", "purposes": ["mkt"],
            "permissions": ALL_PERMISSIONS}))
        .await;
    add_account(&app, "nopurpose", baomi::auth::Role::Officer, &[]).await;
    add_account(&app, "carrier", baomi::auth::Role::Officer, &["mkt"]).await;
    add_account(&app, "boss", baomi::auth::Role::Admin, &[]).await;
    // Event 1's page shows its inclusion proof: a checkpoint must cover it.
    app.audit_log
        .checkpoint_now(baomi::service::now())
        .await
        .unwrap();
    let client = crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let visitors = [
        Visitor {
            cookie: None,
            csrf: String::new(),
            bearer: None,
        },
        Visitor {
            cookie: None,
            csrf: String::new(),
            bearer: Some(service.clone()),
        },
        signed_in(&app, &client, "nopurpose").await,
        signed_in(&app, &client, "carrier").await,
        admin_signed_in(&app, &client, "boss").await,
    ];

    // A form without the session's token is refused, whoever posts it.
    let forged = client
        .post(app.url("/console/signout"))
        .header("cookie", visitors[4].cookie.as_deref().unwrap())
        .form(&[("csrf", "not the token")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let mut counter = 0;
    let mut wrong = Vec::new();
    for r in ROWS {
        let expected: Vec<u16> = r.expect.split(' ').map(|s| s.parse().unwrap()).collect();
        assert_eq!(expected.len(), COLUMNS.len(), "{} {}", r.method, r.route);
        for (column, visitor) in visitors.iter().enumerate() {
            counter += 1;
            let mut path = r.path.to_owned();
            if path.contains("{fresh_account}") {
                let name = format!("gone{counter}");
                add_account(&app, &name, baomi::auth::Role::Officer, &[]).await;
                path = path.replace("{fresh_account}", &name);
            }
            if path.contains("{request}") {
                let subject = format!("req-{counter}");
                let token = app.mint_token(&service, &subject).await["token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let made = app
                    .post("/v1/me/requests", Some(&token), json!({"kind": "access"}))
                    .await;
                assert_eq!(made.status, 201, "{}", made.text);
                path = path.replace("{request}", made.json()["id"].as_str().unwrap());
            }
            let form: Vec<(String, String)> = r
                .form
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .replace("{csrf}", &visitor.csrf)
                        .replace("{fresh}", &format!("new{counter}"));
                    ((*k).to_owned(), v)
                })
                .collect();
            let method = Method::from_bytes(r.method.to_uppercase().as_bytes()).unwrap();
            let mut req = client.request(method, app.url(&path));
            if let Some(c) = &visitor.cookie {
                req = req.header("cookie", c);
            }
            if let Some(b) = &visitor.bearer {
                req = req.bearer_auth(b);
            }
            if r.method == "post" {
                req = req.form(&form);
            }
            let reply = req.send().await.unwrap();
            let got = reply.status().as_u16();
            if got == 303 && expected[column] == 303 && visitor.cookie.is_none() {
                assert_eq!(
                    reply.headers()["location"],
                    "/console/signin",
                    "{}",
                    r.route
                );
            }
            if got != expected[column] {
                wrong.push(format!(
                    "{} {} as {}: expected {}, got {got}",
                    r.method, r.route, COLUMNS[column], expected[column]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
