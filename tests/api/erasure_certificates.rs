//! Erasure certificates: issued over the API once a checkpoint covers the erasure, checked
//! offline with `baomi audit verify-erasure` and the log's verifier key alone, and refused
//! when altered.

use reqwest::Method;
use serde_json::Value;

use crate::audit::some_reads;
use crate::audit_trail::{baomi, stdout};
use crate::helpers::{TestApp, spawn_app, until};

/// Erases `subject` with `key` and returns the certificate once a checkpoint (cosigned,
/// when the log has witnesses) covers the erasure; until then the route says so.
pub(crate) async fn erase_and_certify(app: &TestApp, key: &str, subject: &str) -> Value {
    let erased = app
        .call(
            Method::DELETE,
            &format!("/v1/subjects/{subject}"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    let link = erased.json()["certificate"].as_str().unwrap().to_owned();
    assert_eq!(link, format!("/v1/subjects/{subject}/erasure-certificate"));
    let mut certificate = None;
    until("the erasure certificate", async || {
        let reply = app.get(&link, Some(key)).await;
        if reply.status == 200 {
            certificate = Some(reply.json());
            true
        } else {
            reply.assert_problem(409, "audit.not_yet_signed");
            false
        }
    })
    .await;
    certificate.unwrap()
}

/// `baomi audit verify-erasure` on `certificate` (written to a file) with `args`.
pub(crate) fn verify_erasure(certificate: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certificate.json");
    std::fs::write(&path, certificate).unwrap();
    let mut all = vec!["audit", "verify-erasure", path.to_str().unwrap()];
    all.extend_from_slice(args);
    baomi(&all)
}

#[tokio::test]
async fn an_erasure_certificate_verifies_offline_and_fails_when_altered() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    some_reads(&app, &key, 3).await;
    let verifier = app.audit_log.verifier_key();

    // Before the erasure, there is nothing to certify.
    app.get("/v1/subjects/u1/erasure-certificate", Some(&key))
        .await
        .assert_problem(404, "vault.not_erased");

    let certificate = erase_and_certify(&app, &key, "u1").await;
    assert_eq!(certificate["format"], "baomi-erasure-certificate/1");
    assert_eq!(certificate["subject"], "u1");
    assert_eq!(
        certificate["destroyed"],
        serde_json::json!([
            "data_keys",
            "stored_fields",
            "tokens",
            "blind_index_entries"
        ])
    );
    let text = certificate.to_string();
    assert!(!text.contains("13800138000"), "no PI in a certificate");
    let seq = certificate["audit"]["seq"].as_i64().unwrap();

    let ok = verify_erasure(&text, &["--public-key", &verifier]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert!(
        stdout(&ok).starts_with(&format!(
            "OK: subject u1 was erased at {} (receipt {}); the erasure is event seq {seq}",
            certificate["erased_at"]
                .as_i64()
                .map(baomi::service::rfc3339)
                .unwrap(),
            certificate["receipt_id"].as_str().unwrap(),
        )),
        "{}",
        stdout(&ok)
    );

    // Another subject named, the proof moved, another key, a witness never asked: each
    // fails, saying why.
    let altered = text.replace("\"subject\":\"u1\"", "\"subject\":\"u2\"");
    assert_ne!(altered, text);
    let mut moved = certificate.clone();
    moved["audit"]["leaf_index"] = Value::from(0);
    let other_key = baomi_audit::checkpoint::CheckpointSigner::new("baomi/audit", &[3; 32])
        .unwrap()
        .verifier_key();
    let witness = baomi_audit::witness::Cosigner::from_pkcs8_pem(
        "witness.example/w",
        &baomi_audit::witness::Cosigner::generate_pem().unwrap(),
    )
    .unwrap()
    .verifier_key();
    for (certificate, args, says) in [
        (
            altered.as_str(),
            vec!["--public-key", verifier.as_str()],
            "signature does not verify",
        ),
        (
            &moved.to_string(),
            vec!["--public-key", verifier.as_str()],
            "signature does not verify",
        ),
        (
            text.as_str(),
            vec!["--public-key", other_key.as_str()],
            "signature does not verify",
        ),
        (
            text.as_str(),
            vec!["--public-key", verifier.as_str(), "--witness-key", &witness],
            "not cosigned by the witness witness.example/w",
        ),
    ] {
        let out = verify_erasure(certificate, &args);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(stdout(&out).starts_with("FAIL "), "{}", stdout(&out));
        assert!(stdout(&out).contains(says), "{says}: {}", stdout(&out));
    }

    // An officer obtains it too, and each issue is in the trail.
    let again = app
        .get("/v1/subjects/u1/erasure-certificate", Some(&officer))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let issued = app
        .get(
            "/v1/audit/events?subject=u1&action=audit_read",
            Some(&officer),
        )
        .await
        .json();
    assert!(issued["events"].as_array().unwrap().len() >= 2, "{issued}");

    // Once retention has pruned the erasure's event, there is nothing left to prove it by.
    let later = baomi::service::now_ms() + 181 * 86_400_000;
    assert!(app.audit_log.prune(later, 180).await.unwrap() > 0);
    app.get("/v1/subjects/u1/erasure-certificate", Some(&officer))
        .await
        .assert_problem(410, "audit.event_pruned");
}
