//! The checkpoint signing keys: keys of their own, never derivable from the root key, so
//! that whoever learns the passphrase cannot sign a checkpoint the verifier trusts; rotated
//! at a tree size, with a published history that bounds what each key may have signed.

use baomi::service::signing_keys::legacy_seed;
use baomi_audit::StoredCheckpoint;
use baomi_audit::checkpoint::{Checkpoint, CheckpointSigner, KeyMaterial};
use baomi_types::SignatureAlgorithm;
use baomi_vault::RootKey;
use serde_json::Value;

use crate::audit::some_reads;
use crate::audit_trail::{
    checkpoint, database_url, get_past_the_triggers, stdout, trail, verify_live_with,
};
use crate::helpers::{TestApp, TestDb, spawn_app_with};

/// The root key, as someone holding the database and the passphrase opens it.
async fn root_key(db: &TestDb) -> RootKey {
    let config = db.config();
    let store = baomi::store::open(&config).await.unwrap();
    let protection = baomi::service::setup::protection(&config, false).unwrap();
    let unsealed = baomi::service::setup::unseal(store.as_ref(), protection, config.kdf)
        .await
        .unwrap();
    store.close().await;
    unsealed.root
}

/// The signer releases before keys of their own derived from the root key.
fn derived_signer(root: &RootKey) -> CheckpointSigner {
    let seed = legacy_seed(root, SignatureAlgorithm::Ed25519).unwrap();
    CheckpointSigner::with_keys("baomi/audit", &[(SignatureAlgorithm::Ed25519, &seed)]).unwrap()
}

async fn keys(app: &TestApp, officer: &str) -> Vec<Value> {
    let reply = app.get("/v1/audit/keys", Some(officer)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["keys"].as_array().unwrap().clone()
}

/// Saves GET /v1/audit/keys where `baomi audit verify --keys` reads it.
async fn save_keys(app: &TestApp, officer: &str) -> String {
    let reply = app.get("/v1/audit/keys", Some(officer)).await;
    let path = app.db.path().join("keys.json");
    std::fs::write(&path, &reply.text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Signs the tree as it stands with `signer` and adds the checkpoint, as someone holding
/// `signer` and write access to the database would.
async fn forge_checkpoint(app: &TestApp, signer: &CheckpointSigner) -> u64 {
    let store = app.audit_log.store();
    let size = store.tree_size().await.unwrap();
    let root = app.audit_log.root(size).await.unwrap();
    let note = signer
        .sign(&Checkpoint {
            origin: "baomi/audit".to_owned(),
            size,
            root,
        })
        .unwrap();
    store
        .add_checkpoint(&StoredCheckpoint {
            tree_size: size,
            root,
            note,
            created_at: baomi::service::now(),
        })
        .await
        .unwrap();
    size
}

#[tokio::test]
async fn the_checkpoint_key_is_random_sealed_and_not_the_passphrases_to_derive() {
    let (app, officer, verifier) = trail(2).await;
    let listed = keys(&app, &officer).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["generation"], 1);
    assert_eq!(listed[0]["source"], "sealed");
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[0]["until_size"], Value::Null);
    assert_eq!(listed[0]["verifier_key"], verifier.as_str());

    // The passphrase and the database give the root key, and the root key derives what
    // earlier releases signed with: not the key the verifier trusts.
    let derived = derived_signer(&root_key(&app.db).await);
    assert_ne!(derived.verifier_key(), verifier);
    let keys_file = save_keys(&app, &officer).await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    some_reads(&app, &key, 2).await;
    let forged = forge_checkpoint(&app, &derived).await;
    let url = database_url(&app);
    let out = verify_live_with(&url, &verifier, &["--keys", &keys_file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out)
            .contains("FAIL a checkpoint does not verify: no valid signature by any trusted key"),
        "the checkpoint of size {forged}: {}",
        stdout(&out)
    );

    // A restart unseals the same key.
    let app = app.restart().await;
    assert_eq!(keys(&app, &officer).await, listed);
}

#[tokio::test]
async fn a_rotation_hands_over_at_a_tree_size_and_the_history_verifies_the_trail() {
    let (app, officer, old) = trail(2).await;
    let rotated = app
        .post("/v1/audit/keys/rotate", Some(&app.admin_key), Value::Null)
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.json()["keys"][0].clone();
    assert_eq!(new["generation"], 2);
    assert_eq!(new["source"], "sealed");
    let new_key = new["verifier_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old);

    let listed = keys(&app, &officer).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["current"], false);
    assert_eq!(listed[0]["until_size"], new["from_size"]);
    assert_eq!(listed[1]["current"], true);

    let (_, key) = app.create_key("service", &["kyc"]).await;
    some_reads(&app, &key, 3).await;
    checkpoint(&app).await;
    let now = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    assert_eq!(now["verifier_key"], new_key.as_str());

    // The rotation is in the trail, with who made it and the new verifier key.
    let events = app
        .get("/v1/audit/events?action=audit_key_rotate", Some(&officer))
        .await
        .json();
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = events[0].to_string();
    assert!(event.contains(&new_key), "{event}");
    assert!(event.contains("generation:2"), "{event}");

    let url = database_url(&app);
    let keys_file = save_keys(&app, &officer).await;
    let history = baomi_cli(&url, &["--keys", &keys_file]);
    assert!(history.status.success(), "{}", stdout(&history));
    // The old key alone vouches for nothing signed after the rotation, and the new one
    // alone for nothing before it.
    for alone in [&old, &new_key] {
        let out = verify_live_with(&url, alone, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    }
}

/// `baomi audit verify --database <url>` with `extra` arguments and no `--public-key`.
fn baomi_cli(url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "verify", "--database", url];
    args.extend_from_slice(extra);
    crate::audit_trail::baomi(&args)
}

/// A trail an earlier release signed with the key it derived from the root key: on upgrade
/// that key becomes the first generation, trusted up to the tree size the upgrade found, so
/// a checkpoint of a larger tree signed with it (by anyone who has the passphrase) is found.
#[tokio::test]
async fn an_upgrade_retires_the_derived_key_at_the_size_it_found() {
    let (app, officer, sealed) = trail(3).await;
    let root = root_key(&app.db).await;
    let derived = derived_signer(&root);
    let (db, admin) = app.stop().await;
    // What an earlier release left: no key history, checkpoints signed with the derived key.
    get_past_the_triggers(&db).await;
    db.execute("DELETE FROM audit_signing_keys").await;
    for size in db
        .texts("SELECT CAST(tree_size AS TEXT) FROM audit_checkpoints")
        .await
    {
        let note = db
            .texts(&format!(
                "SELECT note FROM audit_checkpoints WHERE tree_size = {size}"
            ))
            .await
            .remove(0);
        let stated = baomi_audit::checkpoint::verify(&note, &sealed).unwrap();
        db.execute(&format!(
            "UPDATE audit_checkpoints SET note = '{}' WHERE tree_size = {size}",
            derived.sign(&stated).unwrap()
        ))
        .await;
    }
    let app = TestApp::start(db, admin).await;
    let listed = keys(&app, &officer).await;
    assert_eq!(
        listed.len(),
        3,
        "both derived keys and the new one: {listed:?}"
    );
    assert_eq!(listed[0]["source"], "derived");
    assert_eq!(listed[0]["verifier_key"], derived.verifier_key().as_str());
    let upgraded_at = listed[2]["from_size"].as_u64().unwrap();
    assert_eq!(listed[0]["until_size"], upgraded_at);
    assert_eq!(listed[2]["source"], "sealed");
    assert_eq!(listed[2]["current"], true);

    let (_, key) = app.create_key("service", &["kyc"]).await;
    some_reads(&app, &key, 2).await;
    checkpoint(&app).await;
    let url = database_url(&app);
    let keys_file = save_keys(&app, &officer).await;
    let out = baomi_cli(&url, &["--keys", &keys_file]);
    assert!(out.status.success(), "{}", stdout(&out));

    some_reads(&app, &key, 1).await;
    let forged = forge_checkpoint(&app, &derived).await;
    let out = baomi_cli(&url, &["--keys", &keys_file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(
            "FAIL the checkpoint of size {forged} is signed by a key retired at tree size \
             {upgraded_at}"
        )),
        "{}",
        stdout(&out)
    );
}

/// An Ed25519 private key in PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes one.
pub(crate) fn ed25519_pem() -> String {
    let der =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let base64 = data_encoding::BASE64.encode(der.as_ref());
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn keys_from_files_sign_and_a_new_file_starts_a_generation() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first.pem"), dir.path().join("second.pem"));
    let (first_pem, second_pem) = (ed25519_pem(), ed25519_pem());
    std::fs::write(&first, &first_pem).unwrap();
    std::fs::write(&second, &second_pem).unwrap();
    let expected = |pem: &str| {
        CheckpointSigner::from_material("baomi/audit", &[KeyMaterial::Pkcs8Pem(pem)])
            .unwrap()
            .verifier_key()
    };

    let path = first.clone();
    let app = spawn_app_with(move |c| c.audit.signing_key_files = vec![path]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    let listed = keys(&app, &officer).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["source"], "file");
    assert_eq!(listed[0]["verifier_key"], expected(&first_pem).as_str());
    app.post("/v1/audit/keys/rotate", Some(&app.admin_key), Value::Null)
        .await
        .assert_problem(409, "audit.signing_keys_from_files");

    let (_, key) = app.create_key("service", &["kyc"]).await;
    some_reads(&app, &key, 2).await;
    checkpoint(&app).await;
    let (db, admin) = app.stop().await;
    let app =
        TestApp::start_with(db, admin, move |c| c.audit.signing_key_files = vec![second]).await;
    let listed = keys(&app, &officer).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1]["verifier_key"], expected(&second_pem).as_str());
    assert_eq!(listed[1]["current"], true);
    assert_eq!(listed[0]["until_size"], listed[1]["from_size"]);
    some_reads(&app, &key, 1).await;
    checkpoint(&app).await;
    let url = database_url(&app);
    let keys_file = save_keys(&app, &officer).await;
    let out = baomi_cli(&url, &["--keys", &keys_file]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[tokio::test]
async fn a_key_file_that_is_not_a_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let db = TestDb::new().await;
    let mut config = db.config();
    config.audit.signing_key_files = vec![bad];
    let refused = match baomi::server::open(&config, false).await {
        Ok(_) => panic!("a server started with a key file that is not a key"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("not an Ed25519 or SM2 private key in PKCS#8 PEM"),
        "{refused}"
    );
    assert!(!refused.contains("AAAA"), "{refused}");
}
