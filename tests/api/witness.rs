//! `baomi witness serve`, a C2SP tlog-witness in a process of its own, witnessing a Baomi
//! log: it cosigns the checkpoints that extend the last one it cosigned, refuses a fork and
//! keeps it as evidence, answers each failure as the protocol says, and keeps its state
//! across a restart.

use std::path::Path;

use baomi_audit::checkpoint::{Checkpoint, CheckpointSigner, KeyMaterial};
use baomi_audit::witness::{AddCheckpoint, verify_cosignature};
use data_encoding::BASE64;
use serde_json::Value;

use crate::audit::some_reads;
use crate::audit_keys::ed25519_pem;
use crate::audit_trail::{baomi, checkpoint, stdout};
use crate::helpers::{TestApp, baomi_process, client_builder, free_port, spawn_app_with, until};
use crate::tls::{Ca, Leaf};

const WITNESS: &str = "witness.test/w1";

/// A witness process, killed when dropped.
struct WitnessProcess {
    child: tokio::process::Child,
    url: String,
}

impl WitnessProcess {
    async fn start(dir: &Path, log_key: &str) -> Self {
        Self::start_with(dir, log_key, None).await
    }

    /// [`WitnessProcess::start`], over HTTPS with `tls` (the server's certificate, and the
    /// CA that signed it) when given.
    async fn start_with(dir: &Path, log_key: &str, tls: Option<(&Leaf, &Ca)>) -> Self {
        let port = free_port();
        let mut command = tokio::process::Command::from(baomi_process());
        command
            .args(["witness", "serve", "--name", WITNESS, "--key"])
            .arg(dir.join("witness.pem"))
            .arg("--state")
            .arg(dir.join("witness.db"))
            .args(["--log", log_key, "--listen", &format!("127.0.0.1:{port}")]);
        let mut client = client_builder();
        let scheme = match tls {
            None => "http",
            Some((leaf, ca)) => {
                std::fs::write(dir.join("witness-tls.pem"), &leaf.cert).unwrap();
                std::fs::write(dir.join("witness-tls.key"), &leaf.key).unwrap();
                command
                    .arg("--tls-cert")
                    .arg(dir.join("witness-tls.pem"))
                    .arg("--tls-key")
                    .arg(dir.join("witness-tls.key"));
                client = client.add_root_certificate(
                    reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap(),
                );
                "https"
            }
        };
        let child = command
            .env("BAOMI_LOG_LEVEL", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let url = format!("{scheme}://127.0.0.1:{port}");
        let client = client.build().unwrap();
        let started = std::time::Instant::now();
        while client.get(format!("{url}/healthz")).send().await.is_err() {
            assert!(started.elapsed().as_secs() < 30, "the witness answers");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self { child, url }
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }

    /// POSTs an add-checkpoint body: the status, the content type and the body.
    async fn add(&self, body: &str) -> (u16, String, String) {
        let reply = client_builder()
            .build()
            .unwrap()
            .post(format!("{}/add-checkpoint", self.url))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let kind = reply.headers()["content-type"].to_str().unwrap().to_owned();
        (status, kind, reply.text().await.unwrap())
    }
}

/// The log's newest checkpoint note.
async fn note(app: &TestApp, officer: &str) -> String {
    checkpoint(app).await;
    let reply = app.get("/v1/audit/checkpoint", Some(officer)).await;
    reply.json()["note"].as_str().unwrap().to_owned()
}

fn size_of(note: &str) -> u64 {
    note.lines().nth(1).unwrap().parse().unwrap()
}

async fn consistency(app: &TestApp, officer: &str, from: u64, to: u64) -> Vec<[u8; 32]> {
    let reply = app
        .get(
            &format!("/v1/audit/proofs/consistency?from={from}&to={to}"),
            Some(officer),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let bytes = BASE64.decode(h.as_str().unwrap().as_bytes()).unwrap();
            <[u8; 32]>::try_from(bytes.as_slice()).unwrap()
        })
        .collect()
}

fn request(old_size: u64, proof: Vec<[u8; 32]>, note: &str) -> String {
    AddCheckpoint {
        old_size,
        proof,
        note: note.to_owned(),
    }
    .to_body()
}

async fn evidence(dir: &Path) -> Vec<(String, i64)> {
    use sqlx::ConnectOptions;
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("witness.db"))
        .read_only(true)
        .connect()
        .await
        .unwrap();
    sqlx::query_as("SELECT code, held_size FROM evidence ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

/// A log signing key in a file (so that a test can sign with it what someone holding the
/// log's key could), and its signer.
fn log_key_file(dir: &Path) -> (std::path::PathBuf, CheckpointSigner) {
    let pem = ed25519_pem();
    let path = dir.join("log.pem");
    std::fs::write(&path, &pem).unwrap();
    let signer =
        CheckpointSigner::from_material("baomi/audit", &[KeyMaterial::Pkcs8Pem(&pem)]).unwrap();
    (path, signer)
}

/// `baomi witness new-key` into `dir/witness.pem`; the verifier key it printed.
fn new_witness_key(dir: &Path) -> String {
    let path = dir.join("witness.pem");
    let made = baomi(&[
        "witness",
        "new-key",
        "--name",
        WITNESS,
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    stdout(&made).trim().to_owned()
}

#[tokio::test]
async fn a_witness_cosigns_what_extends_its_view_refuses_a_fork_and_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let (log_key_file, log_signer) = log_key_file(dir.path());
    let app = spawn_app_with(move |c| c.audit.signing_key_files = vec![log_key_file]).await;
    let log_key = log_signer.verifier_key();
    let witness_key = new_witness_key(dir.path());
    assert!(witness_key.starts_with("witness.test/w1+"), "{witness_key}");
    let witness = WitnessProcess::start(dir.path(), &log_key).await;

    // The first checkpoint, from nothing.
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    some_reads(&app, &key, 2).await;
    let first = note(&app, &officer).await;
    let (status, kind, cosignature) = witness.add(&request(0, vec![], &first)).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/plain; charset=utf-8"),
        "{cosignature}"
    );
    let (cosigned, _) = verify_cosignature(&format!("{first}{cosignature}"), &witness_key).unwrap();
    assert_eq!(cosigned.size, size_of(&first));

    // A later one, with its consistency proof from the first.
    some_reads(&app, &key, 3).await;
    let second = note(&app, &officer).await;
    let (old, new) = (size_of(&first), size_of(&second));
    let proof = consistency(&app, &officer, old, new).await;
    let (status, _, cosignature) = witness.add(&request(old, proof, &second)).await;
    assert_eq!(status, 200, "{cosignature}");
    verify_cosignature(&format!("{second}{cosignature}"), &witness_key).unwrap();

    // A log that thinks the witness holds less is told what it holds.
    let (status, kind, body) = witness.add(&request(0, vec![], &first)).await;
    assert_eq!(
        (status, kind.as_str(), body),
        (409, "text/x.tlog.size", format!("{new}\n"))
    );

    // A fork, signed with the log's own key: a larger tree that does not extend the one
    // cosigned, and a tree of the same size with another root. Neither is cosigned; both
    // are kept as evidence.
    let forged = |size, root| {
        log_signer
            .sign(&Checkpoint {
                origin: "baomi/audit".to_owned(),
                size,
                root,
            })
            .unwrap()
    };
    let (status, _, body) = witness
        .add(&request(new, vec![[9u8; 32]], &forged(new + 4, [7u8; 32])))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "witness.inconsistent"
    );
    let (status, kind, body) = witness
        .add(&request(new, vec![], &forged(new, [7u8; 32])))
        .await;
    assert_eq!(
        (status, kind.as_str(), body),
        (409, "text/x.tlog.size", format!("{new}\n"))
    );
    let expected_evidence = vec![
        ("witness.inconsistent".to_owned(), new as i64),
        ("witness.fork".to_owned(), new as i64),
    ];
    assert_eq!(evidence(dir.path()).await, expected_evidence);

    // Another log's checkpoint, one signed by a key the witness does not trust for this
    // log, an old size beyond the checkpoint's, and a body that is no request.
    let stranger = CheckpointSigner::new("other.example/log", &[5u8; 32]).unwrap();
    let foreign = stranger
        .sign(&Checkpoint {
            origin: "other.example/log".to_owned(),
            size: 1,
            root: [1u8; 32],
        })
        .unwrap();
    let impostor = CheckpointSigner::new("baomi/audit", &[6u8; 32]).unwrap();
    let unsigned = impostor
        .sign(&Checkpoint {
            origin: "baomi/audit".to_owned(),
            size: new + 1,
            root: [1u8; 32],
        })
        .unwrap();
    for (body, status, code) in [
        (request(0, vec![], &foreign), 404, "witness.unknown_log"),
        (
            request(new, vec![], &unsigned),
            403,
            "witness.not_signed_by_the_log",
        ),
        (
            request(new + 5, vec![], &second),
            400,
            "witness.old_size_too_large",
        ),
        ("old 1\n".to_owned(), 400, "witness.malformed_request"),
    ] {
        let (got, kind, text) = witness.add(&body).await;
        assert_eq!(
            (got, kind.as_str()),
            (status, "application/problem+json"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["code"], code);
    }

    // Restarted, the witness still holds the last checkpoint it cosigned, and goes on from
    // there.
    witness.stop().await;
    let witness = WitnessProcess::start(dir.path(), &log_key).await;
    let (status, _, body) = witness.add(&request(0, vec![], &first)).await;
    assert_eq!((status, body), (409, format!("{new}\n")));
    some_reads(&app, &key, 1).await;
    let third = note(&app, &officer).await;
    let proof = consistency(&app, &officer, new, size_of(&third)).await;
    let (status, _, cosignature) = witness.add(&request(new, proof, &third)).await;
    assert_eq!(status, 200, "{cosignature}");
    verify_cosignature(&format!("{third}{cosignature}"), &witness_key).unwrap();
    assert_eq!(evidence(dir.path()).await, expected_evidence);
    witness.stop().await;
}

#[tokio::test]
async fn a_witness_will_not_start_without_a_usable_key_and_never_overwrites_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("witness.pem");
    let key = key.to_str().unwrap();
    let made = baomi(&["witness", "new-key", "--name", WITNESS, "--out", key]);
    assert!(made.status.success());
    let again = baomi(&["witness", "new-key", "--name", WITNESS, "--out", key]);
    assert!(!again.status.success(), "a second new-key over the first");
    let spaced = baomi(&[
        "witness",
        "new-key",
        "--name",
        "a name",
        "--out",
        "/dev/null",
    ]);
    assert!(!spaced.status.success());

    let not_a_key = dir.path().join("not-a-key.pem");
    std::fs::write(
        &not_a_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let log_key = CheckpointSigner::new("baomi/audit", &[3u8; 32])
        .unwrap()
        .verifier_key();
    let state = dir.path().join("state.db");
    let refused = baomi(&[
        "witness",
        "serve",
        "--name",
        WITNESS,
        "--key",
        not_a_key.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--log",
        &log_key,
    ]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("is not an Ed25519 key"), "{said}");
    assert!(!said.contains("AAAA"), "{said}");
    let bad_log = baomi(&[
        "witness",
        "serve",
        "--name",
        WITNESS,
        "--key",
        key,
        "--state",
        state.to_str().unwrap(),
        "--log",
        "baomi/audit+00000000+AAAA",
    ]);
    assert!(!bad_log.status.success());
    assert!(String::from_utf8_lossy(&bad_log.stderr).contains("not a verifier key"));
}

/// The newest checkpoint the witness cosigned, as `GET /v1/audit/checkpoint` serves it.
async fn witnessed(app: &TestApp, officer: &str) -> Option<(u64, String)> {
    let view = app.get("/v1/audit/checkpoint", Some(officer)).await.json();
    let w = view["witnessed"].as_array()?.first()?.clone();
    assert_eq!(w["witness"], WITNESS);
    Some((w["tree_size"].as_u64()?, w["note"].as_str()?.to_owned()))
}

/// Makes `reads` reads and a checkpoint, and waits until the witness has cosigned it (or a
/// later one): the checkpoint's size and the witnessed note.
async fn cosigned_after_reads(
    app: &TestApp,
    key: &str,
    officer: &str,
    reads: usize,
) -> (u64, String) {
    some_reads(app, key, reads).await;
    checkpoint(app).await;
    let size = app.audit_log.checkpoint().await.unwrap().unwrap().tree_size;
    until("the witness cosigns", async || {
        witnessed(app, officer)
            .await
            .is_some_and(|(s, _)| s >= size)
    })
    .await;
    let (_, note) = witnessed(app, officer).await.unwrap();
    (size, note)
}

/// The alerts of `rule` raised so far.
async fn alerts(app: &TestApp, officer: &str, rule: &str) -> Vec<Value> {
    let page = app.get("/v1/audit/alerts", Some(officer)).await.json();
    page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == rule)
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_log_gets_its_checkpoints_cosigned_and_alerts_on_a_refusal_or_a_silence() {
    let dir = tempfile::tempdir().unwrap();
    let (log_key_file, log_signer) = log_key_file(dir.path());
    let log_key = log_signer.verifier_key();
    let witness_key = new_witness_key(dir.path());
    let witness = WitnessProcess::start(dir.path(), &log_key).await;
    let setting = baomi::config::WitnessSetting {
        url: witness.url.clone(),
        verifier_key: witness_key.clone(),
    };
    let log_config = {
        let (file, setting) = (log_key_file.clone(), setting.clone());
        move |c: &mut baomi::config::Config| {
            c.audit.signing_key_files = vec![file];
            c.audit.witnesses = vec![setting];
            c.audit.witness_silence_alert_secs = 1;
        }
    };

    // Each new checkpoint is sent with its consistency proof and comes back cosigned.
    let app = spawn_app_with(log_config.clone()).await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    for reads in [2, 3] {
        let (size, note) = cosigned_after_reads(&app, &key, &officer, reads).await;
        let (cosigned, _) = verify_cosignature(&note, &witness_key).unwrap();
        assert!(cosigned.size >= size);
        baomi_audit::checkpoint::verify(&note, &log_key).unwrap();
    }
    assert!(alerts(&app, &officer, "witness_refused").await.is_empty());

    // An erasure certificate waits for a checkpoint the witness cosigned, and carries the
    // cosignature: checked offline, it demands the witness's key as well as the log's.
    let certificate = crate::erasure_certificates::erase_and_certify(&app, &key, "u2")
        .await
        .to_string();
    let checked = crate::erasure_certificates::verify_erasure(
        &certificate,
        &["--public-key", &log_key, "--witness-key", &witness_key],
    );
    assert!(checked.status.success(), "{}", stdout(&checked));
    assert!(
        stdout(&checked).contains(&format!("that the log signed and {WITNESS} cosigned")),
        "{}",
        stdout(&checked)
    );

    // A witness's note, kept, is checked against the trail with the witness's key demanded
    // too; a key that did not cosign it fails.
    let (_, kept) = witnessed(&app, &officer).await.unwrap();
    let kept_file = dir.path().join("witnessed.note");
    std::fs::write(&kept_file, &kept).unwrap();
    let url = crate::audit_trail::database_url(&app);
    let check = |witness: &str| {
        crate::audit_trail::verify_live_with(
            &url,
            &log_key,
            &[
                "--checkpoint",
                kept_file.to_str().unwrap(),
                "--witness-key",
                witness,
            ],
        )
    };
    let vouched = check(&witness_key);
    assert!(vouched.status.success(), "{}", stdout(&vouched));
    assert!(
        stdout(&vouched).contains(&format!("is cosigned by {WITNESS}")),
        "{}",
        stdout(&vouched)
    );
    let stranger = baomi_audit::witness::Cosigner::from_pkcs8_pem(
        WITNESS,
        &baomi_audit::witness::Cosigner::generate_pem().unwrap(),
    )
    .unwrap()
    .verifier_key();
    let unvouched = check(&stranger);
    assert_eq!(unvouched.status.code(), Some(1), "{}", stdout(&unvouched));
    assert!(
        stdout(&unvouched).contains(&format!(
            "FAIL the kept checkpoint is not cosigned by {WITNESS}"
        )),
        "{}",
        stdout(&unvouched)
    );

    // A read made after the witness cosigned that note, then blanked as though retention had
    // pruned it, its row's time moved back 200 days (the triggers dropped): the row alone
    // passes for old, but the witness's time says the leaf came later.
    some_reads(&app, &key, 1).await;
    checkpoint(&app).await;
    let seq = app
        .db
        .count("SELECT MAX(seq) FROM audit_events WHERE action = 'decrypt'")
        .await;
    crate::audit_trail::get_past_the_triggers(&app.db).await;
    app.db
        .execute(&format!(
            "UPDATE audit_events SET body = '', at_ms = at_ms - 17280000000, \
             pruned_at = at_ms - 1728000000, subject = NULL, actor = NULL, operator = NULL, \
             purpose = NULL WHERE seq = {seq}"
        ))
        .await;
    let row_only = crate::audit_trail::verify_live_with(&url, &log_key, &[]);
    assert!(row_only.status.success(), "{}", stdout(&row_only));
    let by_the_witness = check(&witness_key);
    assert_eq!(
        by_the_witness.status.code(),
        Some(1),
        "{}",
        stdout(&by_the_witness)
    );
    assert!(
        stdout(&by_the_witness).contains(&format!(
            "FAIL seq {seq}: its text was removed although it is younger than the shortest \
             retention"
        )),
        "{}",
        stdout(&by_the_witness)
    );

    // A second trail signed with the same key (the trail wiped and rebuilt, or a fork
    // shown to some): the witness refuses it, and that log records it and alerts.
    let fork = spawn_app_with(log_config).await;
    let (_, fork_key) = fork.create_key("service", &["kyc"]).await;
    let (_, fork_officer) = fork.create_key("officer", &[]).await;
    some_reads(&fork, &fork_key, 30).await;
    checkpoint(&fork).await;
    until("the fork's log alerts", async || {
        !alerts(&fork, &fork_officer, "witness_refused")
            .await
            .is_empty()
    })
    .await;
    let raised = alerts(&fork, &fork_officer, "witness_refused").await;
    assert_eq!(
        raised.len(),
        1,
        "recorded once, not once a second: {raised:?}"
    );
    assert_eq!(raised[0]["key"], format!("witness:{WITNESS}"));
    let code = raised[0]["detail"]["code"].as_str().unwrap();
    assert!(
        [
            "witness.inconsistent",
            "witness.holds_larger_tree",
            "witness.fork"
        ]
        .contains(&code),
        "{code}"
    );
    assert!(witnessed(&fork, &fork_officer).await.is_none());
    assert!(!evidence(dir.path()).await.is_empty() || code == "witness.holds_larger_tree");

    // A witness that stops answering is alerted on once it has been behind for longer
    // than allowed (one second here).
    let silences = alerts(&app, &officer, "witness_silent").await.len();
    witness.stop().await;
    some_reads(&app, &key, 1).await;
    checkpoint(&app).await;
    until("the silence alert", async || {
        alerts(&app, &officer, "witness_silent").await.len() > silences
    })
    .await;
    assert!(alerts(&app, &officer, "witness_refused").await.is_empty());
}

/// A witness beyond loopback serves HTTPS (or plain HTTP only when told to, behind a TLS
/// proxy); the log reaches it over HTTPS, trusting its private CA
/// (`audit.witness_ca_file`), and gets its checkpoints cosigned.
#[tokio::test]
async fn a_witness_serves_https_and_the_log_trusts_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (log_key_file, log_signer) = log_key_file(dir.path());
    let log_key = log_signer.verifier_key();
    let witness_key = new_witness_key(dir.path());

    // Plain HTTP beyond loopback, without saying so, does not start.
    let refused = baomi(&[
        "witness",
        "serve",
        "--name",
        WITNESS,
        "--key",
        dir.path().join("witness.pem").to_str().unwrap(),
        "--state",
        dir.path().join("refused.db").to_str().unwrap(),
        "--log",
        &log_key,
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--tls-cert"), "{said}");

    let ca = Ca::new("Example Pay witness CA");
    let witness = WitnessProcess::start_with(dir.path(), &log_key, Some((&ca.server(), &ca))).await;
    assert!(witness.url.starts_with("https://"));
    let ca_file = dir.path().join("witness-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let setting = baomi::config::WitnessSetting {
        url: witness.url.clone(),
        verifier_key: witness_key.clone(),
    };
    let app = spawn_app_with(move |c| {
        c.audit.signing_key_files = vec![log_key_file];
        c.audit.witnesses = vec![setting];
        c.audit.witness_ca_file = Some(ca_file);
    })
    .await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    let (_, note) = cosigned_after_reads(&app, &key, &officer, 2).await;
    verify_cosignature(&note, &witness_key).unwrap();
    witness.stop().await;
}
