//! The officer console in a real browser (headless Chromium through ChromeDriver, driven
//! with fantoccini): sign in, find who read a subject's data and why, open an event and see
//! its proof verified in the page, acknowledge an alert, complete a deletion request, sign
//! out; a wrong password fails. Over plain HTTP against the same server: a form without its
//! CSRF token is refused, a service key cannot open the console, pages need a session, and
//! the cookie's attributes.
//!
//! Chromium is Debian's `chromium` and `chromium-driver`; `.ci/run` installs them and sets
//! `REQUIRE_CHROMIUM=1`, so there a missing browser fails the run. Elsewhere, without them,
//! the browser test says so and does nothing. `CONSOLE_SCREENSHOTS=docs/console` saves the
//! screenshots the README shows.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const OFFICER: &str = "li.hua";
const PASSWORD: &str = "correct horse battery 42";
const SUBJECT: &str = "u-20261123";

/// ChromeDriver and a headless Chromium session; both end when dropped.
struct Browser {
    client: Client,
    driver: std::process::Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Option<Browser> {
        let installed = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
            .iter()
            .all(|p| std::path::Path::new(p).exists());
        if !installed {
            assert!(
                std::env::var("REQUIRE_CHROMIUM").as_deref() != Ok("1"),
                "REQUIRE_CHROMIUM=1 but chromium and chromium-driver are not installed"
            );
            eprintln!(
                "NOTE: chromium / chromium-driver are not installed: the console's browser \
                 test did not run (apt-get install chromium chromium-driver, or run .ci/run)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=zh-CN"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Some(Browser { client, driver }),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ChromeDriver did not start: {last:?}");
    }

    async fn text(&self, css: &str) -> String {
        let mut last = None;
        for _ in 0..100 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                match element.text().await {
                    Ok(text) => return text,
                    // The page changed between finding and reading: find it again.
                    Err(e) => last = Some(e.to_string()),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css}: {last:?}");
    }

    /// Clicks something that loads a new page, and waits until the new page has loaded.
    async fn submit(&self, css: &str) {
        self.client
            .execute("window.__before_submit = true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        for _ in 0..100 {
            let done = self
                .client
                .execute(
                    "return window.__before_submit === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css}: no new page loaded");
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Saves a screenshot when `CONSOLE_SCREENSHOTS` names a directory.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        if let Ok(dir) = std::env::var("CONSOLE_SCREENSHOTS") {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
        }
    }
}

/// A server with a console account, reads of a subject by a service key (enough to raise a
/// bulk-access alert), a signed checkpoint and an open deletion request.
async fn seeded() -> (TestApp, String, String) {
    let app = spawn_app_with(|c| {
        c.audit.alerts.bulk_max_subjects = 2;
        c.audit.alerts.evaluate_every_ms = 20;
    })
    .await;
    let store = baomi::store::open(&app.db.config()).await.unwrap();
    baomi::console::session::put_user(
        store.as_ref(),
        OFFICER,
        PASSWORD,
        baomi::auth::Role::Officer,
    )
    .await
    .unwrap();
    store.close().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    for subject in [SUBJECT, "u-2", "u-3"] {
        let sealed = app
            .post(
                "/v1/encrypt",
                Some(&key),
                json!({"items": [{"subject_id": subject, "field": "mobile", "value": "13800138000"}]}),
            )
            .await
            .json();
        let r = app
            .call(
                reqwest::Method::POST,
                "/v1/decrypt",
                Some(&key),
                Some(json!({"purpose": "kyc", "items": [{"subject_id": subject,
                    "field": "mobile", "ciphertext": sealed["items"][0]["ciphertext"]}]})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let token = app.mint_token(&key, SUBJECT).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let filed = app
        .post("/v1/me/requests", Some(&token), json!({"kind": "deletion"}))
        .await;
    assert_eq!(filed.status, 201, "{}", filed.text);
    let request = filed.json()["id"].as_str().unwrap().to_owned();
    // The alert watch runs every 20 ms; then a checkpoint over everything so far.
    let (_, officer) = app.create_key("officer", &[]).await;
    for _ in 0..200 {
        let alerts = app.get("/v1/audit/alerts", Some(&officer)).await.json();
        if alerts["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.audit_log
        .checkpoint_now(baomi::service::now())
        .await
        .unwrap();
    (app, key, request)
}

#[tokio::test]
async fn an_officer_works_the_trail_an_alert_and_a_request_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (app, _key, request) = seeded().await;
    let c = &browser.client;

    // Pages need a session: the dashboard sends the browser to sign in.
    c.goto(&app.url("/console")).await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/signin")
    );
    browser.screenshot("signin").await;

    // A wrong password fails, saying so, and signs no one in.
    browser.fill("#username", OFFICER).await;
    browser.fill("#password", "not the password").await;
    browser.submit("#signin-submit").await;
    assert!(browser.text("#signin-error").await.contains("不正确"));
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/signin")
    );

    // The right one opens the dashboard: an open alert, the checkpoint verifies, charts.
    browser.fill("#username", OFFICER).await;
    browser.fill("#password", PASSWORD).await;
    browser.submit("#signin-submit").await;
    let alerts_tile = browser.text("#open-alerts").await;
    assert!(alerts_tile.starts_with('1'), "{alerts_tile}");
    assert!(browser.text("#checkpoint").await.contains('✓'));
    assert_eq!(
        c.find_all(Locator::Css("figure.chart svg"))
            .await
            .unwrap()
            .len(),
        2
    );
    browser.screenshot("dashboard").await;

    // Who read the subject's data, and why: the search finds the decrypt under `kyc`.
    c.goto(&app.url("/console/audit")).await.unwrap();
    browser.fill("#f-subject", SUBJECT).await;
    browser.submit("#search-submit").await;
    let results = browser.text("#results").await;
    assert!(
        results.contains("decrypt") && results.contains("kyc"),
        "{results}"
    );
    browser.screenshot("audit").await;

    // The event's proof is checked in the page, against the signed checkpoint.
    let rows = c.find_all(Locator::Css("#results tbody tr")).await.unwrap();
    let mut decrypt_link = None;
    for row in rows {
        if row.text().await.unwrap().contains("decrypt") {
            decrypt_link = Some(row.find(Locator::Css("a.event-link")).await.unwrap());
            break;
        }
    }
    c.execute("window.__before_submit = true;", vec![])
        .await
        .unwrap();
    decrypt_link.unwrap().click().await.unwrap();
    let verdict = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(
            "#verdict[data-status='ok'], #verdict[data-status='fail']",
        ))
        .await
        .unwrap();
    assert_eq!(
        verdict.attr("data-status").await.unwrap().as_deref(),
        Some("ok")
    );
    for check in ["#check-leaf", "#check-root", "#check-signature"] {
        let status = c
            .find(Locator::Css(check))
            .await
            .unwrap()
            .attr("data-status")
            .await
            .unwrap();
        assert_eq!(
            status.as_deref(),
            Some("ok"),
            "{check}: {}",
            browser.text(check).await
        );
    }
    assert!(browser.text("#event-json").await.contains(SUBJECT));
    browser.screenshot("event").await;

    // Acknowledge the alert with a comment.
    c.goto(&app.url("/console/alerts")).await.unwrap();
    browser.screenshot("alerts").await;
    browser.submit("a.alert-link").await;
    assert_eq!(browser.text("#alert-rule").await, "bulk_access");
    browser
        .fill("#ack-comment", "批量读取系测试任务，已核实")
        .await;
    browser.submit("#ack-submit").await;
    assert!(
        browser
            .text("#ack-status")
            .await
            .contains(&format!("user:{OFFICER}"))
    );

    // Complete the deletion request: the subject is erased.
    c.goto(&app.url("/console/requests")).await.unwrap();
    let row = format!("#request-{request}");
    assert!(browser.text(&row).await.contains("open"));
    browser.screenshot("requests").await;
    browser
        .fill(
            &format!("{row} input[name='resolution']"),
            "已按您的要求删除",
        )
        .await;
    browser.submit(&format!("{row} button.complete")).await;
    assert!(
        browser
            .text(&format!("{row} td.status"))
            .await
            .contains("completed")
    );
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT COUNT(*) FROM erasures WHERE subject = '{SUBJECT}'"
            ))
            .await,
        1
    );

    // English, on request.
    c.goto(&app.url("/console?lang=en")).await.unwrap();
    assert!(browser.text("h1").await.contains("Dashboard"));
    browser.screenshot("dashboard-en").await;

    // Sign out: the session is over.
    browser.submit("#signout").await;
    c.goto(&app.url("/console/alerts")).await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/signin")
    );

    // Everything the officer did is in the trail, under their name.
    let actions = app
        .db
        .texts(&format!(
            "SELECT action FROM audit_events WHERE actor = 'console:{OFFICER}' ORDER BY seq"
        ))
        .await;
    for action in [
        "console_signin",
        "audit_read",
        "alert_ack",
        "request_close",
        "erase",
        "console_signout",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let refused = app
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'console_signin' \
             AND actor = 'user:{OFFICER}' AND outcome = 'denied'"
        ))
        .await;
    assert_eq!(refused, 1, "the wrong password is in the trail too");
    drop(browser);
}

/// The sign-in form's hidden token and the matching cookie, fetched as a browser would.
async fn signin_token(client: &reqwest::Client, app: &TestApp) -> (String, String) {
    let page = client.get(app.url("/console/signin")).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("baomi_console_pre="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (token, cookie)
}

async fn sign_in(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (token, cookie) = signin_token(&client, app).await;
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("csrf", &token));
    client
        .post(app.url("/console/signin"))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_service_keys_stay_out() {
    let (app, key, request) = seeded().await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Without a session every page redirects to the sign-in page.
    for path in [
        "/console",
        "/console/audit",
        "/console/alerts",
        "/console/requests",
        "/console/audit/events/1",
    ] {
        let r = plain.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/console/signin");
    }

    // A service key cannot open the console; an officer key can.
    let refused = sign_in(&app, &[("username", ""), ("api_key", &key)]).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().starts_with("baomi_console="))
    );
    let (_, officer_key) = app.create_key("officer", &[]).await;
    let ok = sign_in(&app, &[("username", ""), ("api_key", &officer_key)]).await;
    assert_eq!(ok.status(), 303, "an officer key signs in");

    // The session cookie: HttpOnly, SameSite=Strict, scoped to the console; Secure behind TLS.
    let ok = sign_in(&app, &[("username", OFFICER), ("password", PASSWORD)]).await;
    assert_eq!(ok.status(), 303);
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("baomi_console="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();

    // A form without the token, or with another, is refused and changes nothing.
    for form in [
        vec![("resolution", "done"), ("status", "completed")],
        vec![
            ("resolution", "done"),
            ("status", "completed"),
            ("csrf", "forged"),
        ],
    ] {
        let r = plain
            .post(app.url(&format!("/console/requests/{request}/close")))
            .header("cookie", &session)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    let no_fields: [(&str, &str); 0] = [];
    let sign_out = plain
        .post(app.url("/console/signout"))
        .header("cookie", &session)
        .form(&no_fields)
        .send()
        .await
        .unwrap();
    assert_eq!(sign_out.status(), 403, "sign-out is a form too");
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT COUNT(*) FROM rights_requests WHERE id = '{request}' AND status = 'open'"
            ))
            .await,
        1
    );
    let still = plain
        .get(app.url("/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200, "the session still works");
    let page = still.text().await.unwrap();
    assert!(
        !page.contains("13800138000"),
        "no PI value on the dashboard"
    );

    // Sign-in itself needs its token.
    let r = plain
        .post(app.url("/console/signin"))
        .form(&[("username", OFFICER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Repeated failures are slowed down: after three, the next attempt must wait.
    for _ in 0..3 {
        let r = sign_in(
            &app,
            &[("username", OFFICER), ("password", "wrong wrong wrong")],
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let r = sign_in(&app, &[("username", OFFICER), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), 429, "even the right password waits its turn");
    assert!(r.text().await.unwrap().contains("秒后再试"));
}

#[tokio::test]
async fn csv_and_jsonl_exports_follow_the_filter() {
    let (app, _key, _request) = seeded().await;
    let ok = sign_in(&app, &[("username", OFFICER), ("password", PASSWORD)]).await;
    let session = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("baomi_console="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let session = session.clone();
        async move {
            let r = client
                .get(path)
                .header("cookie", session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let csv = get(app.url(&format!(
        "/console/audit/export.csv?subject={SUBJECT}&action=decrypt"
    )))
    .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "seq,at_ms,action,actor,actor_role,operator,subject,purpose,outcome,code"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains(",decrypt,") && lines[1].contains(SUBJECT) && lines[1].contains(",kyc,")
    );
    let jsonl = get(app.url(&format!("/console/audit/export.jsonl?subject={SUBJECT}"))).await;
    let events: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() >= 2, "{jsonl}");
    assert!(events.iter().all(|e| e["event"]["subject"] == SUBJECT));
    assert!(!jsonl.contains("13800138000") && !csv.contains("13800138000"));
}
