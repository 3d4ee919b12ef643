//! `baomi backup` and `baomi restore`: a backup taken while Baomi serves under load, an
//! erasure made after it, and a restore that never brings the erased person back and whose
//! trail verifies.

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
    // On PostgreSQL, a database of its own: pg_dump and pg_restore work on whole databases.
    let app = match crate::helpers::TestDb::new_pg_database().await {
        Some(db) => crate::helpers::spawn_app_on(db).await,
        None => spawn_app().await,
    };
    let (_, key) = app.create_key("service", &["support"]).await;
    let items = sealed(&app, &key).await;
    let dir = app.db.path();
    let url = app.db.url.clone();
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("baomi-backup.db");

    crate::audit_trail::checkpoint(&app).await;
    let verifier = app
        .get("/v1/audit/checkpoint", Some(&app.admin_key))
        .await
        .json()["verifier_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // A real backup, taken while the server serves, and under load: encrypts keep being
    // acknowledged (each with its event) while SQLite's online snapshot or pg_dump (custom
    // format, checked with pg_restore --list) runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (client, url, key, stop) = (
            app.client.clone(),
            app.url("/v1/encrypt"),
            key.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut acknowledged = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let body = json!({"items": [{"subject_id": format!("busy-{acknowledged}"),
                    "field": "mobile", "value": "13700137000"}]});
                let reply =
                    crate::helpers::send(client.post(&url).bearer_auth(&key).json(&body)).await;
                assert_eq!(reply.status, 200, "{}", reply.text);
                acknowledged += 1;
            }
            acknowledged
        })
    };
    let out = {
        let (dir, url, backup) = (dir.clone(), url.clone(), backup.clone());
        tokio::task::spawn_blocking(move || {
            baomi(
                &dir,
                url.as_deref(),
                &["backup", "--out", backup.to_str().unwrap()],
            )
        })
        .await
        .unwrap()
    };
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let acknowledged = load.await.unwrap();
    assert!(acknowledged > 0, "the server served during the backup");
    assert!(out.status.success(), "{}", text(&out));
    if url.is_none() {
        assert!(text(&out).contains("audit events"), "{}", text(&out));
    } else {
        assert!(
            text(&out).contains("by pg_dump (PostgreSQL)"),
            "{}",
            text(&out)
        );
    }
    let again = baomi(
        &dir,
        url.as_deref(),
        &["backup", "--out", backup.to_str().unwrap()],
    );
    assert!(!again.status.success(), "a backup never overwrites a file");

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
            // The restore the backup command prints: pg_restore, then the erasure journal.
            let restored = std::process::Command::new("pg_restore")
                .args(["--clean", "--if-exists", "--single-transaction", "--dbname"])
                .arg(url)
                .arg(&backup)
                .output()
                .unwrap();
            assert!(restored.status.success(), "{}", text(&restored));
            assert_eq!(
                db.count("SELECT COUNT(*) FROM subject_keys WHERE subject = 'leaver'")
                    .await,
                1,
                "the dump, from before the erasure, holds the subject's key"
            );
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
    // The snapshot taken under load is consistent: its trail, and the erasure replayed on
    // it, verify as a whole.
    let verified = crate::audit_trail::verify_live_with(
        &crate::audit_trail::database_url(&app),
        &verifier,
        &[],
    );
    assert!(
        verified.status.success(),
        "{}",
        crate::audit_trail::stdout(&verified)
    );
    let after = read(&app, &key, &items).await;
    assert_eq!(
        after[0]["error"]["code"], "vault.subject_erased",
        "{after:?}"
    );
    assert_eq!(
        after[1]["value"], "13912345678",
        "the other subject is restored"
    );
    let (db, _) = app.stop().await;
    db.drop_pg_database().await;
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
