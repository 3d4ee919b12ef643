//! The audit trail: durable appends from 64 concurrent requests (group commit; SQLite with
//! `synchronous = FULL`, and PostgreSQL when `BENCH_DATABASE_URL` names one), inclusion
//! proofs in a trail of 10 million events (built once into
//! `/var/tmp/baomi-bench-audit-10m.db` when `BENCH_AUDIT_10M=1`; a few minutes), and
//! offline verification of an export.
//!
//! `cargo bench -p baomi-bench --bench audit`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baomi::config::{OperatorDisplay, SqliteSynchronous};
use baomi::service::audit_log::AuditLog;
use baomi::service::signing_keys::{SigningKeys, Wanted};
use baomi::store::group_commit::GroupCommit;
use baomi::store::postgres::PgStore;
use baomi::store::sqlite::SqliteStore;
use baomi::store::{SigningKeyStore, Store};
use baomi_audit::checkpoint::{Checkpoint, CheckpointSigner};
use baomi_audit::export::{checkpoint_line, header_line, leaf_line};
use baomi_audit::merkle::{CompactTree, leaf_hash};
use baomi_audit::verify::verify_export;
use baomi_audit::{AuditSink, EventFilter, LogStore};
use baomi_types::SignatureAlgorithm;
use baomi_types::{AccessEvent, Action, Actor, OperatorId, RequestId};
use baomi_vault::{KdfParams, Passphrase, RootKey, SealedRootKey, seal_root_key, unseal_root_key};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A typical event: a decrypt of two fields of one subject for a purpose, for an operator.
fn event(i: u64) -> AccessEvent {
    let mut e = AccessEvent::new(
        1_763_000_000_000 + i as i64,
        Action::Decrypt,
        Actor::new("k4f7q2m9x3a1b", "service"),
        Some(&OperatorId::parse(&format!("agent-{}", i % 500)).unwrap()),
        &RequestId::parse(&format!("req-{i:016x}")).unwrap(),
    );
    e.subject = Some(format!("user-{}", i % 1_000_000));
    e.fields = vec!["id_number".into(), "mobile".into()];
    e.purpose = Some("loan_underwriting".into());
    e.count = 2;
    e
}

async fn sqlite(path: &Path, sync: SqliteSynchronous) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_file(path, 8, sync).await.unwrap())
}

/// Events per second appended by `concurrency` tasks, one event per call, through one
/// group-commit writer: what the server does for concurrent reads.
fn appends(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: Arc<dyn Store>) {
    let sink = rt.block_on(async { Arc::new(GroupCommit::start(store as Arc<dyn AuditSink>)) });
    let mut g = c.benchmark_group("audit append");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    for concurrency in [64u64, 512] {
        g.bench_function(format!("{name}, {concurrency} concurrent, durable"), |b| {
            b.iter_custom(|iters| rt.block_on(concurrent_appends(&sink, concurrency, iters)))
        });
    }
    g.finish();
}

/// `iters` events appended by `concurrency` tasks, one per call; the time per `iters`.
async fn concurrent_appends(sink: &Arc<GroupCommit>, concurrency: u64, iters: u64) -> Duration {
    let start = Instant::now();
    let per_task = iters.div_ceil(concurrency);
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let sink = Arc::clone(sink);
            tokio::spawn(async move {
                for i in 0..per_task {
                    sink.append(&[event(t * per_task + i)]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * concurrency) as f64)
}

/// One commit of a batch of 64 events, called directly on the store: the cost the group
/// commit writer pays per batch.
fn batch_commit(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    store: Arc<dyn Store>,
) {
    let mut g = c.benchmark_group("audit append");
    g.throughput(Throughput::Elements(64));
    g.sample_size(20);
    let mut i = 0u64;
    g.bench_function(format!("{name}, one commit of 64 events"), |b| {
        b.iter(|| {
            let batch: Vec<AccessEvent> = (i..i + 64).map(event).collect();
            i += 64;
            rt.block_on(store.append(&batch)).unwrap();
        })
    });
    g.finish();
}

/// A trail of `n` events in the SQLite file at `path`, built once (reused after).
async fn big_trail(path: &Path, n: u64) -> Arc<dyn Store> {
    let store = sqlite(path, SqliteSynchronous::Normal).await;
    let mut size = store.tree_size().await.unwrap();
    let started = Instant::now();
    while size < n {
        // The group-commit writer's largest batch.
        let batch: Vec<AccessEvent> = (size..(size + 2_000).min(n)).map(event).collect();
        store.append(&batch).await.unwrap();
        size += batch.len() as u64;
        if size % 1_000_000 == 0 {
            eprintln!("  {size} events ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    // Officer queries go through the keys the server indexes behind the append.
    while store.index_events(50_000).await.unwrap() > 0 {}
    store
}

/// The root key a reused trail's signing keys are sealed under, kept sealed beside the trail
/// at `path` (a trail without it is removed, to be built again).
fn trail_root(path: &Path) -> RootKey {
    let file = path.with_extension("root.json");
    let passphrase = Passphrase::new("benchmark passphrase, not a secret");
    if let Ok(text) = std::fs::read_to_string(&file) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let sealed = SealedRootKey {
            kdf: serde_json::from_value(v["kdf"].clone()).unwrap(),
            salt: serde_json::from_value(v["salt"].clone()).unwrap(),
            nonce: serde_json::from_value(v["nonce"].clone()).unwrap(),
            ciphertext: serde_json::from_value(v["ciphertext"].clone()).unwrap(),
        };
        return unseal_root_key(&sealed, &passphrase).unwrap();
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let root = RootKey::generate().unwrap();
    let kdf = KdfParams {
        m_cost_kib: 8 * 1024,
        t_cost: 1,
        p_cost: 1,
    };
    let sealed = seal_root_key(&root, &passphrase, kdf).unwrap();
    let v = serde_json::json!({
        "kdf": sealed.kdf, "salt": sealed.salt, "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
    });
    std::fs::write(&file, v.to_string()).unwrap();
    root
}

fn proofs(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let n: u64 = if std::env::var("BENCH_AUDIT_10M").is_ok_and(|v| v == "1") {
        10_000_000
    } else {
        100_000
    };
    let path = std::path::PathBuf::from(format!("/var/tmp/baomi-bench-audit-{n}.db"));
    let root = trail_root(&path);
    let store = rt.block_on(big_trail(&path, n));
    let keys = rt
        .block_on(SigningKeys::open(
            Arc::clone(&store) as Arc<dyn SigningKeyStore>,
            Arc::clone(&store) as Arc<dyn LogStore>,
            &root,
            "bench/audit",
            Wanted::Sealed(vec![SignatureAlgorithm::Ed25519]),
        ))
        .unwrap();
    let log = AuditLog::new(
        Arc::clone(&store) as Arc<dyn LogStore>,
        Arc::new(keys),
        &root,
        "bench/audit",
        OperatorDisplay::Hidden,
    )
    .unwrap();
    rt.block_on(log.checkpoint_now(1)).unwrap();
    let size = rt.block_on(store.tree_size()).unwrap();
    let mut g = c.benchmark_group("audit proof");
    let mut i = 0u64;
    g.bench_function(format!("inclusion, {size} events"), |b| {
        b.iter(|| {
            // Spread over the tree so that no one path stays cached.
            i = (i + 7_919_993) % size;
            rt.block_on(log.inclusion(i as i64 + 1, None)).unwrap()
        })
    });
    g.bench_function(format!("consistency, {size} events"), |b| {
        b.iter(|| {
            i = (i + 7_919_993) % size;
            rt.block_on(log.consistency(i.max(1), size)).unwrap()
        })
    });
    g.finish();

    // Officer queries: a page of 100, newest first, on the indexed columns.
    let mut g = c.benchmark_group("audit query");
    let by_subject = EventFilter {
        subject: Some("user-4242".into()),
        ..EventFilter::default()
    };
    g.bench_function(format!("one subject's events, {size} events"), |b| {
        b.iter(|| rt.block_on(log.events(&by_subject, 100)).unwrap())
    });
    // One operator (1 in 500 events) within the middle tenth of the trail's time.
    let (start, span) = (event(0).at_ms, size as i64);
    let by_operator = EventFilter {
        operator: Some("agent-17".into()),
        from_ms: Some(start + span * 45 / 100),
        to_ms: Some(start + span * 55 / 100),
        ..EventFilter::default()
    };
    g.bench_function(
        format!("one operator in a time range, {size} events"),
        |b| b.iter(|| rt.block_on(log.events(&by_operator, 100)).unwrap()),
    );
    g.finish();
}

fn verification(c: &mut Criterion) {
    const N: u64 = 200_000;
    let signer = CheckpointSigner::new("bench/audit", &[3; 32]).unwrap();
    let mut tree = CompactTree::new();
    let mut export = header_line("bench/audit", N);
    export.push('\n');
    for i in 0..N {
        let body = event(i).to_json();
        let hash = leaf_hash(body.as_bytes());
        tree.push(hash);
        export.push_str(&leaf_line(i, i as i64 + 1, &hash, Some(&body)));
        export.push('\n');
        if (i + 1) % 10_000 == 0 {
            let note = signer
                .sign(&Checkpoint {
                    origin: "bench/audit".into(),
                    size: i + 1,
                    root: tree.root(),
                })
                .unwrap();
            export.push_str(&checkpoint_line(&note));
            export.push('\n');
        }
    }
    let key = signer.verifier_key();
    let mut g = c.benchmark_group("audit verify");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function(
        format!("export of {N} events ({} MB)", export.len() / 1_000_000),
        |b| {
            b.iter(|| {
                let report = verify_export(export.as_bytes(), &key).unwrap();
                assert!(report.is_intact());
            })
        },
    );
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    verification(c);
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(sqlite(
        &dir.path().join("append.db"),
        SqliteSynchronous::Full,
    ));
    appends(c, &rt, "sqlite", Arc::clone(&store));
    batch_commit(c, &rt, "sqlite", store);
    if std::env::var("BENCH_SQLITE_NORMAL").is_ok() {
        let store = rt.block_on(sqlite(
            &dir.path().join("normal.db"),
            SqliteSynchronous::Normal,
        ));
        appends(c, &rt, "sqlite synchronous=normal", store);
    }
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        let store: Arc<dyn Store> = Arc::new(rt.block_on(PgStore::connect(&url, 8)).unwrap());
        appends(c, &rt, "postgresql", store);
    }
    proofs(c, &rt);
}

criterion_group!(benches, bench);
criterion_main!(benches);
