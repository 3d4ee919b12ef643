//! `baomi backup` and `baomi restore`: a backup taken while Baomi serves, an erasure made
//! after it, and a restore that never brings the erased person back.

use std::process::Output;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSPHRASE, TestApp, spawn_app};

/// Runs the `baomi` binary on the app's data directory and database, with the test
/// passphrase and no other configuration from the environment.
fn baomi(app_dir: &std::path::Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = crate::helpers::baomi_process();
    cmd.env("BAOMI_UNSEAL_PASSPHRASE", PASSPHRASE)
        .args(args)
        .arg("--data-dir")
        .arg(app_dir);
    if let Some(url) = url {
        cmd.args(["--database-url", url]);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn sealed(app: &TestApp, key: &str) -> Value {
    let r = app
        .post(
            "/v1/encrypt",
            Some(key),
            json!({"items": [
                {"subject_id": "leaver", "field": "mobile", "value": "13800138000"},
                {"subject_id": "stayer", "field": "mobile", "value": "13912345678"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json()["items"].clone();
    json!([
        {"subject_id": "leaver", "field": "mobile", "ciphertext": items[0]["ciphertext"]},
        {"subject_id": "stayer", "field": "mobile", "ciphertext": items[1]["ciphertext"]}
    ])
}

async fn read(app: &TestApp, key: &str, items: &Value) -> Vec<Value> {
    let r = app
        .post(
            "/v1/decrypt",
            Some(key),
            json!({"purpose": "support", "view": "plain", "items": items}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_restored_backup_never_brings_an_erased_subject_back() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["support"]).await;
    let items = sealed(&app, &key).await;
    let dir = app.db.path();
    let url = app.db.url.clone();
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("baomi-backup.db");

    if url.is_none() {
        // SQLite: a real backup, taken while the server serves.
        let out = baomi(&dir, None, &["backup", "--out", backup.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("audit events"), "{}", text(&out));
        let again = baomi(&dir, None, &["backup", "--out", backup.to_str().unwrap()]);
        assert!(!again.status.success(), "a backup never overwrites a file");
    } else {
        // PostgreSQL is backed up with pg_dump, which dumps the whole test database (every
        // test's schema); here what a restored dump holds is simulated by keeping the
        // subject's rows, and the restore is `pg_restore` + `baomi restore --replay-erasures`.
        for table in ["subject_keys", "erasures"] {
            app.db
                .execute(&format!(
                    "CREATE TABLE kept_{table} AS SELECT * FROM {table}"
                ))
                .await;
        }
    }

    let erased = app
        .call(Method::DELETE, "/v1/subjects/leaver", Some(&key), None)
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert_eq!(
        read(&app, &key, &items).await[0]["error"]["code"],
        "vault.subject_erased"
    );
    let (db, admin) = app.stop().await;

    let out = match &url {
        None => baomi(&dir, None, &["restore", "--from", backup.to_str().unwrap()]),
        Some(url) => {
            db.execute("DELETE FROM erasures").await;
            db.execute(
                "INSERT INTO subject_keys SELECT * FROM kept_subject_keys WHERE subject = 'leaver'",
            )
            .await;
            baomi(&dir, Some(url), &["restore", "--replay-erasures"])
        }
    };
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 erasures re-applied"),
        "{}",
        text(&out)
    );
    if url.is_none() {
        let kept: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("baomi.db.before-restore-"))
            .collect();
        assert!(!kept.is_empty(), "the replaced database is kept");
    }

    let app = TestApp::start(db, admin).await;
    let after = read(&app, &key, &items).await;
    assert_eq!(
        after[0]["error"]["code"], "vault.subject_erased",
        "{after:?}"
    );
    assert_eq!(
        after[1]["value"], "13912345678",
        "the other subject is restored"
    );
}

#[tokio::test]
async fn restore_refuses_what_is_not_a_baomi_backup() {
    let app = spawn_app().await;
    if app.db.url.is_some() {
        // PostgreSQL restores go through pg_restore, not --from.
        let out = baomi(
            &app.db.path(),
            app.db.url.as_deref(),
            &["restore", "--from", "/dev/null"],
        );
        assert!(!out.status.success());
        assert!(text(&out).contains("pg_restore"), "{}", text(&out));
        return;
    }
    let dir = app.db.path();
    let (db, admin) = app.stop().await;
    let junk = dir.join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let out = baomi(&dir, None, &["restore", "--from", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("junk.db"), "{}", text(&out));
    // The database was not touched: the app starts on it as before.
    let app = TestApp::start(db, admin).await;
    assert_eq!(app.get("/readyz", None).await.status, 200);
}
