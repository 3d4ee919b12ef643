//! The console's second factor: admins enrol a TOTP authenticator before any other page
//! opens (officers when configured); a code opens one sign-in and never a second; recovery
//! codes are shown once and each works once; a password alone no longer opens the trail.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::console::{PASSWORD, csrf_in, session_of, sign_in};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// The TOTP code of `secret` (base32) for `name` at Unix time `at`.
pub(crate) fn code(secret: &str, name: &str, at: u64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        Some("Baomi".to_owned()),
        name.to_owned(),
    )
    .unwrap()
    .generate(at)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The text of the element with `id` in `html` (its first text, tags stripped).
fn text_of(html: &str, id: &str) -> String {
    let after = html
        .split(&format!("id=\"{id}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let inner = after.split_once('>').unwrap().1;
    inner.split('<').next().unwrap().trim().to_owned()
}

/// An account enrolled through the console, and signed in again with a code.
pub(crate) struct Enrolled {
    /// The session cookie of the sign-in with a code.
    pub cookie: String,
    /// The TOTP secret, base32.
    pub secret: String,
    /// The recovery codes shown at enrolment.
    pub recovery: Vec<String>,
    /// The Unix time of the step the sign-in used (the next usable is 30 s later).
    pub used_at: u64,
}

fn client() -> reqwest::Client {
    crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// Signs `name` in with its password, enrols its second factor on the page the console
/// sends it to, and signs in again with a code.
pub(crate) async fn enrolled(app: &TestApp, name: &str) -> Enrolled {
    let first = sign_in(app, &[("username", name), ("password", PASSWORD)]).await;
    assert_eq!(first.status(), 303, "the password is right");
    let cookie = session_of(&first);
    let page = get(app, &cookie, "/console/second-factor").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("id=\"totp-qr\"") && page.contains("<svg"),
        "a QR code"
    );
    let secret = text_of(&page, "totp-secret");
    let confirmed = client()
        .post(app.url("/console/second-factor"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf_in(&page).as_str()),
            ("code", code(&secret, name, now()).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    let shown = confirmed.text().await.unwrap();
    let recovery: Vec<String> = shown
        .split("id=\"recovery-codes\"")
        .nth(1)
        .unwrap()
        .split("<code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10, "{shown}");
    // The confirmation used this step's code: the next step's is the next one accepted.
    let used_at = now() + 30;
    let again = sign_in(
        app,
        &[
            ("username", name),
            ("password", PASSWORD),
            ("code", &code(&secret, name, used_at)),
        ],
    )
    .await;
    assert_eq!(again.status(), 303, "signed in with a code");
    Enrolled {
        cookie: session_of(&again),
        secret,
        recovery,
        used_at,
    }
}

#[tokio::test]
async fn an_admin_enrols_before_the_console_opens_and_each_code_opens_one_sign_in() {
    let app = spawn_app().await;
    let name = "root.admin";
    crate::console::add_account(&app, name, baomi::auth::Role::Admin, &[]).await;

    // The password alone opens the enrolment page and nothing else.
    let first = sign_in(&app, &[("username", name), ("password", PASSWORD)]).await;
    assert_eq!(first.status(), 303);
    let enrolling = session_of(&first);
    for path in ["/console", "/console/audit", "/console/accounts"] {
        let r = get(&app, &enrolling, path).await;
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/console/second-factor");
    }
    let signed_out = client()
        .post(app.url("/console/signout"))
        .header("cookie", &enrolling)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed_out.status(),
        403,
        "sign-out still needs the session's token"
    );

    let enrolled = enrolled(&app, name).await;
    assert_eq!(get(&app, &enrolled.cookie, "/console").await.status(), 200);
    let gone = get(&app, &enrolling, "/console").await;
    assert_eq!(
        gone.headers()["location"],
        "/console/signin",
        "the enrolling session ended"
    );

    // Without a code, with a wrong one, or with one already used: refused alike.
    let attempt = |code: String| {
        let app = &app;
        async move {
            sign_in(
                app,
                &[("username", name), ("password", PASSWORD), ("code", &code)],
            )
            .await
            .status()
        }
    };
    // Two failures in a row at most: a third would make the next attempt wait.
    assert_eq!(attempt(String::new()).await, 401, "a password alone");
    assert_eq!(attempt("000000".to_owned()).await, 401);
    // Recovery codes, typed loosely, once each.
    let loose = enrolled.recovery[4].to_uppercase().replace('-', " ");
    assert_eq!(attempt(loose).await, 303);
    let used = code(&enrolled.secret, name, enrolled.used_at);
    assert_eq!(attempt(used).await, 401, "a code is accepted once");
    let before = code(&enrolled.secret, name, enrolled.used_at - 30);
    assert_eq!(attempt(before).await, 401, "nor one of an earlier step");
    assert_eq!(attempt(enrolled.recovery[5].clone()).await, 303);
    assert_eq!(attempt(enrolled.recovery[4].clone()).await, 401, "used up");

    // The page now says it is on, with the codes left.
    let page = get(&app, &enrolled.cookie, "/console/second-factor?lang=en")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"second-factor-on\""));
    assert_eq!(text_of(&page, "recovery-left"), "Recovery codes left: 8");
    assert!(
        !page.contains("totp-secret"),
        "the secret is never shown again"
    );

    // On the record: the enrolment, and how each sign-in met the second factor.
    let fields = app
        .db
        .texts(
            "SELECT body FROM audit_events WHERE action IN ('console_signin', \
             'console_user_change') ORDER BY seq",
        )
        .await
        .join("\n");
    for label in [
        "second_factor:enrolment_required",
        "second_factor:enrolled",
        "second_factor:totp",
        "second_factor:recovery_code",
    ] {
        assert!(fields.contains(label), "{label} not in the trail");
    }
    assert!(
        !fields.contains(&enrolled.secret),
        "the secret stays out of the trail"
    );
    assert!(!fields.contains(&enrolled.recovery[0]));
}

#[tokio::test]
async fn officers_enrol_when_the_configuration_says_so() {
    let app = spawn_app().await;
    crate::console::add_account(&app, "li.wei", baomi::auth::Role::Officer, &[]).await;
    let r = sign_in(&app, &[("username", "li.wei"), ("password", PASSWORD)]).await;
    assert_eq!(
        get(&app, &session_of(&r), "/console").await.status(),
        200,
        "optional"
    );

    let strict = spawn_app_with(|c| c.console.second_factor_for_officers = true).await;
    crate::console::add_account(&strict, "li.wei", baomi::auth::Role::Officer, &[]).await;
    let r = sign_in(&strict, &[("username", "li.wei"), ("password", PASSWORD)]).await;
    let sent = get(&strict, &session_of(&r), "/console").await;
    assert_eq!(sent.headers()["location"], "/console/second-factor");
    let enrolled = enrolled(&strict, "li.wei").await;
    assert_eq!(
        get(&strict, &enrolled.cookie, "/console").await.status(),
        200
    );
}

/// A code is accepted once on any node: the step used is kept in the database, so a code
/// used on one node is refused by another sharing it (PostgreSQL only: SQLite has no
/// second node).
#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=… cargo test -- --include-ignored"]
async fn a_code_used_on_one_node_is_refused_on_another() {
    crate::helpers::postgres_only();
    let app = spawn_app().await;
    let other = app.other_node().await;
    let name = "fleet.admin";
    crate::console::add_account(&app, name, baomi::auth::Role::Admin, &[]).await;
    let enrolled = enrolled(&app, name).await;
    // `enrolled` signed in on the first node with the code of `used_at`'s step.
    let used = code(&enrolled.secret, name, enrolled.used_at);
    let replay = [
        ("username", name),
        ("password", PASSWORD),
        ("code", used.as_str()),
    ];
    let replayed = crate::console::sign_in_at(&other.url(""), &replay).await;
    assert_eq!(
        replayed.status(),
        401,
        "a code used on one node, refused on the other"
    );
    let recovery = [
        ("username", name),
        ("password", PASSWORD),
        ("code", enrolled.recovery[0].as_str()),
    ];
    assert_eq!(
        crate::console::sign_in_at(&other.url(""), &recovery)
            .await
            .status(),
        303
    );
    assert_eq!(
        sign_in(&app, &recovery).await.status(),
        401,
        "a recovery code is used up on every node"
    );
}

/// An account that needs a second factor may enrol one with its password alone only within
/// `console.enrolment_window_hours` of the password being set: a password found later
/// cannot enrol the thief's authenticator. It is refused as a wrong password is (the page
/// confirms nothing), recorded as `console.enrolment_expired`, and a password set anew
/// opens a new window. An account already enrolled is not concerned.
#[tokio::test]
async fn an_account_not_enrolled_in_time_needs_its_password_set_again() {
    let app = spawn_app().await;
    let late = "late.admin";
    crate::console::add_account(&app, late, baomi::auth::Role::Admin, &[]).await;
    let on_time = "prompt.admin";
    crate::console::add_account(&app, on_time, baomi::auth::Role::Admin, &[]).await;
    let enrolled = enrolled(&app, on_time).await;
    app.db
        .execute("UPDATE console_users SET password_set_at = password_set_at - 73 * 3600")
        .await;

    let refused = sign_in(&app, &[("username", late), ("password", PASSWORD)]).await;
    assert_eq!(refused.status(), 401, "refused as a wrong password is");
    let page = refused.text().await.unwrap();
    assert!(!page.contains("second-factor"), "{page}");
    let recorded = app
        .db
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'console_signin' \
             AND body LIKE '%console.enrolment_expired%'",
        )
        .await;
    assert_eq!(recorded, 1);

    let recovery = [
        ("username", on_time),
        ("password", PASSWORD),
        ("code", enrolled.recovery[0].as_str()),
    ];
    assert_eq!(
        sign_in(&app, &recovery).await.status(),
        303,
        "an enrolled account signs in as before"
    );

    // A new password, set by an admin, opens a new window.
    crate::console::add_account(&app, late, baomi::auth::Role::Admin, &[]).await;
    let again = sign_in(&app, &[("username", late), ("password", PASSWORD)]).await;
    assert_eq!(again.status(), 303);
    let opened = get(&app, &session_of(&again), "/console").await;
    assert_eq!(opened.headers()["location"], "/console/second-factor");
}
