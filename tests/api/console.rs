//! The officer console in a real browser (headless Chromium through ChromeDriver, driven
//! with fantoccini): sign in, find who read a subject's data and why, open an event and see
//! its proof verified in the page, acknowledge an alert, chart a purpose's consents and open
//! a subject's history under it, approve then complete a deletion request, see a tampered
//! event fail its proof, sign out; a wrong password fails. Over plain HTTP against the same
//! server: a form without its CSRF token is refused, a service key cannot open the console,
//! pages need a session, a revoked key's session ends, consent histories open only under the
//! officer's purposes, and the cookie's attributes.
//!
//! Chromium is Debian's `chromium` and `chromium-driver`; `.ci/run` installs them and sets
//! `REQUIRE_CHROMIUM=1`, so there a missing browser fails the run. Elsewhere, without them,
//! the browser test says so and does nothing. `CONSOLE_SCREENSHOTS=docs/console` saves the
//! screenshots docs/console.md shows.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const OFFICER: &str = "li.hua";
pub(crate) const PASSWORD: &str = "correct horse battery 42";
const SUBJECT: &str = "u-20261123";

/// ChromeDriver and a headless Chromium session; both end when dropped.
struct Browser {
    client: Client,
    driver: std::process::Child,
}

impl Drop for Browser {
    /// Ends ChromeDriver and every Chromium process it started: they share the process
    /// group ChromeDriver leads (killing ChromeDriver alone left browsers running).
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
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
            .process_group(0)
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

    /// Whether the browser is on the sign-in page.
    async fn at_signin(&self) -> bool {
        let url = self.client.current_url().await.unwrap();
        url.path().ends_with("/console/signin")
    }

    /// The event page's verdict on its proof, once the script has reached one.
    async fn verdict(&self) -> String {
        let verdict = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(
                "#verdict[data-status='ok'], #verdict[data-status='fail']",
            ))
            .await
            .unwrap();
        verdict
            .attr("data-status")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// The `data-status` of the element `css`.
    async fn status(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr("data-status")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Signs the officer in, from any page.
    async fn sign_in(&self, app: &TestApp) {
        self.client.goto(&app.url("/console")).await.unwrap();
        if self.at_signin().await {
            self.fill("#username", OFFICER).await;
            self.fill("#password", PASSWORD).await;
            self.submit("#signin-submit").await;
        }
        assert!(!self.at_signin().await);
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

/// Adds a console account with [`PASSWORD`], as `baomi console add-user` does.
/// Saves a console account with `baomi console add-user`, run as a process on the app's
/// database (the password on its standard input, as an operator would give it).
pub(crate) async fn add_account(
    app: &TestApp,
    name: &str,
    role: baomi::auth::Role,
    purposes: &[&str],
) {
    use tokio::io::AsyncWriteExt;
    let url = crate::audit_trail::database_url(app);
    let mut command = tokio::process::Command::from(crate::helpers::baomi_process());
    command
        .args(["console", "add-user", name, "--role", role.as_str()])
        .args(["--database-url", &url, "--data-dir"])
        .arg(app.db.path());
    for purpose in purposes {
        command.args(["--purpose", purpose]);
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        said.trim(),
        format!("console account {name} ({}) saved", role.as_str())
    );
    assert!(!said.contains(PASSWORD) && !String::from_utf8_lossy(&out.stderr).contains(PASSWORD));
}

/// `GET path` of the console with `session` as the cookie, redirects not followed.
async fn console_page(app: &TestApp, session: &str, path: &str) -> reqwest::Response {
    crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
}

/// A purpose based on consent.
fn purpose() -> Value {
    json!({
        "description": "Offers of wealth products by SMS",
        "legal_basis": "consent",
        "categories": [{"name": "mobile", "sensitive": false, "level": "C2"}],
        "retention_days": 365
    })
}

/// Declares `marketing` and `credit_check`; under `marketing` the subject grants, withdraws
/// and grants again and `u-2` grants (two active); under `credit_check` the subject grants.
async fn seed_consents(app: &TestApp) {
    for id in ["marketing", "credit_check"] {
        let r = app
            .call(
                reqwest::Method::PUT,
                &format!("/v1/purposes/{id}"),
                Some(&app.admin_key),
                Some(purpose()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let (_, key) = app
        .create_key("service", &["marketing", "credit_check"])
        .await;
    let grant = |subject: &'static str, purpose: &'static str| {
        let key = key.clone();
        async move {
            let r = app
                .post(
                    &format!("/v1/subjects/{subject}/consents"),
                    Some(&key),
                    json!({"purpose": purpose, "channel": "app", "evidence": "opt-in switch, off by default"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    };
    grant(SUBJECT, "marketing").await;
    let withdrawn = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/subjects/{SUBJECT}/consents/marketing"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);
    grant(SUBJECT, "marketing").await;
    grant("u-2", "marketing").await;
    grant(SUBJECT, "credit_check").await;
}

/// A server with a console account (an officer who may open `marketing` histories), reads
/// of a subject by a service key (enough to raise a bulk-access alert), consents, a signed
/// checkpoint and an open deletion request.
async fn seeded() -> (TestApp, String, String) {
    let app = spawn_app_with(|c| {
        c.audit.alerts.bulk_max_subjects = 2;
        c.audit.alerts.evaluate_every_ms = 20;
    })
    .await;
    add_account(&app, OFFICER, baomi::auth::Role::Officer, &["marketing"]).await;
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
    seed_consents(&app).await;
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
    assert!(browser.at_signin().await);
    browser.screenshot("signin").await;

    // A wrong password fails, saying so, and signs no one in.
    browser.fill("#username", OFFICER).await;
    browser.fill("#password", "not the password").await;
    browser.submit("#signin-submit").await;
    assert!(browser.text("#signin-error").await.contains("不正确"));
    assert!(browser.at_signin().await);

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
    assert_eq!(browser.verdict().await, "ok");
    // No key is pinned here (`console.verifier_keys`): the page says it checked against the
    // server's own.
    assert_eq!(browser.status("#check-pinned").await, "unpinned");
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
    let event_url = c.current_url().await.unwrap();

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

    // Consents: the purpose's charts, and the subject's history under it.
    c.goto(&app.url("/console/consents?purpose=marketing"))
        .await
        .unwrap();
    assert_eq!(
        c.find_all(Locator::Css("#consent-charts svg"))
            .await
            .unwrap()
            .len(),
        3
    );
    let active_today = c
        .find_all(Locator::Css("#consent-charts rect.active title"))
        .await
        .unwrap();
    let last = active_today.last().unwrap().html(true).await.unwrap();
    assert!(last.ends_with(": 2"), "two active grants today: {last}");
    assert!(browser.text("#may-open").await.contains("marketing"));
    browser.fill("#c-subject", SUBJECT).await;
    browser.submit("#c-submit").await;
    assert_eq!(browser.text("#history-state").await, "有效 (v1)");
    let history = browser.text("#history-events").await;
    assert_eq!(history.matches("授予").count(), 2, "{history}");
    assert_eq!(history.matches("撤回").count(), 1, "{history}");
    browser.screenshot("consents").await;
    // A purpose the officer does not carry stays shut.
    c.goto(&app.url(&format!(
        "/console/consents?purpose=credit_check&subject={SUBJECT}"
    )))
    .await
    .unwrap();
    assert!(browser.text("#error").await.contains("无权访问"));

    // Approve the deletion request, then complete it: the subject is erased.
    c.goto(&app.url("/console/requests")).await.unwrap();
    let row = format!("#request-{request}");
    assert!(
        browser
            .text(&format!("{row} td.status"))
            .await
            .contains("待受理")
    );
    browser.submit(&format!("{row} button.approve")).await;
    let status = browser.text(&format!("{row} td.status")).await;
    assert!(
        status.contains("已受理") && status.contains(&format!("console:{OFFICER}")),
        "{status}"
    );
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
            .contains("已完成")
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

    // Someone with write access to the database edits the event: its page now says the
    // proof fails, at the leaf.
    tamper(&app, event_url.path().rsplit('/').next().unwrap()).await;
    c.goto(event_url.as_str()).await.unwrap();
    assert_eq!(browser.verdict().await, "fail");
    let leaf = c.find(Locator::Css("#check-leaf")).await.unwrap();
    assert_eq!(
        leaf.attr("data-status").await.unwrap().as_deref(),
        Some("fail")
    );
    browser.screenshot("event-tampered").await;

    // Sign out: the session is over.
    browser.submit("#signout").await;
    c.goto(&app.url("/console/alerts")).await.unwrap();
    assert!(browser.at_signin().await);

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
        "read",
        "request_approve",
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
    let out_of_scope = app
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE actor = 'console:{OFFICER}' \
             AND action = 'read' AND purpose = 'credit_check' AND outcome = 'denied'"
        ))
        .await;
    assert_eq!(out_of_scope, 1, "the refused look-up is in the trail");
    let looked_up = app
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE actor = 'console:{OFFICER}' \
             AND action = 'read' AND subject = '{SUBJECT}' AND purpose = 'marketing' \
             AND outcome = 'allowed'"
        ))
        .await;
    assert_eq!(looked_up, 1, "the subject's history, read under marketing");
    drop(browser);
}

/// Edits the body of audit event `seq` in the database, past the append-only triggers.
/// The console checks checkpoints against the verifier keys pinned in its configuration,
/// not those of the database it shows: with the log's key among them the proof verifies;
/// pinned to other keys only (as after someone re-signed the trail with a key of their
/// own), the page and the dashboard say it fails.
#[tokio::test]
async fn the_console_checks_against_the_keys_pinned_in_its_configuration() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = crate::helpers::spawn_app().await;
    add_account(&app, OFFICER, baomi::auth::Role::Officer, &[]).await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    crate::audit::some_reads(&app, &key, 1).await;
    app.audit_log
        .checkpoint_now(baomi::service::now())
        .await
        .unwrap();
    let (_, officer) = app.create_key("officer", &[]).await;
    let events = app
        .get("/v1/audit/events?action=decrypt", Some(&officer))
        .await
        .json();
    let seq = events["events"][0]["seq"].as_i64().unwrap();
    let own = app.audit_log.verifier_key();
    let other = baomi_audit::checkpoint::CheckpointSigner::new(app.audit_log.origin(), &[3; 32])
        .unwrap()
        .verifier_key();
    // Restarted with `keys` pinned: the dashboard's checkpoint tile, then the event's page.
    let pinned = async |app: TestApp, keys: Vec<String>| {
        let (db, admin) = app.stop().await;
        let app = TestApp::start_with(db, admin, move |c| c.console.verifier_keys = keys).await;
        browser.sign_in(&app).await;
        let tile = browser.text("#checkpoint").await;
        let page = app.url(&format!("/console/audit/events/{seq}"));
        browser.client.goto(&page).await.unwrap();
        (app, tile)
    };

    let (app, tile) = pinned(app, vec![other.clone(), own]).await;
    assert!(tile.contains('✓'), "{tile}");
    assert_eq!(browser.verdict().await, "ok");
    assert_eq!(browser.status("#check-signature").await, "ok");
    assert_eq!(browser.status("#check-pinned").await, "ok");

    let (_app, tile) = pinned(app, vec![other]).await;
    assert!(tile.contains('✗'), "{tile}");
    assert_eq!(browser.verdict().await, "fail");
    assert_eq!(browser.status("#check-signature").await, "fail");
    assert_eq!(browser.status("#check-leaf").await, "ok");
}

async fn tamper(app: &TestApp, seq: &str) {
    if app.db.url.is_some() {
        app.db
            .execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
            .await;
    } else {
        app.db.execute("DROP TRIGGER audit_events_no_update").await;
    }
    app.db
        .execute(&format!(
            "UPDATE audit_events SET body = replace(body, 'kyc', 'aml') WHERE seq = {seq}"
        ))
        .await;
    let edited = app
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE seq = {seq} AND body LIKE '%aml%'"
        ))
        .await;
    assert_eq!(edited, 1, "the event was edited");
}

/// The sign-in form's hidden token and the matching cookie, fetched as a browser would.
async fn signin_token(client: &reqwest::Client, app: &TestApp) -> (String, String) {
    signin_token_at(client, &app.url("")).await
}

/// [`signin_token`] from the node serving at `base`.
async fn signin_token_at(client: &reqwest::Client, base: &str) -> (String, String) {
    let page = client
        .get(format!("{base}/console/signin"))
        .send()
        .await
        .unwrap();
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
    (csrf_in(&page.text().await.unwrap()), cookie)
}

/// The CSRF token in a page's first form.
pub(crate) fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

pub(crate) async fn sign_in(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    sign_in_at(&app.url(""), form).await
}

/// [`sign_in`] on the node serving at `base` (`http://host:port`).
pub(crate) async fn sign_in_at(base: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let client = crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (token, cookie) = signin_token_at(&client, base).await;
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("csrf", &token));
    client
        .post(format!("{base}/console/signin"))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A console session ends after 30 minutes without a request, and 12 hours after sign-in
/// whatever happens (the clock is moved in the database); every page forbids framing,
/// caching and foreign scripts.
#[tokio::test]
async fn console_sessions_expire_and_pages_carry_their_security_headers() {
    let app = crate::helpers::spawn_app().await;
    let (_, officer_key) = app.create_key("officer", &[]).await;
    let plain = crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let headers_of = |r: &reqwest::Response| {
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{directive}: {csp}");
        }
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    };
    headers_of(&plain.get(app.url("/console/signin")).send().await.unwrap());

    for (what, aged) in [
        ("idle for 30 minutes", "seen_at = seen_at - 1800"),
        ("12 hours after sign-in", "expires_at = seen_at"),
    ] {
        let ok = sign_in(&app, &[("username", ""), ("api_key", &officer_key)]).await;
        assert_eq!(ok.status(), 303);
        let session = session_of(&ok);
        let open = console_page(&app, &session, "/console").await;
        assert_eq!(
            open.status(),
            200,
            "{what}: a fresh session opens the dashboard"
        );
        headers_of(&open);
        app.db
            .execute(&format!("UPDATE console_sessions SET {aged}"))
            .await;
        let ended = console_page(&app, &session, "/console").await;
        assert_eq!(ended.status(), 303, "{what}");
        assert_eq!(ended.headers()["location"], "/console/signin", "{what}");
        assert_eq!(
            app.db.count("SELECT COUNT(*) FROM console_sessions").await,
            0,
            "{what}: the ended session is deleted"
        );
    }
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_service_keys_stay_out() {
    let (app, key, request) = seeded().await;
    let plain = crate::helpers::client_builder()
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
    let (officer_id, officer_key) = app.create_key("officer", &[]).await;
    let ok = sign_in(&app, &[("username", ""), ("api_key", &officer_key)]).await;
    assert_eq!(ok.status(), 303, "an officer key signs in");
    // Its session ends when the key is revoked.
    let key_session = session_of(&ok);
    assert_eq!(
        console_page(&app, &key_session, "/console").await.status(),
        200
    );
    // It carries no purpose, so it opens no subject's consent history.
    let history = plain
        .get(app.url(&format!(
            "/console/consents?purpose=marketing&subject={SUBJECT}"
        )))
        .header("cookie", &key_session)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 403);
    let revoked = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/keys/{officer_id}"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_eq!(
        console_page(&app, &key_session, "/console").await.status(),
        303,
        "a revoked key's session is over"
    );

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
    for (action, form) in [
        (
            "close",
            vec![("resolution", "done"), ("status", "completed")],
        ),
        (
            "close",
            vec![
                ("resolution", "done"),
                ("status", "completed"),
                ("csrf", "forged"),
            ],
        ),
        ("approve", vec![]),
        ("approve", vec![("csrf", "forged")]),
    ] {
        let r = plain
            .post(app.url(&format!("/console/requests/{request}/{action}")))
            .header("cookie", &session)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{action} {form:?}");
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

/// The `name=value` of the session cookie a sign-in set.
pub(crate) fn session_of(signed_in: &reqwest::Response) -> String {
    signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("baomi_console="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn csv_and_jsonl_exports_follow_the_filter() {
    let (app, key, _request) = seeded().await;
    // An operator id is the platform's to send, and may begin like a spreadsheet formula.
    let sealed = app
        .post(
            "/v1/encrypt",
            Some(&key),
            json!({"items": [{"subject_id": "u-formula", "field": "mobile", "value": "13800138000"}]}),
        )
        .await
        .json();
    let formula = r#"=HYPERLINK("http://evil.example","open")"#;
    let read = app
        .client
        .post(app.url("/v1/decrypt"))
        .bearer_auth(&key)
        .header("X-Baomi-Operator", formula)
        .json(
            &json!({"purpose": "kyc", "items": [{"subject_id": "u-formula", "field": "mobile",
            "ciphertext": sealed["items"][0]["ciphertext"]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let ok = sign_in(&app, &[("username", OFFICER), ("password", PASSWORD)]).await;
    let session = session_of(&ok);
    let client = crate::helpers::client();
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

    // That operator's cell is neutralised: quoted, and led by an apostrophe.
    let csv = get(app.url("/console/audit/export.csv?subject=u-formula&action=decrypt")).await;
    let row = csv.lines().nth(1).unwrap_or_else(|| panic!("{csv}"));
    assert!(
        row.contains(r#","'=HYPERLINK(""http://evil.example"",""open"")","#),
        "{row}"
    );
    assert!(!row.split(',').any(|cell| cell.starts_with('=')), "{row}");
}

#[tokio::test]
async fn an_admin_manages_console_accounts() {
    let app = crate::helpers::spawn_app().await;
    let admin_name = "root.admin";
    add_account(&app, admin_name, baomi::auth::Role::Admin, &[]).await;
    let plain = crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |session: String, path: &'static str| {
        let plain = plain.clone();
        let url = app.url(path);
        async move {
            plain
                .get(url)
                .header("cookie", session)
                .send()
                .await
                .unwrap()
        }
    };
    let post = |session: String, path: String, form: Vec<(&'static str, String)>| {
        let plain = plain.clone();
        let url = app.url(&path);
        async move {
            plain
                .post(url)
                .header("cookie", session)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let admin = crate::second_factor::enrolled(&app, admin_name)
        .await
        .cookie;
    let listed = get(admin.clone(), "/console/accounts").await;
    assert_eq!(listed.status(), 200);
    let csrf = csrf_in(&listed.text().await.unwrap());
    let account = |password: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("username", "wang.fang".to_owned()),
            ("role", "officer".to_owned()),
            ("purposes", "marketing, credit_check".to_owned()),
            ("password", password.to_owned()),
        ]
    };

    // A password too short is refused and nothing is saved.
    let short = post(admin.clone(), "/console/accounts".into(), account("short")).await;
    assert_eq!(short.status(), 422);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM console_users WHERE username = 'wang.fang'")
            .await,
        0
    );
    // Without the token, nothing either.
    let mut forged = account(PASSWORD);
    forged[0].1 = "forged".to_owned();
    let refused = post(admin.clone(), "/console/accounts".into(), forged).await;
    assert_eq!(refused.status(), 403);

    let saved = post(admin.clone(), "/console/accounts".into(), account(PASSWORD)).await;
    assert_eq!(saved.status(), 303);
    let page = get(admin.clone(), "/console/accounts")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("credit_check, marketing"), "{page}");
    assert!(!page.contains("argon2"), "no password hash in the page");

    // The new officer signs in, and cannot manage accounts.
    let officer =
        session_of(&sign_in(&app, &[("username", "wang.fang"), ("password", PASSWORD)]).await);
    assert_eq!(get(officer.clone(), "/console").await.status(), 200);
    assert_eq!(
        get(officer.clone(), "/console/accounts").await.status(),
        403
    );
    let by_officer = post(
        officer.clone(),
        "/console/accounts/root.admin/remove".into(),
        vec![(
            "csrf",
            csrf_in(&get(officer.clone(), "/console").await.text().await.unwrap()),
        )],
    )
    .await;
    assert_eq!(by_officer.status(), 403);

    // A reset ends the officer's session; so does removal, after which sign-in fails.
    let new_password = "another horse battery 43";
    let reset = post(
        admin.clone(),
        "/console/accounts".into(),
        account(new_password),
    )
    .await;
    assert_eq!(reset.status(), 303);
    assert_eq!(get(officer, "/console").await.status(), 303);
    let officer = session_of(
        &sign_in(
            &app,
            &[("username", "wang.fang"), ("password", new_password)],
        )
        .await,
    );
    let removed = post(
        admin.clone(),
        "/console/accounts/wang.fang/remove".into(),
        vec![("csrf", csrf.clone())],
    )
    .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(get(officer, "/console").await.status(), 303);
    let gone = sign_in(
        &app,
        &[("username", "wang.fang"), ("password", new_password)],
    )
    .await;
    assert_eq!(gone.status(), 401);
    let own = post(
        admin.clone(),
        format!("/console/accounts/{admin_name}/remove"),
        vec![("csrf", csrf.clone())],
    )
    .await;
    assert_eq!(
        own.status(),
        422,
        "an admin cannot remove the account in use"
    );

    let changes = app
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'console_user_change' \
             AND actor = 'console:{admin_name}'"
        ))
        .await;
    assert_eq!(
        changes, 4,
        "its own second factor, then added, reset, removed"
    );
    let leaked = app
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE body LIKE '%{new_password}%'"
        ))
        .await;
    assert_eq!(leaked, 0, "no password in the trail");
}

#[tokio::test]
async fn a_nul_in_a_form_is_refused_alike_on_both_backends() {
    // PostgreSQL cannot store a NUL: the sign-in's audit event (which names the user) used
    // to fail there with a 500 while SQLite stored it.
    let app = crate::helpers::spawn_app().await;
    let before = app
        .db
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'console_signin'")
        .await;
    let refused = sign_in(&app, &[("username", "officer\0"), ("password", "whatever")]).await;
    assert_eq!(refused.status(), 400);
    let after = app
        .db
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'console_signin'")
        .await;
    assert_eq!(after, before, "nothing was written");
}

#[tokio::test]
async fn a_flood_of_huge_sign_in_names_costs_a_counter_not_the_disk() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.console.refusals_recorded_every_secs = 1;
        c.console.signins_per_minute_per_address = 100;
        c.console.signins_per_minute = 1000;
    })
    .await;
    let trail_bytes = || {
        app.db
            .count("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM audit_events")
    };
    let before = trail_bytes().await;
    let client = crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (token, cookie) = signin_token(&client, &app).await;
    let name = "n".repeat(100 * 1024);
    let mut statuses = std::collections::BTreeMap::new();
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let name = format!("{i}{name}");
        let r = client
            .post(app.url("/console/signin"))
            .header("cookie", &cookie)
            .form(&[
                ("username", name.as_str()),
                ("password", "guess"),
                ("csrf", &token),
            ])
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
        *statuses.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    // 100 a minute from this address (one more each 0.6 s the flood lasted) were looked at,
    // and refused as malformed; the rest were refused at once as too many.
    let looked_at = statuses.get(&401).copied().unwrap_or(0);
    let replenished = (started.elapsed().as_secs_f64() / 0.6).ceil() as u64 + 1;
    assert!(
        (100..=100 + replenished).contains(&looked_at),
        "{statuses:?} in {:?}",
        started.elapsed()
    );
    assert_eq!(statuses.get(&429).copied().unwrap_or(0), 1000 - looked_at);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM console_signin_failures")
            .await,
        0,
        "no name of such a shape is remembered"
    );
    // One counted event per reason, within the next recording.
    let counted = || async {
        app.db
            .texts("SELECT body FROM audit_events WHERE action = 'console_signin' ORDER BY seq")
            .await
            .iter()
            .map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap())
            .collect::<Vec<_>>()
    };
    let mut events = counted().await;
    for _ in 0..50 {
        let total: u64 = events.iter().map(|e| e["count"].as_u64().unwrap()).sum();
        if total >= 1000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        events = counted().await;
    }
    let count_of = |code: &str| -> u64 {
        events
            .iter()
            .filter(|e| e["outcome"]["code"] == code)
            .map(|e| {
                assert_eq!(e["target"], "source:127.0.0.1");
                e["count"].as_u64().unwrap()
            })
            .sum()
    };
    assert_eq!(
        count_of("console.malformed_signin"),
        looked_at,
        "{events:?}"
    );
    assert_eq!(
        count_of("console.too_many_signins"),
        1000 - looked_at,
        "{events:?}"
    );
    let grown = trail_bytes().await - before;
    assert!(grown < 10_000, "the trail grew by {grown} bytes");
}
