//! Export, offline and live verification, and retention of the audit trail: an auditor
//! checks an export with the verifier key alone, and tampering with the database is found
//! and located by sequence number.

use std::process::Output;

use baomi::service::audit_export::{verify_store, verify_store_extending};
use baomi_audit::merkle::{leaf_hash, verify_inclusion};
use baomi_audit::verify::{Finding, Report, verify_export};
use serde_json::Value;

use crate::audit::{hash, hashes, some_reads};
use crate::helpers::{TestApp, spawn_app};

/// An app with `n` reads, a signed checkpoint, an officer key and the verifier key.
pub(crate) async fn trail(n: usize) -> (TestApp, String, String) {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    some_reads(&app, &key, n).await;
    checkpoint(&app).await;
    let verifier = app.get("/v1/audit/checkpoint", Some(&officer)).await.json()["verifier_key"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, officer, verifier)
}

pub(crate) async fn checkpoint(app: &TestApp) {
    app.audit_log
        .checkpoint_now(baomi::service::now())
        .await
        .unwrap();
}

/// Runs the `baomi` binary with `args` (no configuration from the environment).
pub(crate) fn baomi(args: &[&str]) -> Output {
    crate::helpers::baomi_process().args(args).output().unwrap()
}

/// `baomi audit verify --database <url> --public-key <verifier>`.
fn verify_live(url: &str, verifier: &str) -> Output {
    verify_live_with(url, verifier, &[])
}

/// [`verify_live`] with `extra` arguments.
pub(crate) fn verify_live_with(url: &str, verifier: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "audit",
        "verify",
        "--database",
        url,
        "--public-key",
        verifier,
    ];
    args.extend_from_slice(extra);
    baomi(&args)
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The database URL the CLI should check.
pub(crate) fn database_url(app: &TestApp) -> String {
    app.db
        .url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", app.db.path().join("baomi.db").display()))
}

async fn export(app: &TestApp, officer: &str) -> String {
    let reply = app.get("/v1/audit/export", Some(officer)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "application/jsonl");
    reply.text
}

#[tokio::test]
async fn an_export_verifies_offline_and_names_an_edited_event() {
    let (app, officer, verifier) = trail(4).await;
    some_reads(&app, &app.create_key("service", &["kyc"]).await.1, 2).await;
    checkpoint(&app).await;
    let text = export(&app, &officer).await;
    assert!(!text.contains("13800138000"), "no value reaches the trail");

    let report = verify_export(text.as_bytes(), &verifier).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(
        report.checkpoints >= 2,
        "every checkpoint in range is checked"
    );
    let size = app
        .db
        .count("SELECT MAX(tree_size) FROM audit_checkpoints")
        .await;
    assert_eq!(report.leaves, size as u64);

    // The auditor's command: verifies, then fails on an edited line and names it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &text).unwrap();
    let path = file.to_str().unwrap();
    let ok = baomi(&["audit", "verify", path, "--public-key", &verifier]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("OK: the trail is intact"));

    let seq = app
        .db
        .count("SELECT MAX(seq) FROM audit_events WHERE action = 'decrypt'")
        .await;
    let edited: String = text
        .lines()
        .map(|line| {
            if line.contains(&format!("\"seq\":{seq},")) {
                line.replace("\"kyc\"", "\"aml\"")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(edited, text.trim_end());
    std::fs::write(&file, &edited).unwrap();
    let bad = baomi(&["audit", "verify", path, "--public-key", &verifier]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stdout(&bad).contains(&format!("FAIL seq {seq}: the event was edited")),
        "{}",
        stdout(&bad)
    );

    // The wrong key verifies nothing; a malformed key is an error, not a pass.
    let other = "baomi/audit+00000000+AQ==";
    assert!(
        !baomi(&["audit", "verify", path, "--public-key", other])
            .status
            .success()
    );

    // Only officers and admins export, and the export is itself in the trail.
    let (_, service) = app.create_key("service", &["kyc"]).await;
    app.get("/v1/audit/export", Some(&service))
        .await
        .assert_problem(403, "auth.forbidden");
    let exports = app
        .db
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'audit_read' AND body LIKE '%\"target\":\"export\"%'")
        .await;
    assert_eq!(exports, 1);
}

#[tokio::test]
async fn the_cli_exports_what_the_api_exports() {
    let (app, officer, verifier) = trail(3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cli.jsonl");
    let mut args = vec![
        "audit".to_owned(),
        "export".to_owned(),
        "--out".to_owned(),
        file.to_str().unwrap().to_owned(),
        "--data-dir".to_owned(),
        app.db.path().to_str().unwrap().to_owned(),
    ];
    if let Some(url) = &app.db.url {
        args.extend(["--database-url".to_owned(), url.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = baomi(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = std::fs::read_to_string(&file).unwrap();
    let report = verify_export(cli.as_bytes(), &verifier).unwrap();
    assert!(report.is_intact(), "{report:?}");
    // The same tree as the API's export of the same checkpoint.
    let api = export(&app, &officer).await;
    let first_lines = |t: &str| {
        t.lines()
            .take(report.leaves as usize + 1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(first_lines(&cli), first_lines(&api));
}

fn findings(report: &Report) -> String {
    report.findings.iter().map(|f| format!("{f}\n")).collect()
}

/// Someone with write access to the database gets past the append-only triggers of the
/// events, their leaves, the checkpoints and the signing keys.
pub(crate) async fn get_past_the_triggers(db: &crate::helpers::TestDb) {
    if db.url.is_some() {
        for table in [
            "audit_events",
            "audit_leaves",
            "audit_nodes",
            "audit_checkpoints",
            "audit_signing_keys",
        ] {
            db.execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
                .await;
        }
    } else {
        for t in [
            "audit_events_no_update",
            "audit_events_no_delete",
            "audit_leaves_no_update",
            "audit_leaves_no_delete",
            "audit_nodes_no_update",
            "audit_nodes_no_delete",
            "audit_checkpoints_no_update",
            "audit_checkpoints_no_delete",
            "audit_signing_keys_no_update",
            "audit_signing_keys_no_delete",
        ] {
            db.execute(&format!("DROP TRIGGER {t}")).await;
        }
    }
}

/// The sequence numbers of the decrypt events, in order. (Sorted here: PostgreSQL orders
/// by the output column, the text, where `ORDER BY seq` names both.)
async fn decrypt_seqs(app: &TestApp) -> Vec<i64> {
    let mut seqs: Vec<i64> = app
        .db
        .texts("SELECT CAST(seq AS TEXT) FROM audit_events WHERE action = 'decrypt'")
        .await
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs
}

#[tokio::test]
async fn a_query_column_edited_on_its_own_is_found_and_named() {
    let (app, officer, verifier) = trail(8).await;
    get_past_the_triggers(&app.db).await;
    let seqs = decrypt_seqs(&app).await;
    // The officer-query keys copied, as they are seconds after an append (the server's
    // indexer copies them in the background; done here, so that it cannot race the edits).
    while app.audit_log.store().index_events(1000).await.unwrap() > 0 {}
    // Each column an officer searches or an access log reads, edited on one event.
    let edits = [
        ("action", "action = 'key_create'"),
        ("subject", "subject = 'someone-else'"),
        ("actor", "actor = 'kzzzzzzzzzzzz'"),
        ("operator", "operator = 'agent-007'"),
        ("purpose", "purpose = 'aml'"),
        ("outcome", "outcome = 'denied'"),
        ("at_ms", "at_ms = at_ms + 1"),
    ];
    for ((_, set), seq) in edits.iter().zip(&seqs) {
        let changed = app
            .db
            .execute(&format!("UPDATE audit_events SET {set} WHERE seq = {seq}"))
            .await;
        assert_eq!(changed, 1);
    }

    let report = verify_store(app.audit_log.store().as_ref(), &verifier)
        .await
        .unwrap();
    let text = findings(&report);
    let expected: Vec<Finding> = edits
        .iter()
        .zip(&seqs)
        .map(|((column, _), seq)| Finding::ColumnEdited { seq: *seq, column })
        .collect();
    assert_eq!(report.findings, expected, "{text}");

    let live = verify_live(&database_url(&app), &verifier);
    assert_eq!(live.status.code(), Some(1));
    let out = stdout(&live);
    for ((column, _), seq) in edits.iter().zip(&seqs) {
        assert!(
            out.contains(&format!("FAIL seq {seq}: the {column} column was edited")),
            "{out}"
        );
    }

    // The officer API finds the event under the subject its text names (the edit does not
    // hide it), serves it as its text says, and names the edited column; the subject the
    // edit names finds nothing.
    let page = app.get("/v1/audit/events?subject=u1", Some(&officer)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let page = page.json();
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["seq"], seqs[1]);
    assert_eq!(events[0]["event"]["subject"], "u1");
    assert_eq!(events[0]["edited_columns"], serde_json::json!(["subject"]));
    let page = app
        .get("/v1/audit/events?subject=someone-else", Some(&officer))
        .await
        .json();
    assert_eq!(page["events"], serde_json::json!([]), "{page}");
    // The subject the edited column names does not see someone else's read in their
    // access log.
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let token = app.mint_token(&key, "someone-else").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = app.get("/v1/me/access-log", Some(&token)).await;
    assert_eq!(log.status, 200, "{}", log.text);
    let log = log.json();
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "decrypt"),
        "{log}"
    );
    // An event left alone (the eighth) says nothing of the kind.
    let page = app
        .get("/v1/audit/events?subject=u7", Some(&officer))
        .await
        .json();
    assert!(page["events"][0].get("edited_columns").is_none(), "{page}");
}

/// Someone holding the database cuts the newest events off together with their leaves and
/// the checkpoints that covered them: what remains verifies on its own, and only a
/// checkpoint kept outside the database (saved earlier, or a witness's) says so.
#[tokio::test]
async fn a_kept_checkpoint_catches_a_cut_the_trail_alone_does_not() {
    let (app, officer, verifier) = trail(4).await;
    let cut_at = app
        .db
        .count("SELECT MAX(tree_size) FROM audit_checkpoints")
        .await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    some_reads(&app, &key, 4).await;
    checkpoint(&app).await;
    let kept = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    let kept_size = kept["tree_size"].as_i64().unwrap();
    assert!(kept_size > cut_at);
    let kept_file = app.db.path().join("kept-checkpoint.txt");
    std::fs::write(&kept_file, kept["note"].as_str().unwrap()).unwrap();
    let url = database_url(&app);
    let kept_path = kept_file.to_str().unwrap();
    let against = |url: &str| verify_live_with(url, &verifier, &["--checkpoint", kept_path]);
    let before = against(&url);
    assert!(before.status.success(), "{}", stdout(&before));
    assert!(
        stdout(&before).contains(&format!(
            "the kept checkpoint of tree size {kept_size} holds"
        )),
        "{}",
        stdout(&before)
    );

    // The same check over the API, from the note alone: a proof from the kept tree to the
    // newest signed one, which the client checks itself.
    some_reads(&app, &key, 2).await;
    checkpoint(&app).await;
    let note_query = |note: &str| {
        let url = reqwest::Url::parse_with_params(
            "http://baomi/v1/audit/proofs/consistency",
            [("note", note)],
        )
        .unwrap();
        format!("{}?{}", url.path(), url.query().unwrap())
    };
    let kept_note = kept["note"].as_str().unwrap();
    let proof = app.get(&note_query(kept_note), Some(&officer)).await;
    assert_eq!(proof.status, 200, "{}", proof.text);
    let proof = proof.json();
    let newest = proof["checkpoint"].as_str().unwrap();
    let newest = baomi_audit::checkpoint::verify(newest, &verifier).unwrap();
    assert_eq!(proof["from"], kept_size);
    assert_eq!(proof["to"], newest.size);
    assert!(newest.size > kept_size as u64);
    assert!(baomi_audit::merkle::verify_consistency(
        kept_size as u64,
        newest.size,
        &hash(&kept["root"]),
        &newest.root,
        &hashes(&proof["proof"])
    ));
    // A note the log signed over other events than those it holds now: history was
    // rewritten since (here the log's own key signs a root the tree never had).
    let rewritten = app.audit_log.signing_keys().with_signer(|s| {
        s.sign(&baomi_audit::checkpoint::Checkpoint {
            origin: app.audit_log.origin().to_owned(),
            size: kept_size as u64,
            root: [7; 32],
        })
        .unwrap()
    });
    let refused = app
        .get(&note_query(&rewritten), Some(&officer))
        .await
        .assert_problem(409, "audit.not_extended");
    assert!(
        refused["detail"].as_str().unwrap().starts_with(&format!(
            "the kept checkpoint of size {kept_size} does not match the trail: its first \
                 {kept_size} events (through seq "
        )),
        "{refused}"
    );
    // A note the log did not sign is refused as such, naming no value.
    let forged = kept_note.replace(&kept["tree_size"].to_string(), "1");
    app.get(&note_query(&forged), Some(&officer))
        .await
        .assert_problem(422, "request.invalid_field");

    let (db, admin) = app.stop().await;
    get_past_the_triggers(&db).await;
    for statement in [
        format!("DELETE FROM audit_leaves WHERE leaf_index >= {cut_at}"),
        "DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) FROM audit_leaves)".to_owned(),
        format!("DELETE FROM audit_checkpoints WHERE tree_size > {cut_at}"),
        // The stored subtree hashes over the leaves removed, so that the log goes on
        // appending as though nothing had been there.
        format!(
            "DELETE FROM audit_nodes WHERE (node_index + 1) * (1 << CAST(level AS INTEGER)) > {cut_at}"
        ),
    ] {
        db.execute(&statement).await;
    }
    let alone = verify_live(&url, &verifier);
    assert!(
        alone.status.success(),
        "the trail alone: {}",
        stdout(&alone)
    );
    let caught = against(&url);
    assert_eq!(caught.status.code(), Some(1), "{}", stdout(&caught));
    assert!(
        stdout(&caught).contains(&format!(
            "FAIL the kept checkpoint covers {kept_size} events but the trail holds {cut_at}: \
             the events from leaf {cut_at} on were removed"
        )),
        "{}",
        stdout(&caught)
    );
    // The API, on the cut database, says the same of the kept note.
    let app = TestApp::start(db, admin).await;
    let refused = app
        .get(&note_query(kept_note), Some(&officer))
        .await
        .assert_problem(409, "audit.not_extended");
    // (The restarted server has appended events of its own since the cut.)
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "the kept checkpoint covers {kept_size} events but the trail holds "
        )),
        "{refused}"
    );
}

#[tokio::test]
async fn signed_checkpoints_are_append_only() {
    let (app, _officer, _verifier) = trail(1).await;
    for statement in [
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_checkpoints SET note = 'forged'",
    ] {
        let refused = app.db.try_execute(statement).await;
        let error = refused.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{error}");
    }
    assert!(app.db.count("SELECT COUNT(*) FROM audit_checkpoints").await >= 1);
}

#[tokio::test]
async fn tampering_with_the_database_is_found_and_located() {
    let (app, _officer, verifier) = trail(8).await;
    let store = app.audit_log.store();
    let report = verify_store(store.as_ref(), &verifier).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    let url = database_url(&app);
    let live = verify_live(&url, &verifier);
    assert!(live.status.success(), "{}", stdout(&live));

    get_past_the_triggers(&app.db).await;
    let seqs = decrypt_seqs(&app).await;
    let (edited, deleted, swapped, rewritten) = (seqs[1], seqs[3], (seqs[5], seqs[6]), seqs[7]);

    // An edit.
    app.db
        .execute(&format!(
            "UPDATE audit_events SET body = replace(body, 'kyc', 'aml') WHERE seq = {edited}"
        ))
        .await;
    // A deletion, of the event and its leaf.
    app.db
        .execute(&format!("DELETE FROM audit_leaves WHERE seq = {deleted}"))
        .await;
    app.db
        .execute(&format!("DELETE FROM audit_events WHERE seq = {deleted}"))
        .await;
    // A reordering: two events swap places.
    let (a, b) = swapped;
    let bodies = app
        .db
        .texts(&format!(
            "SELECT body FROM audit_events WHERE seq IN ({a}, {b}) ORDER BY seq"
        ))
        .await;
    let quote = |s: &str| s.replace('\'', "''");
    app.db
        .execute(&format!(
            "UPDATE audit_events SET body = '{}' WHERE seq = {a}",
            quote(&bodies[1])
        ))
        .await;
    app.db
        .execute(&format!(
            "UPDATE audit_events SET body = '{}' WHERE seq = {b}",
            quote(&bodies[0])
        ))
        .await;
    // A careful rewrite: the event and its leaf hash both changed.
    let body = app
        .db
        .texts(&format!(
            "SELECT body FROM audit_events WHERE seq = {rewritten}"
        ))
        .await
        .remove(0)
        .replace("kyc", "aml");
    let hex = data_encoding::HEXUPPER.encode(&leaf_hash(body.as_bytes()));
    let blob = if app.db.url.is_some() {
        format!("'\\x{hex}'::bytea")
    } else {
        format!("X'{hex}'")
    };
    app.db
        .execute(&format!(
            "UPDATE audit_events SET body = '{}' WHERE seq = {rewritten}",
            quote(&body)
        ))
        .await;
    app.db
        .execute(&format!(
            "UPDATE audit_leaves SET hash = {blob} WHERE seq = {rewritten}"
        ))
        .await;
    // An insertion.
    app.db
        .execute("INSERT INTO audit_events (at_ms, action, body) VALUES (1, 'decrypt', '{}')")
        .await;
    let inserted = app.db.count("SELECT MAX(seq) FROM audit_events").await;

    let report = verify_store(store.as_ref(), &verifier).await.unwrap();
    let text = findings(&report);
    assert!(!report.is_intact());
    for expected in [
        Finding::Edited { seq: edited },
        Finding::Edited { seq: a },
        Finding::Edited { seq: b },
        Finding::NotInTree { seq: inserted },
    ] {
        assert!(
            report.findings.contains(&expected),
            "{expected:?} not in\n{text}"
        );
    }
    assert!(
        report.findings.iter().any(
            |f| matches!(f, Finding::Gap { missing: 1, before_seq, .. } if *before_seq > deleted)
        ),
        "{text}"
    );
    // The rewrite is caught by the signed checkpoint, within the range it covers.
    assert!(
        report.findings.iter().any(|f| matches!(f,
            Finding::CheckpointMismatch { after_seq, through_seq: Some(through), .. }
                if after_seq.is_none_or(|s| s < rewritten) && *through >= rewritten)),
        "{text}"
    );

    let live = verify_live(&url, &verifier);
    assert_eq!(live.status.code(), Some(1));
    let out = stdout(&live);
    assert!(
        out.contains(&format!("FAIL seq {edited}: the event was edited")),
        "{out}"
    );
    assert!(
        out.contains(&format!("FAIL seq {inserted}: the event was inserted")),
        "{out}"
    );
}

#[tokio::test]
async fn retention_prunes_bodies_and_keeps_every_proof_valid() {
    let (app, officer, verifier) = trail(3).await;
    let before = app.db.count("SELECT COUNT(*) FROM audit_events").await;
    let seq = app
        .db
        .count("SELECT MIN(seq) FROM audit_events WHERE action = 'decrypt'")
        .await;

    // Nothing is old enough yet; 181 days from now, everything is.
    let now = baomi::service::now_ms();
    assert_eq!(app.audit_log.prune(now, 180).await.unwrap(), 0);
    let later = now + 181 * 86_400_000;
    let pruned = app.audit_log.prune(later, 180).await.unwrap();
    assert_eq!(pruned, before as u64);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_events WHERE pruned_at IS NOT NULL AND body = '' AND subject IS NULL AND actor IS NULL")
            .await,
        before
    );

    // The proof of a pruned event still holds, through its leaf hash.
    let proof = app
        .get(&format!("/v1/audit/events/{seq}"), Some(&officer))
        .await;
    assert_eq!(proof.status, 200, "{}", proof.text);
    let proof: Value = proof.json();
    assert_eq!(proof["pruned"], true);
    assert!(proof.get("event").is_none());
    let root = hash(&app.get("/v1/audit/checkpoint", Some(&officer)).await.json()["root"]);
    assert!(verify_inclusion(
        proof["leaf_index"].as_u64().unwrap(),
        proof["tree_size"].as_u64().unwrap(),
        &hash(&proof["leaf_hash"]),
        &hashes(&proof["proof"]),
        &root
    ));

    // Pruned events leave the officer's queries; the export and the store still verify.
    let page = app
        .get("/v1/audit/events?action=decrypt", Some(&officer))
        .await
        .json();
    assert_eq!(page["events"].as_array().unwrap().len(), 0);
    checkpoint(&app).await;
    let report = verify_export(export(&app, &officer).await.as_bytes(), &verifier).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.pruned, before as u64);
    // Checked as at the time of the pruning: every pruned event was old enough.
    let keys = [baomi_audit::verify::TrustedKey::current(&verifier)];
    let as_then = baomi_audit::verify::Outside {
        now_ms: Some(later),
        ..Default::default()
    };
    let report = verify_store_extending(app.audit_log.store().as_ref(), &keys, &as_then)
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    // Checked today, the same events were pruned too young: so the check says.
    let today = verify_store(app.audit_log.store().as_ref(), &verifier)
        .await
        .unwrap();
    assert!(
        today
            .findings
            .iter()
            .any(|f| matches!(f, Finding::PrunedEarly { seq: s, .. } if *s == seq)),
        "{today:?}"
    );

    // Pruning is the only change the database allows, once, and only whole.
    for sql in [
        format!("UPDATE audit_events SET body = '{{}}' WHERE seq = {seq}"),
        format!("UPDATE audit_events SET pruned_at = NULL WHERE seq = {seq}"),
        "UPDATE audit_events SET body = '', pruned_at = 1 WHERE pruned_at IS NULL".to_owned(),
        format!("DELETE FROM audit_events WHERE seq = {seq}"),
    ] {
        assert!(app.db.try_execute(&sql).await.is_err(), "{sql}");
    }
}

/// The database lets a pruning through that states a pruning time 180 days after the
/// event, whenever it is done: someone with write access could blank yesterday's reads that
/// way. `baomi audit verify --database` checks the event's age against its own clock and
/// names it.
#[tokio::test]
async fn an_event_pruned_before_its_time_is_found() {
    let (app, _officer, verifier) = trail(3).await;
    let seq = decrypt_seqs(&app).await[1];
    let forged = app
        .db
        .execute(&format!(
            "UPDATE audit_events SET body = '', pruned_at = at_ms + 15552000001, \
             subject = NULL, actor = NULL, operator = NULL, purpose = NULL WHERE seq = {seq}"
        ))
        .await;
    assert_eq!(forged, 1, "the append-only triggers let it through");
    let caught = verify_live(&database_url(&app), &verifier);
    assert_eq!(caught.status.code(), Some(1), "{}", stdout(&caught));
    assert!(
        stdout(&caught).contains(&format!(
            "FAIL seq {seq}: its text was removed although it is younger than the shortest \
             retention of 180 days"
        )),
        "{}",
        stdout(&caught)
    );
}

#[tokio::test]
async fn checkpoints_stay_consistent_across_a_restart() {
    let (app, officer, verifier) = trail(3).await;
    let before = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    let app = app.restart().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    some_reads(&app, &key, 2).await;
    checkpoint(&app).await;
    let after = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    assert_eq!(
        after["verifier_key"], verifier,
        "the same signing key after a restart"
    );
    let (from, to) = (
        before["tree_size"].as_u64().unwrap(),
        after["tree_size"].as_u64().unwrap(),
    );
    assert!(to > from);
    let proof = app
        .get(
            &format!("/v1/audit/proofs/consistency?from={from}&to={to}"),
            Some(&officer),
        )
        .await
        .json();
    assert!(baomi_audit::merkle::verify_consistency(
        from,
        to,
        &hash(&before["root"]),
        &hash(&after["root"]),
        &hashes(&proof["proof"])
    ));
    let report = verify_store(app.audit_log.store().as_ref(), &verifier)
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
}

/// With `audit.signature_algorithms = ["ed25519", "sm2"]`, every checkpoint carries both
/// signatures, and the auditor's command and a receipt check accept the SM2 key alone.
#[tokio::test]
async fn checkpoints_and_receipts_are_signed_with_sm2_beside_ed25519() {
    use baomi::config::SignatureSetting;
    let app = crate::helpers::spawn_app_with(|c| {
        c.audit.signature_algorithms = vec![SignatureSetting::Ed25519, SignatureSetting::Sm2];
    })
    .await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    some_reads(&app, &key, 3).await;
    checkpoint(&app).await;
    let view = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    let keys = view["verifier_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{view}");
    assert_eq!(keys[0]["algorithm"], "ed25519");
    assert_eq!(keys[1]["algorithm"], "sm2");
    assert_eq!(view["verifier_key"], keys[0]["key"]);
    let sm2 = keys[1]["key"].as_str().unwrap().to_owned();
    let note = view["note"].as_str().unwrap();
    assert_eq!(note.matches('\u{2014}').count(), 2, "{note}");
    assert_eq!(
        baomi_audit::checkpoint::verify(note, &sm2).unwrap().size,
        view["tree_size"].as_u64().unwrap()
    );

    // The auditor's command checks the export with the SM2 key alone, and finds an edit.
    let text = export(&app, &officer).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &text).unwrap();
    let path = file.to_str().unwrap();
    let ok = baomi(&["audit", "verify", path, "--public-key", &sm2]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    std::fs::write(&file, text.replacen("\"kyc\"", "\"aml\"", 1)).unwrap();
    let bad = baomi(&["audit", "verify", path, "--public-key", &sm2]);
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    let live = verify_live(&database_url(&app), &sm2);
    assert!(live.status.success(), "{}", stdout(&live));
}

/// An SM2-only deployment: one signature line, by the SM2 key, which the live check
/// accepts.
#[tokio::test]
async fn an_sm2_only_deployment_signs_with_sm2_alone() {
    use baomi::config::SignatureSetting;
    let app = crate::helpers::spawn_app_with(|c| {
        c.audit.signature_algorithms = vec![SignatureSetting::Sm2];
    })
    .await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    some_reads(&app, &key, 2).await;
    checkpoint(&app).await;
    let view = app.get("/v1/audit/checkpoint", Some(&officer)).await.json();
    let primary = view["verifier_key"].as_str().unwrap();
    assert_eq!(
        baomi_audit::checkpoint::verifier_key_algorithm(primary).unwrap(),
        baomi_types::SignatureAlgorithm::Sm2
    );
    let note = view["note"].as_str().unwrap();
    assert_eq!(note.matches('\u{2014}').count(), 1, "{note}");
    assert!(baomi_audit::checkpoint::verify(note, primary).is_ok());
    let live = verify_live(&database_url(&app), primary);
    assert!(live.status.success(), "{}", stdout(&live));
}
