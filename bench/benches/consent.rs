//! Consent decisions: the pure decision (derive the state from a subject's ledger events,
//! then decide), and the gate as reads use it (the newest ledger event of each subject read
//! from SQLite, nothing cached, so a withdrawal counts from the very next read); and the
//! officer console's per-purpose chart (a purpose's counts by day, kept as events are
//! appended).
//!
//! `cargo bench -p baomi-bench --bench consent`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use baomi::config::SqliteSynchronous;
use baomi::store::Store;
use baomi::store::sqlite::SqliteStore;
use baomi_consent::{
    ConsentAction, ConsentEvent, LegalBasis, Level, PiCategory, PurposeDefinition, Scopes,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn event(n: u64, subject: &str, action: ConsentAction) -> ConsentEvent {
    ConsentEvent {
        id: format!("cev_{n:020}"),
        subject: subject.to_owned(),
        purpose: "marketing".into(),
        action,
        purpose_version: 1,
        channel: "app".into(),
        evidence: "opt-in switch".into(),
        scopes: Scopes::default(),
        guardian: None,
        at: n as i64,
        expires_at: None,
        notice: None,
    }
}

fn purpose() -> PurposeDefinition {
    PurposeDefinition {
        description: "offers by SMS".into(),
        legal_basis: LegalBasis::Consent,
        categories: vec![PiCategory {
            name: "mobile".into(),
            sensitive: false,
            level: Level::C2,
        }],
        recipients: vec![],
        cross_border: false,
        retention_days: 365,
    }
}

fn bench(c: &mut Criterion) {
    let definition = purpose();
    let history = [
        event(1, "u1", ConsentAction::Granted),
        event(2, "u1", ConsentAction::Withdrawn),
        event(3, "u1", ConsentAction::Granted),
    ];
    let mut g = c.benchmark_group("consent");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decision from a 3-event history (in memory)", |b| {
        b.iter(|| {
            let state = baomi_consent::derive(&history, 10, 1);
            baomi_consent::decide(&definition, &state)
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = rt.block_on(async {
        Arc::new(
            SqliteStore::open_file(&dir.path().join("consent.db"), 4, SqliteSynchronous::Normal)
                .await
                .unwrap(),
        )
    });
    rt.block_on(async {
        store
            .put_purpose("marketing", &definition, false, 0, &[])
            .await
            .unwrap();
        for i in 0..10_000u64 {
            let subject = format!("u{i}");
            store
                .append_consent(&event(2 * i, &subject, ConsentAction::Granted), &[])
                .await
                .unwrap();
            if i % 3 == 0 {
                store
                    .append_consent(&event(2 * i + 1, &subject, ConsentAction::Withdrawn), &[])
                    .await
                    .unwrap();
            }
        }
    });
    let mut i = 0u64;
    g.bench_function(
        "gate for one subject, ledger of 13,334 events (SQLite)",
        |b| {
            b.iter(|| {
                i = (i + 7_919) % 10_000;
                let subject = format!("u{i}");
                rt.block_on(async {
                    let purpose = store.purpose("marketing").await.unwrap().unwrap();
                    let latest = store
                        .latest_consents("marketing", &[subject.as_str()])
                        .await
                        .unwrap();
                    let state = baomi_consent::derive(&latest, 10, purpose.renewal_from);
                    baomi_consent::decide(&purpose.definition, &state)
                })
            })
        },
    );
    g.throughput(Throughput::Elements(100));
    let batch: Vec<String> = (0..100).map(|i| format!("u{}", i * 97)).collect();
    let names: Vec<&str> = batch.iter().map(String::as_str).collect();
    g.bench_function("gate for a batch of 100 subjects (SQLite)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let latest = store.latest_consents("marketing", &names).await.unwrap();
                latest.len()
            })
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "console chart: a purpose's counts by day, 13,334 ledger events (SQLite)",
        |b| b.iter(|| rt.block_on(async { store.consent_days("marketing").await.unwrap().len() })),
    );
    // The cost of keeping those counts: one append (ledger row, trigger, commit), then the
    // same with the trigger dropped behind the store's back.
    let mut n = 1_000_000u64;
    let mut append = |b: &mut criterion::Bencher<'_>| {
        b.iter(|| {
            n += 1;
            let subject = format!("u{}", n % 10_000);
            let action = if n.is_multiple_of(2) {
                ConsentAction::Granted
            } else {
                ConsentAction::Withdrawn
            };
            rt.block_on(async {
                store
                    .append_consent(&event(n, &subject, action), &[])
                    .await
                    .unwrap()
            })
        })
    };
    g.bench_function(
        "append a ledger event (SQLite, with the chart's trigger)",
        &mut append,
    );
    rt.block_on(async {
        use sqlx::Connection;
        let options =
            sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("consent.db"));
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER consent_events_counted")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    g.bench_function(
        "append a ledger event (SQLite, trigger dropped)",
        &mut append,
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
