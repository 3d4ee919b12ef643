//! The vault's engine over the in-memory store: several nodes (several `Vault`s on one
//! store) racing rotations, erasures, retirements of versions and token retries.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use baomi_types::{AccessEvent, Action, Actor, RequestId};
use baomi_vault::memory::MemoryStore;
use baomi_vault::{
    Error, FieldName, FieldWrite, KeyringName, RootKey, SubjectId, Suite, TokenFormat, Vault,
    VaultOptions, VaultStore,
};
use zeroize::Zeroizing;

const NOW: i64 = 1_700_000_000;

/// Two nodes on one store, with the same root key. Node `b` keeps keyrings for an hour, so
/// it acts on a stale view until told otherwise.
fn two_nodes() -> (Arc<MemoryStore>, Vault, Vault) {
    let store = Arc::new(MemoryStore::new());
    let root = RootKey::generate().unwrap();
    let a = Vault::new(&root, store.clone(), VaultOptions::default()).unwrap();
    let stale = VaultOptions {
        keyring_refresh: Duration::from_secs(3600),
        ..VaultOptions::default()
    };
    let b = Vault::new(&root, store.clone(), stale).unwrap();
    (store, a, b)
}

fn event(action: Action) -> Vec<AccessEvent> {
    vec![AccessEvent::new(
        NOW * 1000,
        action,
        Actor::new("k1", "admin"),
        None,
        &RequestId::parse("r-1").unwrap(),
    )]
}

fn ring() -> KeyringName {
    KeyringName::parse("cards").unwrap()
}

fn subject(id: &str) -> SubjectId {
    SubjectId::parse(id).unwrap()
}

fn card() -> FieldName {
    FieldName::parse("bank_card").unwrap()
}

fn write(value: &str) -> FieldWrite {
    FieldWrite {
        field: card(),
        value: Zeroizing::new(value.to_owned()),
        searchable: true,
        token_format: TokenFormat::Random,
    }
}

async fn with_keyring(a: &Vault) {
    a.create_keyring(
        &ring(),
        Suite::Aes256Gcm,
        None,
        NOW,
        &event(Action::KeyringCreate),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn two_nodes_rotating_at_once_add_one_version() {
    let (store, a, b) = two_nodes();
    with_keyring(&a).await;
    let audit = |_: u32| event(Action::KeyringRotate);
    let name = ring();
    let (first, second) = tokio::join!(
        a.rotate(&name, None, NOW + 1, &audit),
        b.rotate(&name, None, NOW + 1, &audit),
    );
    let won = [&first, &second].iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one rotation wins");
    assert!(
        matches!(first, Err(Error::RotationConflict))
            || matches!(second, Err(Error::RotationConflict)),
        "the other is told it lost"
    );
    let now = store.keyring(&ring()).await.unwrap().unwrap();
    assert_eq!(now.latest_version, 2);
    // Creation and the one rotation that happened: no event of the rotation that did not.
    assert_eq!(store.events().len(), 2);
}

#[tokio::test]
async fn an_erasure_on_one_node_stops_writes_and_reads_on_another() {
    let (store, a, b) = two_nodes();
    with_keyring(&a).await;
    let alice = subject("alice");
    let tokens = a
        .put_fields(
            &ring(),
            &alice,
            &[write("6222021234567890123")],
            NOW,
            &event(Action::Store),
        )
        .await
        .unwrap();
    // Node b encrypts for alice, so it holds her data key unwrapped.
    let ciphertext = b
        .encrypt(&ring(), &alice, &card(), "6222021234567890123", NOW)
        .await
        .unwrap();
    let (record, counts) = a
        .erase(&alice, "rcpt-1", NOW + 5, &event(Action::Erase))
        .await
        .unwrap();
    assert_eq!(record.receipt_id, "rcpt-1");
    assert_eq!(
        (counts.data_keys, counts.fields, counts.index_entries),
        (1, 1, 1)
    );

    // The store refuses b's write although b still holds the key...
    let refused = b
        .put_fields(
            &ring(),
            &alice,
            &[write("6222021234567890123")],
            NOW + 6,
            &[],
        )
        .await;
    assert!(matches!(refused, Err(Error::SubjectErased)), "{refused:?}");
    assert!(store.fields(&alice).await.unwrap().is_empty());
    // ...and once told (the cluster's invalidation), b cannot decrypt either.
    b.forget_erased(&alice).await.unwrap();
    let read = b.decrypt(&alice, &card(), &ciphertext).await;
    assert!(matches!(read, Err(Error::SubjectErased)), "{read:?}");
    assert!(matches!(
        a.detokenize(&tokens[0]).await,
        Err(Error::UnknownToken)
    ));
    // No data key comes back: a new encryption is refused, not given a fresh key.
    let again = a.encrypt(&ring(), &alice, &card(), "1", NOW + 7).await;
    assert!(matches!(again, Err(Error::SubjectErased)), "{again:?}");
    assert!(
        store
            .subject_key(&ring(), &alice, 1)
            .await
            .unwrap()
            .is_none()
    );

    // A second erasure keeps the first record.
    let (second, _) = b.erase(&alice, "rcpt-2", NOW + 9, &[]).await.unwrap();
    assert_eq!(second.receipt_id, "rcpt-1");
    assert_eq!(second.erased_at, NOW + 5);
}

#[tokio::test]
async fn resealing_after_a_rotation_never_brings_an_erased_subjects_key_back() {
    let (store, a, _) = two_nodes();
    with_keyring(&a).await;
    let (alice, bob) = (subject("alice"), subject("bob"));
    for s in [&alice, &bob] {
        a.put_fields(&ring(), s, &[write("6222021234567890123")], NOW, &[])
            .await
            .unwrap();
    }
    a.rotate(&ring(), None, NOW + 1, &|_| Vec::new())
        .await
        .unwrap();
    a.erase(&alice, "rcpt-1", NOW + 2, &[]).await.unwrap();
    // Only bob's key is resealed; alice's is not recreated under the new KEK.
    assert_eq!(a.reseal_data_keys(&ring(), 100).await.unwrap(), 1);
    assert!(
        store
            .subject_key(&ring(), &alice, 1)
            .await
            .unwrap()
            .is_none()
    );
    let bobs = store.subject_key(&ring(), &bob, 1).await.unwrap().unwrap();
    assert_eq!(bobs.kek_version, 2);
    // Bob's value still reads, through the resealed key.
    let read = a.read_fields(&bob, None).await.unwrap();
    assert_eq!(
        read[0].value.as_ref().unwrap().as_str(),
        "6222021234567890123"
    );
    assert_eq!(a.reseal_data_keys(&ring(), 100).await.unwrap(), 0);
}

#[tokio::test]
async fn a_write_under_a_version_retired_meanwhile_is_refused_and_then_succeeds() {
    let (store, a, b) = two_nodes();
    with_keyring(&a).await;
    let bob = subject("bob");
    // Node b reads the keyring at version 1 and keeps it.
    b.encrypt(&ring(), &bob, &card(), "1", NOW).await.unwrap();
    // Node a rotates and retires version 1.
    a.rotate(&ring(), None, NOW + 1, &|_| Vec::new())
        .await
        .unwrap();
    a.set_policy(&ring(), Some(2), None, &[]).await.unwrap();

    let stale = b
        .put_fields(&ring(), &bob, &[write("6222021234567890123")], NOW + 2, &[])
        .await;
    assert!(
        matches!(stale, Err(Error::VersionRetired | Error::RotationConflict)),
        "{stale:?}"
    );
    assert!(
        store.fields(&bob).await.unwrap().is_empty(),
        "nothing written"
    );
    // Re-read (as the server does on a retry), the write goes under version 2.
    b.keyring(&ring()).await.unwrap();
    b.put_fields(&ring(), &bob, &[write("6222021234567890123")], NOW + 3, &[])
        .await
        .unwrap();
    assert_eq!(store.lowest_stored_version(&ring()).await.unwrap(), Some(2));
}

#[tokio::test]
async fn a_version_is_not_retired_while_a_stored_field_needs_it() {
    let (store, a, _) = two_nodes();
    with_keyring(&a).await;
    let bob = subject("bob");
    a.put_fields(&ring(), &bob, &[write("6222021234567890123")], NOW, &[])
        .await
        .unwrap();
    a.rotate(&ring(), None, NOW + 1, &|_| Vec::new())
        .await
        .unwrap();
    assert!(matches!(
        a.set_policy(&ring(), Some(2), None, &[]).await,
        Err(Error::StoredFieldsBelow)
    ));
    assert_eq!(
        a.reencrypt_stored_fields(&ring(), 100, NOW + 2)
            .await
            .unwrap(),
        1
    );
    a.set_policy(&ring(), Some(2), None, &[]).await.unwrap();
    // Version 1's data keys are gone; the value reads under version 2.
    assert!(store.subject_key(&ring(), &bob, 1).await.unwrap().is_none());
    let read = a.read_fields(&bob, None).await.unwrap();
    assert_eq!(
        read[0].value.as_ref().unwrap().as_str(),
        "6222021234567890123"
    );
}

#[tokio::test]
async fn a_token_clash_is_retried_with_fresh_tokens_and_gives_up_without_writing() {
    let (store, a, _) = two_nodes();
    with_keyring(&a).await;
    let bob = subject("bob");
    store.report_token_clashes(2);
    let tokens = a
        .put_fields(
            &ring(),
            &bob,
            &[write("6222021234567890123")],
            NOW,
            &event(Action::Store),
        )
        .await
        .unwrap();
    assert_eq!(store.puts_attempted(), 3, "two clashes, then stored");
    assert_eq!(store.fields(&bob).await.unwrap()[0].token, tokens[0]);
    assert_eq!(
        store
            .events()
            .iter()
            .filter(|e| e.action == Action::Store)
            .count(),
        1,
        "one event for the one write"
    );

    // Clashing every time means the generator is broken: an error, and nothing written.
    let carol = subject("carol");
    store.report_token_clashes(usize::MAX);
    let refused = a
        .put_fields(&ring(), &carol, &[write("6222021234567890123")], NOW, &[])
        .await;
    assert!(matches!(refused, Err(Error::Random)), "{refused:?}");
    assert!(store.fields(&carol).await.unwrap().is_empty());
    assert_eq!(store.puts_attempted(), 7, "four attempts, no more");
}

#[tokio::test]
async fn two_nodes_creating_a_subjects_data_key_at_once_share_one() {
    let (store, a, b) = two_nodes();
    with_keyring(&a).await;
    let dave = subject("dave");
    let (name, field) = (ring(), card());
    let (x, y) = tokio::join!(
        a.encrypt(&name, &dave, &field, "6222021234567890123", NOW),
        b.encrypt(&name, &dave, &field, "6222021234567890123", NOW),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    // Either node decrypts the other's ciphertext: one data key for the version.
    assert_eq!(
        b.decrypt(&dave, &card(), &x).await.unwrap().as_str(),
        "6222021234567890123"
    );
    assert_eq!(
        a.decrypt(&dave, &card(), &y).await.unwrap().as_str(),
        "6222021234567890123"
    );
    assert!(
        store
            .subject_key(&ring(), &dave, 1)
            .await
            .unwrap()
            .is_some()
    );
}
