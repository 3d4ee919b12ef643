//! The cost of witnessing (issue 19): a Baomi log with one witness (`baomi witness serve`'s
//! service, in this process, over loopback HTTP).
//!
//! - checkpoint latency: append an event and sign a checkpoint, without and with having it
//!   cosigned by the witness (consistency proof, POST, the witness's synced state, the
//!   cosignature checked and kept): the ratio is the cost of a cosignature;
//! - append throughput: 64 concurrent appenders through the group-commit writer while, once
//!   a second, a checkpoint is signed, without and with it being witnessed (witnessing is a
//!   background task, off the append path).
//!
//! `cargo bench -p baomi-bench --bench witness`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use baomi::config::{AuditConfig, SqliteSynchronous, WitnessSetting};
use baomi::service::audit_log::AuditLog;
use baomi::service::signing_keys::{SigningKeys, Wanted};
use baomi::service::witnessing::Witnessing;
use baomi::store::group_commit::GroupCommit;
use baomi::store::sqlite::SqliteStore;
use baomi::store::{CosignatureStore, SigningKeyStore, Store};
use baomi::witness::state::WitnessState;
use baomi::witness::{Logs, Witness};
use baomi_audit::witness::Cosigner;
use baomi_audit::{AuditSink, LogStore};
use baomi_types::SignatureAlgorithm;
use baomi_types::{AccessEvent, Action, Actor, RequestId};
use baomi_vault::RootKey;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::Mutex;

fn event(i: u64) -> AccessEvent {
    let mut e = AccessEvent::new(
        1_763_000_000_000 + i as i64,
        Action::Decrypt,
        Actor::new("k4f7q2m9x3a1b", "service"),
        None,
        &RequestId::parse(&format!("req-{i:016x}")).unwrap(),
    );
    e.subject = Some(format!("user-{}", i % 1_000_000));
    e.fields = vec!["mobile".into()];
    e.purpose = Some("loan_underwriting".into());
    e
}

struct Setup {
    store: Arc<dyn Store>,
    log: Arc<AuditLog>,
    witnessing: Arc<Mutex<Witnessing>>,
}

async fn setup(dir: &std::path::Path) -> Setup {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open_file(&dir.join("log.db"), 8, SqliteSynchronous::Full)
            .await
            .unwrap(),
    );
    let root = RootKey::generate().unwrap();
    let keys = SigningKeys::open(
        Arc::clone(&store) as Arc<dyn SigningKeyStore>,
        Arc::clone(&store) as Arc<dyn LogStore>,
        &root,
        "bench/audit",
        Wanted::Sealed(vec![SignatureAlgorithm::Ed25519]),
    )
    .await
    .unwrap();
    let log = Arc::new(
        AuditLog::new(
            Arc::clone(&store) as Arc<dyn LogStore>,
            Arc::new(keys),
            &root,
            "bench/audit",
            baomi::config::OperatorDisplay::Hidden,
        )
        .unwrap(),
    );
    let batch: Vec<AccessEvent> = (0..1_000).map(event).collect();
    store.append(&batch).await.unwrap();

    let cosigner =
        Cosigner::from_pkcs8_pem("bench.example/w1", &Cosigner::generate_pem().unwrap()).unwrap();
    let witness_key = cosigner.verifier_key();
    let logs = Logs::from_verifier_keys(&[log.verifier_key()]).unwrap();
    let state = WitnessState::open(&dir.join("witness.db")).await.unwrap();
    let witness = Arc::new(Witness::new(cosigner, logs, state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, baomi::witness::http::router(witness))
            .await
            .unwrap();
    });
    let config = AuditConfig {
        witnesses: vec![WitnessSetting {
            url,
            verifier_key: witness_key,
        }],
        ..AuditConfig::default()
    };
    let witnessing = Witnessing::new(
        &config,
        Arc::clone(&log),
        Arc::clone(&store) as Arc<dyn CosignatureStore>,
        Arc::clone(&store) as Arc<dyn AuditSink>,
    )
    .unwrap()
    .unwrap();
    Setup {
        store,
        log,
        witnessing: Arc::new(Mutex::new(witnessing)),
    }
}

fn checkpoint_latency(c: &mut Criterion, rt: &tokio::runtime::Runtime, s: &Setup) {
    let mut g = c.benchmark_group("witness checkpoint");
    g.sample_size(30);
    let mut i = 10_000u64;
    g.bench_function("append 1 event and sign a checkpoint", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(async {
                s.store.append(&[event(i)]).await.unwrap();
                s.log.checkpoint_now(baomi::service::now()).await.unwrap();
            })
        })
    });
    g.bench_function("the same, cosigned by one witness on loopback", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(async {
                s.store.append(&[event(i)]).await.unwrap();
                s.log.checkpoint_now(baomi::service::now()).await.unwrap();
                s.witnessing.lock().await.pass().await.unwrap();
            })
        })
    });
    g.finish();
}

/// `iters` appends by 64 tasks while a checkpoint is signed (and witnessed) every second.
async fn appends_while_checkpointing(
    s: &Setup,
    sink: &Arc<GroupCommit>,
    witnessed: bool,
    iters: u64,
) -> Duration {
    const TASKS: u64 = 64;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let (log, witnessing) = (Arc::clone(&s.log), Arc::clone(&s.witnessing));
    let background = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.changed() => return,
            }
            log.checkpoint_now(baomi::service::now()).await.unwrap();
            if witnessed {
                witnessing.lock().await.pass().await.unwrap();
            }
        }
    });
    let start = Instant::now();
    let per_task = iters.div_ceil(TASKS);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let sink = Arc::clone(sink);
            tokio::spawn(async move {
                for i in 0..per_task {
                    sink.append(&[event(1_000_000 + t * per_task + i)])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * TASKS) as f64);
    let _ = stop.send(true);
    background.await.unwrap();
    elapsed
}

fn append_throughput(c: &mut Criterion, rt: &tokio::runtime::Runtime, s: &Setup) {
    let sink = rt.block_on(async {
        Arc::new(GroupCommit::start(
            Arc::clone(&s.store) as Arc<dyn AuditSink>
        ))
    });
    let mut g = c.benchmark_group("witness append");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    for (name, witnessed) in [("checkpoints", false), ("witnessed checkpoints", true)] {
        g.bench_function(format!("64 concurrent, {name} every second"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(appends_while_checkpointing(s, &sink, witnessed, iters))
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(setup(dir.path()));
    checkpoint_latency(c, &rt, &s);
    append_throughput(c, &rt, &s);
}

criterion_group!(benches, bench);
criterion_main!(benches);
