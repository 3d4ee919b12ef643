//! The root key in an HSM (SoftHSM2 through PKCS#11): start, encrypt, restart, decrypt,
//! rotate; the key never leaves the token; a lost session is replaced and retried; an HSM
//! that cannot be reached is a clear 503 that writes nothing.
//!
//! SoftHSM2 is Debian's `softhsm2`; `.ci/run` installs it and sets `REQUIRE_SOFTHSM=1`, so
//! there the test fails rather than passing over a missing token. Without SoftHSM2 (and
//! without that variable) it says so and does nothing.

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// One HSM test at a time: the PKCS#11 library is one per process, and the end-to-end test
/// finalises it under the server on purpose.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const PIN: &str = "20261123";
const OTHER_PIN: &str = "31122026";

/// A token of its own for one test, deleted at the end.
struct Token {
    label: String,
    pin_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Token {
    fn create() -> Option<Token> {
        Token::create_named("main")
    }

    /// A token labelled after this process and `name` (tests run in parallel).
    fn create_named(name: &str) -> Option<Token> {
        let installed = Path::new(MODULE).exists()
            && std::process::Command::new("softhsm2-util")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
        if !installed {
            assert!(
                std::env::var("REQUIRE_SOFTHSM").as_deref() != Ok("1"),
                "REQUIRE_SOFTHSM=1 but SoftHSM2 is not installed (apt-get install softhsm2)"
            );
            eprintln!(
                "NOTE: SoftHSM2 is not installed ({MODULE}): the HSM test did not run; \
                 apt-get install softhsm2, or run .ci/run"
            );
            return None;
        }
        let label = format!("baomi-test-{}-{name}", std::process::id());
        let out = std::process::Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &label])
            .args(["--pin", PIN, "--so-pin", "87654321"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = tempfile::tempdir().unwrap();
        let pin_file = dir.path().join("hsm-pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        Some(Token {
            label,
            pin_file,
            _dir: dir,
        })
    }

    fn config(&self, pin_file: &Path) -> baomi::config::HsmConfig {
        baomi::config::HsmConfig {
            module: MODULE.into(),
            token_label: Some(self.label.clone()),
            slot: None,
            pin_file: Some(pin_file.to_path_buf()),
            key_label: "baomi-root".to_owned(),
        }
    }

    /// The labels of the secret keys on the token that start with `prefix`.
    fn key_labels(&self, prefix: &str) -> Vec<String> {
        let (_pkcs11, session) = self.session(PIN);
        let keys = session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
            .unwrap();
        let mut labels = Vec::new();
        for key in keys {
            for attribute in session
                .get_attributes(key, &[AttributeType::Label])
                .unwrap()
            {
                if let Attribute::Label(label) = attribute {
                    let label = String::from_utf8(label).unwrap();
                    if label.starts_with(prefix) {
                        labels.push(label);
                    }
                }
            }
        }
        labels
    }

    /// A session of the test's own (the library is shared with the server in-process).
    fn session(&self, pin: &str) -> (Pkcs11, Session) {
        let pkcs11 = Pkcs11::new(MODULE).unwrap();
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("{e}"),
        }
        let slot = pkcs11
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| pkcs11.get_token_info(*s).unwrap().label() == self.label)
            .unwrap();
        let session = pkcs11.open_rw_session(slot).unwrap();
        match session.login(UserType::User, Some(&AuthPin::from(pin))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("{e}"),
        }
        (pkcs11, session)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let _ = std::process::Command::new("softhsm2-util")
            .args(["--delete-token", "--token", &self.label])
            .output();
    }
}

async fn decrypt(app: &TestApp, key: &str, ciphertext: &str) -> serde_json::Value {
    let r = app
        .post(
            "/v1/decrypt",
            Some(key),
            json!({"purpose": "kyc", "view": "plain", "items": [
                {"subject_id": "u-1", "field": "mobile", "ciphertext": ciphertext}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"][0].clone()
}

async fn encrypt(app: &TestApp, key: &str, keyring: &str, value: &str) -> String {
    let r = app
        .post(
            "/v1/encrypt",
            Some(key),
            json!({"keyring": keyring, "items": [
                {"subject_id": "u-1", "field": "mobile", "value": value}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"][0]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_root_key_lives_in_softhsm_end_to_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(token) = Token::create() else {
        return;
    };
    let hsm = token.config(&token.pin_file);
    let with_hsm = |c: &mut baomi::config::Config| c.hsm = Some(hsm.clone());
    let app = crate::helpers::spawn_app_with(with_hsm).await;

    // The stored root record names the HSM key (the prefix and a random suffix); there is
    // no passphrase-sealed key.
    let kdf = app.db.texts("SELECT kdf FROM root_key").await;
    let recorded: serde_json::Value = serde_json::from_str(&kdf[0]).unwrap();
    let label = recorded["hsm"]["key_label"].as_str().unwrap().to_owned();
    assert!(
        label.starts_with("baomi-root-") && label.len() == 27,
        "{kdf:?}"
    );
    assert_eq!(token.key_labels("baomi-root"), vec![label.clone()]);
    // The key was generated in the token: sensitive, not extractable, its value unreadable.
    {
        let (_pkcs11, session) = token.session(PIN);
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(found.len(), 1);
        let attrs = session
            .get_attributes(
                found[0],
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Token,
                ],
            )
            .unwrap();
        assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
        assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
        assert!(attrs.contains(&Attribute::Token(true)), "{attrs:?}");
        let value = session
            .get_attributes(found[0], &[AttributeType::Value])
            .unwrap_or_default();
        assert!(
            !value.iter().any(|a| matches!(a, Attribute::Value(_))),
            "the key's value can be read: {value:?}"
        );
    }

    // Encrypt under the AES default keyring and an SM4 keyring.
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let created = app
        .post(
            "/v1/keyrings",
            Some(&app.admin_key),
            json!({"name": "gm", "suite": "sm4gcm"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let aes = encrypt(&app, &key, "default", "13800138000").await;
    let sm4 = encrypt(&app, &key, "gm", "13900000000").await;

    // Restart: the KEKs are unwrapped by the token again, and everything decrypts.
    let (db, admin) = app.stop().await;
    let app = TestApp::start_with(db, admin, with_hsm).await;
    assert_eq!(decrypt(&app, &key, &aes).await["value"], "13800138000");
    assert_eq!(decrypt(&app, &key, &sm4).await["value"], "13900000000");

    // Rotate: a new KEK sealed by the token; old and new ciphertexts decrypt.
    let r = app.rotate_default_keyring().await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v2 = encrypt(&app, &key, "default", "13700000000").await;
    assert!(v2.starts_with("bm:v1:aes256gcm:default:2:"), "{v2}");
    assert_eq!(decrypt(&app, &key, &v2).await["value"], "13700000000");
    assert_eq!(decrypt(&app, &key, &aes).await["value"], "13800138000");

    // The session is lost (the library is finalised under the server, as when an HSM
    // restarts): the next call opens a new session and succeeds, whether it seals a new KEK
    // (rotation) or opens a stored one (a read with the key caches dropped).
    token.session(PIN).0.finalize().unwrap();
    let r = app.rotate_default_keyring().await;
    assert_eq!(r.status, 200, "after a lost session: {}", r.text);
    assert_eq!(r.json()["latest_version"], 3);
    token.session(PIN).0.finalize().unwrap();
    app.vault.clear_cached_keys();
    assert_eq!(decrypt(&app, &key, &sm4).await["value"], "13900000000");

    // Lost again, and the new session cannot log in (the PIN was changed meanwhile): a
    // clear 503, and nothing written.
    {
        let (pkcs11, session) = token.session(PIN);
        session
            .set_pin(&AuthPin::from(PIN), &AuthPin::from(OTHER_PIN))
            .unwrap();
        drop(session);
        pkcs11.finalize().unwrap();
    }
    let r = app.rotate_default_keyring().await;
    let problem = r.assert_problem(503, "vault.hsm_unavailable");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("the hardware security module"),
        "{problem}"
    );
    let ring = app.get("/v1/keyrings/default", Some(&app.admin_key)).await;
    assert_eq!(ring.json()["latest_version"], 3, "nothing half-written");
    // Cached keys keep serving reads meanwhile; an uncached KEK cannot be opened.
    assert_eq!(decrypt(&app, &key, &sm4).await["value"], "13900000000");
    let r = app
        .post(
            "/v1/decrypt",
            Some(&key),
            json!({"purpose": "kyc", "view": "plain", "items": [
                {"subject_id": "u-1", "field": "mobile", "ciphertext": aes}]}),
        )
        .await;
    r.assert_problem(503, "vault.hsm_unavailable");

    // The PIN is put back: the next call reconnects and works.
    {
        let (_pkcs11, session) = token.session(OTHER_PIN);
        session
            .set_pin(&AuthPin::from(OTHER_PIN), &AuthPin::from(PIN))
            .unwrap();
    }
    let r = app.rotate_default_keyring().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["latest_version"], 4);
    let (db, admin) = app.stop().await;

    // A wrong PIN refuses to start, saying why; so does the same database without [hsm].
    let wrong = db.path().join("wrong-pin");
    std::fs::write(&wrong, "00000000\n").unwrap();
    let mut config = db.config();
    config.hsm = Some(token.config(&wrong));
    let err = baomi::server::open(&config, false)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("PIN is incorrect"), "{err}");
    let err = baomi::server::open(&db.config(), false)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("held by an HSM"), "{err}");

    // And with the right PIN it starts again with everything readable.
    let app = TestApp::start_with(db, admin, with_hsm).await;
    assert_eq!(decrypt(&app, &key, &v2).await["value"], "13700000000");
    assert_eq!(decrypt(&app, &key, &sm4).await["value"], "13900000000");
}

/// Two nodes initialising one empty database at once: one key is left on the token, and
/// both serve the same root key.
#[tokio::test]
async fn two_nodes_initialising_at_once_leave_one_key() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(token) = Token::create_named("race") else {
        return;
    };
    let mut hsm = token.config(&token.pin_file);
    hsm.key_label = "race-root".to_owned();
    let db = crate::helpers::TestDb::new().await;
    let mut config = db.config();
    config.hsm = Some(hsm);
    let (a, b) = tokio::join!(
        baomi::server::open(&config, false),
        baomi::server::open(&config, false)
    );
    let results = [a, b];
    for r in &results {
        if let Err(e) = r {
            // SQLite may report the other node's write as busy; nothing else is expected.
            assert!(e.to_string().contains("database"), "{e}");
        }
    }
    let opened: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
    assert!(!opened.is_empty(), "at least one node starts");
    assert_eq!(
        opened
            .iter()
            .filter(|o| o.bootstrap_admin_key.is_some())
            .count(),
        1,
        "exactly one node initialised the database"
    );
    for o in opened {
        o.store.close().await;
    }
    assert_eq!(
        token.key_labels("race-root").len(),
        1,
        "the loser's key is gone"
    );
    // A third start opens the recorded key.
    let again = baomi::server::open(&config, false).await.unwrap();
    again.store.close().await;
}

/// A key under the root key's label that could leave the token (provisioned by hand, say,
/// or swapped in) is refused at start, with a message that says what is wrong.
#[tokio::test]
async fn a_root_key_on_the_token_that_could_leave_it_is_refused() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(token) = Token::create_named("loose") else {
        return;
    };
    let mut hsm = token.config(&token.pin_file);
    hsm.key_label = "loose-root".to_owned();
    let db = crate::helpers::TestDb::new().await;
    let mut config = db.config();
    config.hsm = Some(hsm);
    let first = baomi::server::open(&config, false).await.unwrap();
    first.store.close().await;

    // Swap the key the token made (labelled `loose-root-<hex>`) for an extractable,
    // non-sensitive one of the same label.
    let labels = token.key_labels("loose-root");
    assert_eq!(labels.len(), 1, "{labels:?}");
    {
        let (_pkcs11, session) = token.session(PIN);
        let label = Attribute::Label(labels[0].as_bytes().to_vec());
        for key in session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), label.clone()])
            .unwrap()
        {
            session.destroy_object(key).unwrap();
        }
        session
            .generate_key(
                &cryptoki::mechanism::Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(cryptoki::object::KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    label,
                ],
            )
            .unwrap();
    }
    let refused = baomi::server::open(&config, false).await;
    let error = refused.err().expect("an extractable root key is refused");
    assert!(
        error.to_string().contains("sensitive, non-extractable"),
        "{error}"
    );
}

/// The PIN from `BAOMI_HSM_PIN`, through the `baomi` binary: the variable is read by the
/// set-up, not taken for a setting.
#[tokio::test]
async fn the_pin_comes_from_the_environment() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(token) = Token::create_named("env") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baomi.toml");
    std::fs::write(
        &config,
        format!(
            "[hsm]\nmodule = \"{MODULE}\"\ntoken_label = \"{}\"\n",
            token.label
        ),
    )
    .unwrap();
    let mut cmd = tokio::process::Command::from(crate::helpers::baomi_process());
    let out = cmd
        .args(["--config", config.to_str().unwrap(), "init"])
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .env("BAOMI_HSM_PIN", PIN)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("bm_"),
        "the bootstrap key is printed: {stderr}"
    );
    assert!(!stderr.contains(PIN) && !String::from_utf8_lossy(&out.stdout).contains(PIN));
    assert_eq!(token.key_labels("baomi-root").len(), 1);
}

/// With `audit.signing_key_in_hsm`, the checkpoint key is an Ed25519 key pair generated in
/// the token: the database holds its label and verifier key, never the key; checkpoints,
/// receipts and rotations are signed by the token, and the trail verifies offline across a
/// restart and a rotation.
#[tokio::test]
async fn the_checkpoint_signing_key_lives_in_softhsm() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(token) = Token::create_named("signing") else {
        return;
    };
    let hsm = token.config(&token.pin_file);
    let with_hsm = |c: &mut baomi::config::Config| {
        c.hsm = Some(hsm.clone());
        c.audit.signing_key_in_hsm = true;
    };
    let app = crate::helpers::spawn_app_with(with_hsm).await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    crate::audit::some_reads(&app, &key, 2).await;
    crate::audit_trail::checkpoint(&app).await;

    let keys = app.get("/v1/audit/keys", Some(&officer)).await.json();
    let first = keys["keys"].as_array().unwrap();
    assert_eq!(first.len(), 1, "{keys}");
    assert_eq!(first[0]["source"], "hsm");
    assert_eq!(first[0]["algorithm"], "ed25519");
    let verifier = first[0]["verifier_key"].as_str().unwrap().to_owned();
    // The row keeps the key pair's label, and no key.
    let rows = app
        .db
        .texts("SELECT token_label FROM audit_signing_keys WHERE sealed IS NULL")
        .await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].starts_with("baomi-audit-"), "{rows:?}");
    // On the token: a private key that is sensitive and not extractable.
    {
        let (_pkcs11, session) = token.session(PIN);
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(rows[0].as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(found.len(), 1);
        let attrs = session
            .get_attributes(
                found[0],
                &[AttributeType::Sensitive, AttributeType::Extractable],
            )
            .unwrap();
        assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
        assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
    }
    let note = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    assert_eq!(note["verifier_key"], verifier);
    baomi_audit::checkpoint::verify(note["note"].as_str().unwrap(), &verifier).unwrap();

    // A restart signs with the same key, found on the token by its label.
    let (db, admin) = app.stop().await;
    let app = TestApp::start_with(db, admin, with_hsm).await;
    crate::audit::some_reads(&app, &key, 1).await;
    crate::audit_trail::checkpoint(&app).await;
    let again = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    assert_eq!(again["verifier_key"], verifier);

    // A rotation makes a second key pair in the token; the old one is retired.
    let rotated = app
        .call(
            Method::POST,
            "/v1/audit/keys/rotate",
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let second = rotated.json()["keys"][0]["verifier_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, verifier);
    crate::audit::some_reads(&app, &key, 1).await;
    crate::audit_trail::checkpoint(&app).await;
    let after = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    assert_eq!(after["verifier_key"], second);
    let history = app.get("/v1/audit/keys", Some(&officer)).await.text;
    let keys_file = app.db.path().join("keys.json");
    std::fs::write(&keys_file, &history).unwrap();
    let verified = crate::audit_trail::baomi(&[
        "audit",
        "verify",
        "--database",
        &crate::audit_trail::database_url(&app),
        "--keys",
        keys_file.to_str().unwrap(),
    ]);
    let out = crate::audit_trail::stdout(&verified);
    assert!(verified.status.success(), "{out}");
    assert!(out.contains("OK: the trail is intact"), "{out}");

    // Erasure certificates (like consent receipts) are signed by the token too.
    let certificate = crate::erasure_certificates::erase_and_certify(&app, &key, "u0")
        .await
        .to_string();
    let checked =
        crate::erasure_certificates::verify_erasure(&certificate, &["--public-key", &second]);
    assert!(
        checked.status.success(),
        "{}",
        crate::audit_trail::stdout(&checked)
    );
}
