//! The store conformance suite: the ports' contracts, checked against whichever backend the
//! suite runs on (SQLite, or PostgreSQL with `TEST_DATABASE_URL`).

use std::sync::Arc;

use baomi::auth::Role;
use baomi::service::keys::{NewKey, prepare};
use baomi::store::{self, ApiKeyRecord, RevokeOutcome, Store, StoreError, StoredRoot};
use baomi_vault::{Passphrase, RootKey, seal_root_key};

use crate::helpers::{TestDb, fast_kdf};

async fn open() -> (Arc<dyn Store>, TestDb) {
    let db = TestDb::new().await;
    let store = store::open(&db.config()).await.unwrap();
    (store, db)
}

fn key(role: Role, purposes: &[&str]) -> ApiKeyRecord {
    let new = NewKey {
        name: format!("{} key", role.as_str()),
        role,
        purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
    };
    prepare(&new, None).unwrap().0
}

fn sealed() -> StoredRoot {
    let root = RootKey::generate().unwrap();
    StoredRoot::Passphrase(
        seal_root_key(
            &root,
            &Passphrase::new("conformance passphrase"),
            fast_kdf(),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn an_hsm_sealed_root_key_round_trips() {
    let (store, _db) = open().await;
    let stored = StoredRoot::Hsm {
        key_label: "baomi-root".to_owned(),
        sealed: (0u8..60).collect(),
    };
    assert!(
        store
            .initialize(&stored, &key(Role::Admin, &[]), 1)
            .await
            .unwrap()
    );
    assert_eq!(store.sealed_root_key().await.unwrap(), Some(stored));
}

#[tokio::test]
async fn initialize_is_once_only_and_atomic() {
    let (store, _db) = open().await;
    assert_eq!(store.sealed_root_key().await.unwrap(), None);
    let first = sealed();
    let admin = key(Role::Admin, &[]);
    assert!(store.initialize(&first, &admin, 100).await.unwrap());
    assert_eq!(store.sealed_root_key().await.unwrap(), Some(first.clone()));

    // A second initialisation writes nothing: not the root key, not the admin key.
    let late_admin = key(Role::Admin, &[]);
    assert!(!store.initialize(&sealed(), &late_admin, 200).await.unwrap());
    assert_eq!(store.sealed_root_key().await.unwrap(), Some(first));
    assert!(store.key(&late_admin.id).await.unwrap().is_none());
    assert_eq!(store.list_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_initialisations_store_exactly_one_root_key() {
    let (store, _db) = open().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.initialize(&sealed(), &key(Role::Admin, &[]), 1).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        // SQLite may report a busy writer as unavailable; a loser never writes.
        match t.await.unwrap() {
            Ok(true) => won += 1,
            Ok(false) | Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.list_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn keys_round_trip_and_ids_are_unique() {
    let (store, _db) = open().await;
    let service = key(Role::Service, &["kyc", "anti_fraud"]);
    store.insert_key(&service, &[]).await.unwrap();
    let back = store.key(&service.id).await.unwrap().unwrap();
    assert!(back == service, "{back:?}");
    assert!(matches!(
        store.insert_key(&service, &[]).await,
        Err(StoreError::Conflict)
    ));
    assert!(store.key("nobodyhere123").await.unwrap().is_none());

    let officer = key(Role::Officer, &[]);
    store.insert_key(&officer, &[]).await.unwrap();
    let ids: Vec<String> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&service.id) && ids.contains(&officer.id));
}

#[tokio::test]
async fn revocation_outcomes() {
    let (store, _db) = open().await;
    let admin = key(Role::Admin, &[]);
    let service = key(Role::Service, &["kyc"]);
    store.insert_key(&admin, &[]).await.unwrap();
    store.insert_key(&service, &[]).await.unwrap();
    assert_eq!(
        store.revoke_key(&service.id, 5, &[]).await.unwrap(),
        RevokeOutcome::Revoked
    );
    assert_eq!(
        store.key(&service.id).await.unwrap().unwrap().revoked_at,
        Some(5)
    );
    assert_eq!(
        store.revoke_key(&service.id, 6, &[]).await.unwrap(),
        RevokeOutcome::AlreadyRevoked
    );
    assert_eq!(
        store.key(&service.id).await.unwrap().unwrap().revoked_at,
        Some(5)
    );
    assert_eq!(
        store.revoke_key("nobodyhere123", 6, &[]).await.unwrap(),
        RevokeOutcome::NotFound
    );
    assert_eq!(
        store.revoke_key(&admin.id, 6, &[]).await.unwrap(),
        RevokeOutcome::LastAdmin
    );
    assert!(
        store
            .key(&admin.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
}

#[tokio::test]
async fn concurrent_revocations_never_remove_the_last_admin() {
    let (store, _db) = open().await;
    let mut survivor: Option<ApiKeyRecord> = None;
    for _round in 0..5 {
        // Three new admin keys and last round's survivor, all revoked at once.
        let mut admins: Vec<ApiKeyRecord> = (0..3).map(|_| key(Role::Admin, &[])).collect();
        for a in &admins {
            store.insert_key(a, &[]).await.unwrap();
        }
        admins.extend(survivor.take());
        let mut tasks = Vec::new();
        for a in &admins {
            let store = Arc::clone(&store);
            let id = a.id.clone();
            tasks.push(tokio::spawn(
                async move { store.revoke_key(&id, 9, &[]).await },
            ));
        }
        for t in tasks {
            let outcome = t.await.unwrap().unwrap();
            assert!(
                matches!(outcome, RevokeOutcome::Revoked | RevokeOutcome::LastAdmin),
                "{outcome:?}"
            );
        }
        let active: Vec<ApiKeyRecord> = store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.role == Role::Admin && k.revoked_at.is_none())
            .collect();
        assert_eq!(active.len(), 1, "exactly one admin key survives");
        survivor = active.into_iter().next();
    }
}

#[tokio::test]
async fn subject_token_revocations_are_idempotent() {
    let (store, _db) = open().await;
    assert!(!store.subject_token_revoked("st_a").await.unwrap());
    store.revoke_subject_token("st_a", 100, 50).await.unwrap();
    store.revoke_subject_token("st_a", 100, 60).await.unwrap();
    assert!(store.subject_token_revoked("st_a").await.unwrap());
    assert!(!store.subject_token_revoked("st_b").await.unwrap());
}

#[tokio::test]
async fn the_database_answers_pings_and_migrations_are_repeatable() {
    let (store, db) = open().await;
    store.ping().await.unwrap();
    store.close().await;
    // Opening again runs the migrations again: a no-op on an up-to-date database.
    let again = store::open(&db.config()).await.unwrap();
    again.ping().await.unwrap();
}
