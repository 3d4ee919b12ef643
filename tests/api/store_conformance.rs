//! The store conformance suite: the ports' contracts, checked against whichever backend the
//! suite runs on (SQLite, or PostgreSQL with `TEST_DATABASE_URL`).

use std::sync::Arc;

use baomi::auth::Role;
use baomi::auth::api_key::ApiKeyRecord;
use baomi::service::keys::{NewKey, prepare};
use baomi::store::{self, RevokeOutcome, Store, StoreError, StoredRoot};
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
        grants: baomi::service::keys::GrantRequest {
            purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        },
        client_certificate: None,
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
    // Every migration of the backend's tree ran, once, and succeeded.
    let tree = if db.url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let files = std::fs::read_dir(format!("src/store/{tree}/migrations"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .is_ok_and(|f| f.path().extension().is_some_and(|e| e == "sql"))
        })
        .count() as i64;
    let applied = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
    assert_eq!(db.count(applied).await, files);
    // Opening again runs the migrations again: a no-op on an up-to-date database.
    let again = store::open(&db.config()).await.unwrap();
    again.ping().await.unwrap();
    again.close().await;
    assert_eq!(db.count(applied).await, files, "nothing ran twice");
}

/// One day of a purpose's ledger counts.
fn d(day: i64, granted: i64, withdrawn: i64, net: i64) -> baomi_consent::ConsentDay {
    baomi_consent::ConsentDay {
        day,
        granted,
        withdrawn,
        net,
    }
}

fn request(id: &str, subject: &str) -> baomi_consent::RightsRequest {
    baomi_consent::RightsRequest {
        id: id.to_owned(),
        subject: subject.to_owned(),
        kind: baomi_consent::RequestKind::Deletion,
        status: baomi_consent::RequestStatus::Open,
        note_ciphertext: None,
        created_at: 100,
        due_at: 200,
        closed_at: None,
        resolution: None,
        closed_by: None,
        approved_at: None,
        approved_by: None,
    }
}

fn closing(status: baomi_consent::RequestStatus, at: i64) -> baomi_consent::Closing<'static> {
    baomi_consent::Closing {
        status,
        resolution: "answered",
        closed_by: "officer1",
        at,
    }
}

#[tokio::test]
async fn requests_move_through_approval_claim_release_and_close() {
    use baomi_consent::RequestStatus as S;
    let (store, _db) = open().await;
    assert!(
        store
            .add_request(&request("req_a", "u1"), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .add_request(&request("req_b", "u2"), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .approve_request("req_a", "officer1", 150, &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .approve_request("req_a", "officer2", 160, &[])
            .await
            .unwrap(),
        "approved once"
    );
    let a = store.request("req_a").await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.approved_at, a.approved_by.as_deref()),
        (S::Approved, Some(150), Some("officer1"))
    );
    // An approved request is still the subject's open one of its kind.
    assert!(
        !store
            .add_request(&request("req_c", "u1"), &[])
            .await
            .unwrap()
    );
    // A failed closing puts each request back where it was.
    for (id, before) in [("req_a", S::Approved), ("req_b", S::Open)] {
        assert!(store.claim_request(id).await.unwrap());
        assert!(!store.claim_request(id).await.unwrap(), "claimed once");
        store.release_request(id).await.unwrap();
        assert_eq!(store.request(id).await.unwrap().unwrap().status, before);
    }
    let pending = store
        .requests(None, &[S::Open, S::Approved], 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 2);
    // While one is being closed, the subject cannot file another of its kind.
    assert!(store.claim_request("req_b").await.unwrap());
    assert!(
        !store
            .add_request(&request("req_d", "u2"), &[])
            .await
            .unwrap()
    );
    store.release_request("req_b").await.unwrap();
    // A claimed request is closed by its claimant only: no one rejects it meanwhile.
    assert!(store.claim_request("req_a").await.unwrap());
    assert!(
        !store
            .close_request("req_a", false, &closing(S::Rejected, 165), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .close_request("req_a", true, &closing(S::Completed, 170), &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .approve_request("req_a", "officer1", 180, &[])
            .await
            .unwrap()
    );
    let only_open = store.requests(None, &[S::Open], 10).await.unwrap();
    assert_eq!(only_open.len(), 1);
    assert_eq!(only_open[0].id, "req_b");
    assert_eq!(store.requests(None, &[], 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_purposes_ledger_is_counted_day_by_day() {
    use baomi_consent::{ConsentAction as A, ConsentEvent};
    let (store, _db) = open().await;
    let day = 86_400;
    let mut n = 0;
    let mut event = |subject: &str, action, at| {
        n += 1;
        ConsentEvent {
            id: format!("cev_{n}"),
            subject: subject.to_owned(),
            purpose: "marketing".to_owned(),
            action,
            purpose_version: 1,
            channel: "app".to_owned(),
            evidence: "checkbox".to_owned(),
            scopes: Default::default(),
            guardian: None,
            at,
            expires_at: None,
            notice: None,
        }
    };
    // Day 10: a and b grant, a renews (no change in who is active).
    // Day 11: a withdraws twice (one change), c withdraws without a grant (none).
    // Day 13: a grants again.
    for e in [
        event("a", A::Granted, 10 * day),
        event("b", A::Granted, 10 * day + 5),
        event("a", A::Granted, 10 * day + 9),
        event("a", A::Withdrawn, 11 * day),
        event("a", A::Withdrawn, 11 * day + 1),
        event("c", A::Withdrawn, 11 * day + 2),
        event("a", A::Granted, 13 * day + 3),
    ] {
        store.append_consent(&e, &[]).await.unwrap();
    }
    let days = store.consent_days("marketing").await.unwrap();
    assert_eq!(days, vec![d(10, 3, 0, 2), d(11, 0, 3, -1), d(13, 1, 0, 1)]);
    assert!(store.consent_days("other").await.unwrap().is_empty());
}

#[tokio::test]
async fn ledger_events_and_requests_written_before_the_upgrade_still_count() {
    use sqlx::Connection;
    let db = TestDb::new().await;
    let event = |id: &str, subject: &str, action: &str, at: i64| {
        serde_json::json!({
            "id": id, "subject": subject, "purpose": "marketing", "action": action,
            "purpose_version": 1, "channel": "app", "evidence": "opt-in", "at": at,
        })
        .to_string()
    };
    let rows = [
        ("cev_1", "a", event("cev_1", "a", "granted", 86_400 * 5)),
        ("cev_2", "b", event("cev_2", "b", "granted", 86_400 * 5 + 1)),
        ("cev_3", "a", event("cev_3", "a", "withdrawn", 86_400 * 6)),
    ];
    // The database as the release before migration 16 left it.
    macro_rules! stage {
        ($conn:expr, $migrator:expr) => {{
            $migrator.run_to(15, &mut $conn).await.unwrap();
            for (id, subject, body) in &rows {
                sqlx::query(
                    "INSERT INTO consent_events (id, subject, purpose, body) \
                     VALUES ($1, $2, 'marketing', $3)",
                )
                .bind(id)
                .bind(subject)
                .bind(body)
                .execute(&mut $conn)
                .await
                .unwrap();
            }
            sqlx::query(
                "INSERT INTO rights_requests (id, subject, kind, status, created_at, due_at) \
                 VALUES ('req_old', 'a', 'access', 'open', 1, 2)",
            )
            .execute(&mut $conn)
            .await
            .unwrap();
        }};
    }
    match &db.url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            stage!(conn, sqlx::migrate!("src/store/postgres/migrations"));
        }
        None => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.dir.path().join("baomi.db"))
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            stage!(conn, sqlx::migrate!("src/store/sqlite/migrations"));
        }
    }
    let store = store::open(&db.config()).await.unwrap();
    let days = store.consent_days("marketing").await.unwrap();
    assert_eq!(days, vec![d(5, 2, 0, 2), d(6, 0, 1, -1)]);
    // A node of the earlier release writes an event the old way: it is counted too.
    db.execute(&format!(
        "INSERT INTO consent_events (id, subject, purpose, body) VALUES ('cev_4', 'b', \
         'marketing', '{}')",
        event("cev_4", "b", "withdrawn", 86_400 * 6 + 7)
    ))
    .await;
    assert_eq!(
        store.consent_days("marketing").await.unwrap(),
        vec![d(5, 2, 0, 2), d(6, 0, 2, -2)]
    );
    let old = store.request("req_old").await.unwrap().unwrap();
    assert_eq!(old.status, baomi_consent::RequestStatus::Open);
    assert_eq!(old.approved_at, None);
    assert!(
        db.try_execute("UPDATE consent_events SET action = 'granted'")
            .await
            .is_err(),
        "the ledger is append-only again"
    );
    assert!(db.try_execute("DELETE FROM consent_events").await.is_err());
}

#[tokio::test]
async fn key_grants_round_trip_and_change_only_on_active_keys() {
    use baomi::auth::grant::{Permission, ViewKind};
    let (store, _db) = open().await;
    let mut record = key(Role::Service, &["loans"]);
    store.insert_key(&record, &[]).await.unwrap();
    let read = store.key(&record.id).await.unwrap().unwrap();
    assert_eq!(read.grants, record.grants);
    assert!(!read.grants.purposes[0].views.contains(&ViewKind::Plain));
    record.grants.permissions.insert(Permission::EraseSubjects);
    record.grants.purposes[0].views.insert(ViewKind::Plain);
    assert!(store.set_key_grants(&record, &[]).await.unwrap());
    assert_eq!(
        store.key(&record.id).await.unwrap().unwrap().grants,
        record.grants
    );
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        store.revoke_key(&record.id, 1, &[]).await.unwrap(),
        RevokeOutcome::Revoked
    );
    assert!(
        !store.set_key_grants(&record, &[]).await.unwrap(),
        "a revoked key keeps its grants"
    );
}

/// An event of `subject`'s data read for `operator` at `at_ms`.
fn read_event(at_ms: i64, subject: &str, operator: &str) -> baomi_types::AccessEvent {
    use baomi_types::{AccessEvent, Action, Actor, OperatorId, RequestId};
    let mut e = AccessEvent::new(
        at_ms,
        Action::Decrypt,
        Actor::new("kconformance", "service"),
        Some(&OperatorId::parse(operator).unwrap()),
        &RequestId::parse(&format!("req-{at_ms}")).unwrap(),
    );
    e.subject = Some(subject.to_owned());
    e.purpose = Some("loan_underwriting".to_owned());
    e
}

/// Every page of `filter`'s results, `page` at a time, as sequence numbers.
async fn all_pages(store: &dyn Store, filter: &baomi_audit::EventFilter, page: u32) -> Vec<i64> {
    let mut filter = filter.clone();
    let mut seqs = Vec::new();
    loop {
        let found = store.query(&filter, page).await.unwrap();
        seqs.extend(found.iter().map(|e| e.seq));
        match found.last() {
            Some(last) if found.len() == page as usize => filter.before = Some(last.seq),
            _ => return seqs,
        }
    }
}

#[tokio::test]
async fn officer_queries_find_the_same_events_before_during_and_after_indexing() {
    let (store, _db) = open().await;
    let events: Vec<_> = (0..30)
        .map(|i| {
            read_event(
                1_763_000_000_000 + i,
                &format!("user-{}", i % 3),
                &format!("agent-{}", i % 4),
            )
        })
        .collect();
    store.append(&events).await.unwrap();
    let by = |subject: Option<&str>, operator: Option<&str>| baomi_audit::EventFilter {
        subject: subject.map(str::to_owned),
        operator: operator.map(str::to_owned),
        ..Default::default()
    };
    let filters = [
        by(Some("user-1"), None),
        by(None, Some("agent-2")),
        by(Some("user-0"), Some("agent-0")),
        by(None, None),
        baomi_audit::EventFilter {
            from_ms: Some(1_763_000_000_010),
            to_ms: Some(1_763_000_000_020),
            purpose: Some("loan_underwriting".to_owned()),
            ..Default::default()
        },
    ];
    let mut expected = Vec::new();
    for filter in &filters {
        expected.push(all_pages(&*store, filter, 4).await);
    }
    assert_eq!(expected[0].len(), 10, "every third event is user-1's");
    assert!(expected[0].windows(2).all(|w| w[0] > w[1]), "newest first");
    assert_eq!(expected[4].len(), 10);
    // Part indexed (the boundary falls inside pages), then all of it: the same answers.
    assert_eq!(store.index_events(13).await.unwrap(), 13);
    for (filter, want) in filters.iter().zip(&expected) {
        assert_eq!(&all_pages(&*store, filter, 4).await, want, "{filter:?}");
    }
    assert_eq!(store.index_events(1000).await.unwrap(), 17);
    assert_eq!(store.index_events(1000).await.unwrap(), 0, "nothing left");
    for (filter, want) in filters.iter().zip(&expected) {
        assert_eq!(&all_pages(&*store, filter, 7).await, want, "{filter:?}");
    }
    // Pruned events are found by no key, indexed or not.
    store
        .append(&[read_event(1_763_000_000_100, "user-1", "agent-1")])
        .await
        .unwrap();
    let now = 1_763_000_000_100 + 181 * 86_400_000;
    assert_eq!(store.prune(1_763_000_000_050, now, 1000).await.unwrap(), 30);
    let left = all_pages(&*store, &by(Some("user-1"), None), 4).await;
    assert_eq!(
        left.len(),
        1,
        "only the event appended after the pruned ones"
    );
    assert_eq!(store.index_events(1000).await.unwrap(), 1);
    assert_eq!(all_pages(&*store, &by(Some("user-1"), None), 4).await, left);
    assert!(
        all_pages(&*store, &by(None, Some("agent-2")), 4)
            .await
            .is_empty()
    );
}

/// Runs a tree computation on the subtree hashes the store gives, as the service does: once
/// to learn which it reads, then on those.
async fn on_stored_tree<T>(
    store: &dyn Store,
    compute: impl Fn(&dyn baomi_audit::merkle::HashSource) -> T,
) -> T {
    use baomi_audit::merkle::{Needed, Nodes};
    let needed = Needed::default();
    let _ = compute(&needed);
    let ids = needed.0.into_inner();
    let nodes = store.nodes(&ids).await.unwrap();
    assert!(
        ids.iter().all(|id| nodes.contains_key(id)),
        "every subtree asked for is known"
    );
    compute(&Nodes(nodes))
}

#[tokio::test]
async fn the_stored_tree_gives_the_reference_roots_and_proofs() {
    use baomi_audit::merkle::{self, Leaves};
    let (store, _db) = open().await;
    // Appends of uneven sizes, so that subtrees complete inside one append and across
    // several, at stored levels and between them; 300 leaves reach level 8.
    let mut events = Vec::new();
    for size in [1usize, 2, 5, 16, 17, 31, 64, 100, 3, 61] {
        let batch: Vec<_> = (events.len()..events.len() + size)
            .map(|i| {
                read_event(
                    1_763_000_000_000 + i as i64,
                    &format!("user-{i}"),
                    "agent-1",
                )
            })
            .collect();
        store.append(&batch).await.unwrap();
        events.extend(batch);
    }
    // The reference: RFC 9162's tree over the events' texts, all in memory.
    let hashes: Vec<_> = events
        .iter()
        .map(|e| merkle::leaf_hash(e.to_json().as_bytes()))
        .collect();
    let reference = Leaves(&hashes);
    assert_eq!(store.tree_size().await.unwrap(), 300);
    for size in 1..=300u64 {
        let root = on_stored_tree(&*store, |t| merkle::root(t, size)).await;
        assert_eq!(root, merkle::root(&reference, size), "root of {size}");
    }
    for (index, size) in [
        (0, 1),
        (0, 300),
        (17, 18),
        (100, 256),
        (255, 256),
        (256, 300),
        (299, 300),
    ] {
        let proof = on_stored_tree(&*store, |t| merkle::inclusion_proof(t, index, size)).await;
        assert_eq!(
            proof.unwrap(),
            merkle::inclusion_proof(&reference, index, size).unwrap(),
            "inclusion of {index} in {size}"
        );
    }
    for (from, to) in [
        (1, 300),
        (7, 8),
        (16, 17),
        (24, 200),
        (128, 256),
        (255, 300),
        (299, 300),
    ] {
        let proof = on_stored_tree(&*store, |t| merkle::consistency_proof(t, from, to)).await;
        assert_eq!(
            proof.unwrap(),
            merkle::consistency_proof(&reference, from, to).unwrap(),
            "consistency of {from} and {to}"
        );
    }
}

/// A request's new subjects get their data keys in one write: two nodes preparing the same
/// subjects at once share one key each, and a node whose keyring is stale prepares nothing
/// under a version retired meanwhile (its encrypt is then refused, as a single one is).
#[tokio::test]
async fn batches_of_new_data_keys_are_shared_and_never_under_a_retired_version() {
    use baomi_types::{AccessEvent, Action, Actor, RequestId};
    use baomi_vault::{Error, FieldName, KeyringName, SubjectId, Suite, Vault, VaultOptions};
    let (store, _db) = open().await;
    let root = RootKey::generate().unwrap();
    let vaults = store.clone() as Arc<dyn baomi_vault::VaultStore>;
    let a = Vault::new(&root, Arc::clone(&vaults), VaultOptions::default()).unwrap();
    let stale = VaultOptions {
        keyring_refresh: std::time::Duration::from_secs(3600),
        ..VaultOptions::default()
    };
    let b = Vault::new(&root, vaults, stale).unwrap();
    let ring = KeyringName::parse("cards").unwrap();
    let card = FieldName::parse("bank_card").unwrap();
    let created = AccessEvent::new(
        1,
        Action::KeyringCreate,
        Actor::new("k1", "admin"),
        None,
        &RequestId::parse("r-1").unwrap(),
    );
    a.create_keyring(&ring, Suite::Aes256Gcm, None, 1, &[created])
        .await
        .unwrap();
    let subjects: Vec<SubjectId> = (0..40)
        .map(|i| SubjectId::parse(&format!("s-{i}")).unwrap())
        .collect();
    let refs: Vec<&SubjectId> = subjects.iter().collect();
    // The same subjects at the same time, in the opposite order.
    let reversed: Vec<&SubjectId> = subjects.iter().rev().collect();
    let (x, y) = tokio::join!(
        a.prepare_data_keys(&ring, &refs, 2),
        b.prepare_data_keys(&ring, &reversed, 2),
    );
    x.unwrap();
    y.unwrap();
    for subject in &subjects {
        let sealed = a
            .encrypt(&ring, subject, &card, "6222021234567890123", 3)
            .await
            .unwrap();
        assert_eq!(
            b.decrypt(subject, &card, &sealed).await.unwrap().as_str(),
            "6222021234567890123",
            "one key per subject, whichever node made it"
        );
    }
    assert_eq!(store.subject_keys(&ring, 1, &refs).await.unwrap().len(), 40);

    // Node b keeps version 1; node a rotates and retires it.
    a.rotate(&ring, None, 4, &|_| Vec::new()).await.unwrap();
    a.set_policy(&ring, Some(2), None, &[]).await.unwrap();
    let late: Vec<SubjectId> = (0..5)
        .map(|i| SubjectId::parse(&format!("late-{i}")).unwrap())
        .collect();
    let late_refs: Vec<&SubjectId> = late.iter().collect();
    b.prepare_data_keys(&ring, &late_refs, 5).await.unwrap();
    assert!(
        store
            .subject_keys(&ring, 1, &late_refs)
            .await
            .unwrap()
            .is_empty(),
        "no key under the retired version"
    );
    let refused = b.encrypt(&ring, &late[0], &card, "1", 6).await;
    assert!(
        matches!(
            refused,
            Err(Error::VersionRetired | Error::RotationConflict)
        ),
        "{refused:?}"
    );
}

/// A batch of many subjects' fields: a token another subject holds, or given twice in the
/// batch, is reported by its position and nothing is written; an erased subject among them
/// is named and nothing is written; otherwise every field is stored and replaces the
/// subject's earlier value of it, token and index entry included.
#[tokio::test]
async fn a_batch_of_fields_reports_each_clashing_token_and_writes_all_or_nothing() {
    use baomi_vault::{IndexEntry, KeyringName, PutOutcome, StoredField, SubjectId};
    let (store, db) = open().await;
    let vaults = store.clone() as Arc<dyn baomi_vault::VaultStore>;
    let subject = |i: usize| SubjectId::parse(&format!("b-{i}")).unwrap();
    let field = |i: usize, name: &str, token: &str| StoredField {
        subject: subject(i),
        field: name.to_owned(),
        keyring: KeyringName::default_name(),
        version: 1,
        ciphertext: format!("bm:v1:test:{i}:{name}"),
        token: token.to_owned(),
        updated_at: 1,
    };
    let entry = |i: usize| IndexEntry {
        keyring: "default".to_owned(),
        field: "mobile".to_owned(),
        digest: vec![u8::try_from(i).unwrap(); 32],
        subject: subject(i),
    };
    // The keyring the fields name must exist for the minimum-version check.
    let root = RootKey::generate().unwrap();
    let vault = baomi_vault::Vault::new(&root, Arc::clone(&vaults), Default::default()).unwrap();
    vault
        .ensure_keyring(&KeyringName::default_name(), 1, &[])
        .await
        .unwrap();

    let first: Vec<StoredField> = (0..3)
        .map(|i| field(i, "mobile", &format!("t-{i}")))
        .collect();
    let index: Vec<IndexEntry> = (0..3).map(entry).collect();
    assert_eq!(
        vaults.put_fields(&first, &index, &[]).await.unwrap(),
        PutOutcome::Stored
    );
    // Position 1 takes b-0's token, position 3 repeats position 2's: both reported.
    let clashing = vec![
        field(5, "mobile", "t-5"),
        field(6, "mobile", "t-0"),
        field(7, "mobile", "t-7"),
        field(8, "mobile", "t-7"),
    ];
    assert_eq!(
        vaults.put_fields(&clashing, &[], &[]).await.unwrap(),
        PutOutcome::TokenClash(vec![1, 3])
    );
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.count(sql).await }
    };
    assert_eq!(count("SELECT COUNT(*) FROM subject_fields").await, 3);

    // A field stored again replaces the earlier one: its token frees up for another.
    let again = vec![field(0, "mobile", "t-0b"), field(9, "mobile", "t-0")];
    assert_eq!(
        vaults.put_fields(&again, &[entry(9)], &[]).await.unwrap(),
        PutOutcome::Stored
    );
    assert_eq!(count("SELECT COUNT(*) FROM subject_fields").await, 4);
    assert_eq!(
        count("SELECT COUNT(*) FROM blind_index WHERE subject = 'b-0'").await,
        0,
        "b-0's mobile was replaced without an index entry"
    );

    // An erased subject among many: named, and nothing written.
    let receipt = baomi_vault::Erasure {
        subject: subject(2),
        receipt_id: "er-1".to_owned(),
        erased_at: 2,
    };
    vaults.erase_subject(&receipt, &[]).await.unwrap();
    let with_erased = vec![field(10, "mobile", "t-10"), field(2, "mobile", "t-2b")];
    assert_eq!(
        vaults.put_fields(&with_erased, &[], &[]).await.unwrap(),
        PutOutcome::Erased(subject(2))
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM subject_fields WHERE subject = 'b-10'").await,
        0
    );
}
