//! The SM suite (`sm4gcm`) over HTTP: a keyring wholly on SM4-GCM with HMAC-SM3 blind
//! indexes, and a keyring moved from AES-256-GCM to SM4-GCM by rotation while its older
//! ciphertexts keep decrypting, then moved over by rewrap and background re-encryption.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const PURPOSE: &str = "customer_service";

async fn service_key(app: &TestApp) -> String {
    app.create_key("service", &[PURPOSE]).await.1
}

async fn vault_call(app: &TestApp, key: &str, path: &str, body: Value) -> Vec<Value> {
    let reply = app.post(path, Some(key), body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["items"].as_array().unwrap().clone()
}

fn text(item: &Value, name: &str) -> String {
    item[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}: {item}"))
        .to_owned()
}

async fn decrypt_one(app: &TestApp, key: &str, subject: &str, ciphertext: &str) -> Value {
    vault_call(
        app,
        key,
        "/v1/decrypt",
        json!({"purpose": PURPOSE, "view": "plain", "items": [
            {"subject_id": subject, "field": "mobile", "ciphertext": ciphertext}]}),
    )
    .await
    .remove(0)
}

async fn search(app: &TestApp, key: &str, keyring: &str, value: &str) -> Value {
    let r = app
        .post(
            "/v1/search",
            Some(key),
            json!({"purpose": PURPOSE, "keyring": keyring, "field": "mobile", "value": value}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["subject_ids"].clone()
}

#[tokio::test]
async fn an_sm4_keyring_seals_reads_searches_and_refuses_tampering() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let admin = app.admin_key.clone();
    let created = app
        .post(
            "/v1/keyrings",
            Some(&admin),
            json!({"name": "gm", "suite": "sm4gcm"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["suite"], "sm4gcm");
    assert_eq!(created.json()["suites_used"], json!(["sm4gcm"]));

    let sealed = vault_call(
        &app,
        &key,
        "/v1/encrypt",
        json!({"keyring": "gm", "items": [
            {"subject_id": "u-1", "field": "mobile", "value": "13800138000"},
            {"subject_id": "u-1", "field": "mobile", "value": "13800138000"}]}),
    )
    .await;
    let (a, b) = (
        text(&sealed[0], "ciphertext"),
        text(&sealed[1], "ciphertext"),
    );
    assert!(a.starts_with("bm:v1:sm4gcm:gm:1:"), "{a}");
    assert_ne!(a, b, "random nonces: equal values, unrelated ciphertexts");
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &a).await["value"],
        "13800138000"
    );

    // Another subject, a flipped character, or the suite relabelled: all refused alike.
    assert_eq!(
        decrypt_one(&app, &key, "u-2", &a).await["error"]["code"],
        "vault.decrypt_failed"
    );
    let mut flipped = a.clone().into_bytes();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &flipped).await["error"]["code"],
        "vault.decrypt_failed"
    );
    let relabelled = a.replacen("sm4gcm", "aes256gcm", 1);
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &relabelled).await["error"]["code"],
        "vault.decrypt_failed"
    );

    // Stored and searchable: the blind index is HMAC-SM3, found under any spelling.
    let put = app
        .call(
            Method::PUT,
            "/v1/subjects/u-1/data",
            Some(&key),
            Some(json!({"keyring": "gm", "fields": {"mobile": "13800138000"}, "searchable": ["mobile"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(
        search(&app, &key, "gm", "+86 138 0013 8000").await,
        json!(["u-1"])
    );
    let stored = app
        .db
        .texts("SELECT ciphertext FROM subject_fields WHERE keyring = 'gm'")
        .await;
    assert!(stored[0].starts_with("bm:v1:sm4gcm:gm:1:"), "{stored:?}");
    let read = app
        .get(
            &format!("/v1/subjects/u-1/data?purpose={PURPOSE}&view=plain"),
            Some(&key),
        )
        .await;
    assert_eq!(read.json()["fields"]["mobile"]["value"], "13800138000");

    // Rotation stays in the suite; erasure shreds the SM4 data keys like any other.
    let rotated = app
        .call(Method::POST, "/v1/keyrings/gm/rotate", Some(&admin), None)
        .await;
    assert_eq!(rotated.json()["suite"], "sm4gcm");
    app.call(Method::DELETE, "/v1/subjects/u-1", Some(&key), None)
        .await;
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &a).await["error"]["code"],
        "vault.subject_erased"
    );
}

#[tokio::test]
async fn a_keyring_moves_from_aes_to_sm4_without_losing_a_ciphertext() {
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let admin = app.admin_key.clone();
    let old = vault_call(
        &app,
        &key,
        "/v1/encrypt",
        json!({"items": [{"subject_id": "u-1", "field": "mobile", "value": "13800138000"}]}),
    )
    .await;
    let old = text(&old[0], "ciphertext");
    assert!(old.starts_with("bm:v1:aes256gcm:default:1:"), "{old}");
    let put = app
        .call(
            Method::PUT,
            "/v1/subjects/u-2/data",
            Some(&key),
            Some(json!({"fields": {"mobile": "13900000000"}, "searchable": ["mobile"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);

    // Unknown suites and moves to the deterministic suite are refused, and change nothing.
    app.call(
        Method::POST,
        "/v1/keyrings/default/rotate",
        Some(&admin),
        Some(json!({"suite": "rot13"})),
    )
    .await
    .assert_problem(422, "request.invalid_field");
    app.call(
        Method::POST,
        "/v1/keyrings/default/rotate",
        Some(&admin),
        Some(json!({"suite": "aes256siv"})),
    )
    .await
    .assert_problem(422, "request.invalid_field");
    assert_eq!(
        app.get("/v1/keyrings/default", Some(&admin)).await.json()["latest_version"],
        1
    );

    let moved = app
        .call(
            Method::POST,
            "/v1/keyrings/default/rotate",
            Some(&admin),
            Some(json!({"suite": "sm4gcm"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let moved = moved.json();
    assert_eq!(moved["suite"], "sm4gcm");
    assert_eq!(moved["latest_version"], 2);
    assert_eq!(moved["suites_used"], json!(["aes256gcm", "sm4gcm"]));

    // New ciphertexts are SM4; the old AES one still decrypts (mixed suites during the move).
    let new = vault_call(
        &app,
        &key,
        "/v1/encrypt",
        json!({"items": [{"subject_id": "u-1", "field": "mobile", "value": "13700000000"}]}),
    )
    .await;
    let new = text(&new[0], "ciphertext");
    assert!(new.starts_with("bm:v1:sm4gcm:default:2:"), "{new}");
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &old).await["value"],
        "13800138000"
    );
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &new).await["value"],
        "13700000000"
    );
    // A version's suite is its own: the old ciphertext relabelled as SM4 is refused.
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &old.replacen("aes256gcm", "sm4gcm", 1)).await["error"]["code"],
        "vault.decrypt_failed"
    );

    // Rewrap moves a ciphertext over without returning its value.
    let rewrapped = vault_call(
        &app,
        &key,
        "/v1/rewrap",
        json!({"items": [{"subject_id": "u-1", "field": "mobile", "ciphertext": old}]}),
    )
    .await;
    let rewrapped = text(&rewrapped[0], "ciphertext");
    assert!(
        rewrapped.starts_with("bm:v1:sm4gcm:default:2:"),
        "{rewrapped}"
    );
    assert!(!rewrapped.contains("13800138000"));
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &rewrapped).await["value"],
        "13800138000"
    );

    // Search finds the AES-era (HMAC-SHA256) entry and a new SM-era (HMAC-SM3) one.
    let put = app
        .call(
            Method::PUT,
            "/v1/subjects/u-3/data",
            Some(&key),
            Some(json!({"fields": {"mobile": "13900000000"}, "searchable": ["mobile"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(
        search(&app, &key, "default", "13900000000").await,
        json!(["u-2", "u-3"])
    );

    // Background re-encryption moves the stored field, and re-seals the AES data keys of
    // version 1 under the SM4 KEK of version 2; with every cache dropped, an AES ciphertext
    // still opens through that SM4-sealed data key. Then version 1 can be retired.
    let tick = baomi::service::maintenance::tick(&app.vault, baomi::service::now())
        .await
        .unwrap();
    assert_eq!(tick.reencrypted, 1, "{tick:?}");
    assert!(tick.resealed >= 1, "{tick:?}");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subject_keys WHERE version = 1 AND kek_version = 1")
            .await,
        0
    );
    app.vault.clear_cached_keys();
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &old).await["value"],
        "13800138000"
    );
    let stored = app
        .db
        .texts("SELECT ciphertext FROM subject_fields ORDER BY subject")
        .await;
    assert!(
        stored
            .iter()
            .all(|c| c.starts_with("bm:v1:sm4gcm:default:2:")),
        "{stored:?}"
    );
    let retired = app
        .call(
            Method::PATCH,
            "/v1/keyrings/default",
            Some(&admin),
            Some(json!({"min_decryption_version": 2})),
        )
        .await;
    assert_eq!(retired.status, 200, "{}", retired.text);
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &old).await["error"]["code"],
        "vault.version_retired"
    );
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &rewrapped).await["value"],
        "13800138000"
    );
    let read = app
        .get(
            &format!("/v1/subjects/u-2/data?purpose={PURPOSE}&view=plain"),
            Some(&key),
        )
        .await;
    assert_eq!(read.json()["fields"]["mobile"]["value"], "13900000000");
    assert_eq!(
        search(&app, &key, "default", "13900000000").await,
        json!(["u-2", "u-3"])
    );

    // The move is in the audit trail, suite and all.
    let rotations = app
        .db
        .texts("SELECT body FROM audit_events WHERE action = 'keyring_rotate'")
        .await;
    assert!(
        rotations.iter().any(|b| b.contains("suite:sm4gcm")),
        "{rotations:?}"
    );
}

/// A database from before versions recorded their suite: its KEKs were sealed with
/// associated data that names no suite, and must keep opening.
#[tokio::test]
async fn keks_sealed_before_suites_were_recorded_still_open() {
    use baomi::store::StoredRoot;
    use baomi_vault::wrap::{DerivedKekWrapper, KekWrapper};
    let app = spawn_app().await;
    let key = service_key(&app).await;
    let sealed = vault_call(
        &app,
        &key,
        "/v1/encrypt",
        json!({"items": [{"subject_id": "u-1", "field": "mobile", "value": "13800138000"}]}),
    )
    .await;
    let ciphertext = text(&sealed[0], "ciphertext");
    let (db, admin) = app.stop().await;

    // Re-seal KEK 1 of `default` the way the previous release did.
    let store = baomi::store::open(&db.config()).await.unwrap();
    let Some(StoredRoot::Passphrase(root)) = store.sealed_root_key().await.unwrap() else {
        panic!("a passphrase-sealed root key");
    };
    store.close().await;
    let root = baomi_vault::unseal_root_key(
        &root,
        &baomi_vault::Passphrase::new(crate::helpers::PASSPHRASE),
    )
    .unwrap();
    let wrapper = DerivedKekWrapper::new(&root).unwrap();
    let hex_of = if db.url.is_some() {
        "encode(sealed, 'hex')"
    } else {
        "hex(sealed)"
    };
    let blob = db
        .texts(&format!(
            "SELECT {hex_of} FROM keyring_keks WHERE keyring = 'default' AND version = 1"
        ))
        .await;
    let blob = data_encoding::HEXUPPER_PERMISSIVE
        .decode(blob[0].as_bytes())
        .unwrap();
    let family = baomi_vault::Family::Nist;
    let material = wrapper
        .open(family, b"bm:kek:v2|default|1|aes256gcm", &blob)
        .await
        .unwrap();
    let legacy = wrapper
        .seal(family, b"bm:kek:v1|default|1", &material)
        .await
        .unwrap();
    let hex = data_encoding::HEXLOWER.encode(&legacy);
    let literal = if db.url.is_some() {
        format!("'\\x{hex}'::bytea")
    } else {
        format!("X'{hex}'")
    };
    db.execute(&format!(
        "UPDATE keyring_keks SET sealed = {literal} WHERE keyring = 'default' AND version = 1"
    ))
    .await;

    let app = crate::helpers::TestApp::start(db, admin).await;
    assert_eq!(
        decrypt_one(&app, &key, "u-1", &ciphertext).await["value"],
        "13800138000"
    );
}
