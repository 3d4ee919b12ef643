//! Alert rules over the trail (bulk access, off-hours reads, denial spikes) with their
//! webhook, and a subject's own access log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::audit::some_reads;
use crate::helpers::{TestApp, read, spawn_app, spawn_app_with};

/// Waits until the alert rules have evaluated every event appended so far; the alerts.
pub(crate) async fn alerts_after_evaluation(app: &TestApp, officer: &str) -> Vec<Value> {
    let target = app.db.count("SELECT MAX(seq) FROM audit_events").await;
    for _ in 0..200 {
        let page = app.get("/v1/audit/alerts", Some(officer)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let page = page.json();
        if page["evaluated_through_seq"].as_i64().unwrap() >= target {
            return page["alerts"].as_array().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the alert rules did not reach seq {target}");
}

/// What a webhook received: each request's signature header and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver over plain HTTP on loopback.
async fn receiver() -> (String, Received) {
    let (app, got) = hook();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// A webhook receiver over HTTPS with `certificate`.
async fn https_receiver(certificate: &crate::tls::Leaf) -> (String, Received) {
    use rustls::pki_types::pem::PemObject;
    let (app, got) = hook();
    let chain = rustls::pki_types::CertificateDer::pem_slice_iter(certificate.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(certificate.key.as_bytes()).unwrap();
    // The provider the server builds rustls with (see `install_crypto_provider`).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("https://{addr}/hook"), got)
}

/// The receiver's routes and what they were sent.
fn hook() -> (axum::Router, Received) {
    let got: Received = Arc::default();
    let sink = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let signature = headers
                    .get("x-baomi-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                sink.lock().unwrap().push((signature, body.to_vec()));
                "ok"
            }
        }),
    );
    (app, got)
}

/// Raises one bulk-access alert on an app whose webhook is `url`, trusting `ca` for its
/// https; whether the webhook received it within 5 s.
async fn alert_reaches(url: String, ca: &crate::tls::Ca, received: &Received) -> bool {
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), &ca.pem).unwrap();
    let path = ca_file.path().to_path_buf();
    let app = spawn_app_with(|c| {
        c.audit.alerts.bulk_max_subjects = 1;
        c.audit.alerts.evaluate_every_ms = 20;
        c.audit.alerts.webhook_url = Some(url);
        c.audit.alerts.webhook_ca_file = Some(path);
    })
    .await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    some_reads(&app, &key, 2).await;
    assert_eq!(alerts_after_evaluation(&app, &officer).await.len(), 1);
    for _ in 0..100 {
        if !received.lock().unwrap().is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_webhook_goes_over_https_to_a_certificate_it_verifies() {
    let platform = crate::tls::Ca::new("platform internal CA");
    let (url, received) = https_receiver(&platform.server()).await;
    assert!(alert_reaches(url, &platform, &received).await);

    let impostor = crate::tls::Ca::new("impostor CA");
    let (url, received) = https_receiver(&impostor.server()).await;
    assert!(
        !alert_reaches(url, &platform, &received).await,
        "a certificate no trusted CA signed gets nothing"
    );
}

#[tokio::test]
async fn bulk_access_fires_past_its_threshold_and_reaches_the_webhook() {
    let (url, received) = receiver().await;
    let app = spawn_app_with(|c| {
        c.audit.alerts.bulk_max_subjects = 3;
        c.audit.alerts.evaluate_every_ms = 20;
        c.audit.alerts.webhook_url = Some(url);
        c.audit.alerts.webhook_secret = Some("hook-secret".to_owned().into());
    })
    .await;
    let (key_id, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;

    some_reads(&app, &key, 3).await;
    assert_eq!(
        alerts_after_evaluation(&app, &officer).await,
        Vec::<Value>::new(),
        "three subjects is the threshold"
    );

    // A fourth subject within the window.
    let c = app
        .post(
            "/v1/encrypt",
            Some(&key),
            json!({"items": [{"subject_id": "u9", "field": "mobile", "value": "13800138000"}]}),
        )
        .await
        .json()["items"][0]["ciphertext"]
        .clone();
    app.post("/v1/decrypt", Some(&key), json!({"purpose": "kyc", "items": [{"subject_id": "u9", "field": "mobile", "ciphertext": c}]}))
        .await;
    let alerts = alerts_after_evaluation(&app, &officer).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "bulk_access");
    assert_eq!(alerts[0]["key"], format!("actor:{key_id}"));
    assert_eq!(alerts[0]["detail"]["distinct_subjects"], 4);
    assert_eq!(alerts[0]["detail"]["threshold"], 3);

    // Delivered once, signed with the configured secret.
    for _ in 0..200 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (signature, body) = received.lock().unwrap()[0].clone();
    let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"hook-secret");
    let expected = data_encoding::HEXLOWER.encode(ring::hmac::sign(&hmac, &body).as_ref());
    assert_eq!(signature, format!("sha256={expected}"));
    let delivered: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(delivered["id"], alerts[0]["id"]);
    // The delivery is recorded once the receiver has answered, a moment after it got it.
    let mut delivered_rows = 0;
    for _ in 0..200 {
        delivered_rows = app
            .db
            .count("SELECT COUNT(*) FROM audit_alerts WHERE delivered_at IS NOT NULL")
            .await;
        if delivered_rows > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(delivered_rows, 1);

    // Only officers and admins see alerts; bad paging is refused.
    app.get("/v1/audit/alerts", Some(&key))
        .await
        .assert_problem(403, "auth.forbidden");
    app.get("/v1/audit/alerts?limit=0", Some(&officer))
        .await
        .assert_problem(422, "request.invalid_field");
}

/// Office hours that exclude (or include) the present minute, at UTC.
fn office_hours(include_now: bool) -> String {
    let minute = (baomi::service::now() / 60).rem_euclid(1440);
    let (start, end) = if include_now {
        ((minute + 1440 - 60) % 1440, (minute + 60) % 1440)
    } else {
        ((minute + 120) % 1440, (minute + 180) % 1440)
    };
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        start / 60,
        start % 60,
        end / 60,
        end % 60
    )
}

#[tokio::test]
async fn off_hours_reads_and_denial_spikes_raise_alerts() {
    let app = spawn_app_with(|c| {
        c.audit.alerts.office_hours = Some(office_hours(false));
        c.audit.alerts.utc_offset_minutes = 0;
        c.audit.alerts.denial_max = 2;
        c.audit.alerts.evaluate_every_ms = 20;
    })
    .await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    let (_, officer) = app.create_key("officer", &[]).await;
    some_reads(&app, &key, 1).await;
    for _ in 0..2 {
        let r = app
            .post("/v1/decrypt", Some(&key), json!({"purpose": "marketing", "items": [{"subject_id": "u0", "field": "mobile", "ciphertext": "bm:v1:x"}]}))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    let rules = |alerts: &[Value]| -> Vec<String> {
        let mut r: Vec<String> = alerts
            .iter()
            .map(|a| a["rule"].as_str().unwrap().to_owned())
            .collect();
        r.sort();
        r
    };
    // One off-hours alert for the key (once an hour), no spike at two refusals.
    assert_eq!(
        rules(&alerts_after_evaluation(&app, &officer).await),
        ["off_hours"]
    );
    app.post("/v1/decrypt", Some(&key), json!({"purpose": "marketing", "items": [{"subject_id": "u0", "field": "mobile", "ciphertext": "bm:v1:x"}]}))
        .await;
    assert_eq!(
        rules(&alerts_after_evaluation(&app, &officer).await),
        ["denial_spike", "off_hours"]
    );

    // Within office hours, the same reads raise nothing.
    let quiet = spawn_app_with(|c| {
        c.audit.alerts.office_hours = Some(office_hours(true));
        c.audit.alerts.utc_offset_minutes = 0;
        c.audit.alerts.evaluate_every_ms = 20;
    })
    .await;
    let (_, key) = quiet.create_key("service", &["kyc"]).await;
    let (_, officer) = quiet.create_key("officer", &[]).await;
    some_reads(&quiet, &key, 2).await;
    assert!(alerts_after_evaluation(&quiet, &officer).await.is_empty());
}

async fn decrypt_as(app: &TestApp, key: &str, operator: &str, subject: &str) {
    let c = app
        .post("/v1/encrypt", Some(key), json!({"items": [{"subject_id": subject, "field": "id_number", "value": "110101199003074573"}]}))
        .await
        .json()["items"][0]["ciphertext"]
        .clone();
    let reply = read(
        app.client
            .post(app.url("/v1/decrypt"))
            .bearer_auth(key)
            .header("x-baomi-operator", operator)
            .json(&json!({"purpose": "kyc", "items": [{"subject_id": subject, "field": "id_number", "ciphertext": c}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn a_subject_sees_who_read_their_data_and_nobody_elses() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("service", &["kyc"]).await;
    decrypt_as(&app, &key, "agent-7", "alice").await;
    decrypt_as(&app, &key, "agent-7", "alice").await;
    decrypt_as(&app, &key, "agent-8", "alice").await;
    decrypt_as(&app, &key, "agent-7", "bob").await;

    let token = app.mint_token(&key, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app.get("/v1/me/access-log?limit=500", Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(!reply.text.contains("110101199003074573") && !reply.text.contains("agent-"));
    let entries = reply.json()["entries"].as_array().unwrap().clone();
    let reads: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "decrypt")
        .collect();
    assert_eq!(reads.len(), 3, "{entries:?}");
    for e in &reads {
        assert_eq!(e["purpose"], "kyc");
        assert_eq!(e["accessor"], "service");
        assert_eq!(e["fields"], json!(["id_number"]));
        assert_eq!(e["outcome"], "allowed");
    }
    // Newest first; the same operator has the same pseudonym, another a different one.
    let ops: Vec<&str> = reads
        .iter()
        .map(|e| e["operator"].as_str().unwrap())
        .collect();
    assert!(ops.iter().all(|o| o.starts_with("op-")));
    assert_eq!(ops[1], ops[2]);
    assert_ne!(ops[0], ops[1]);

    // Paging by cursor.
    let first = app
        .get("/v1/me/access-log?limit=1", Some(&token))
        .await
        .json();
    let cursor = first["next_cursor"].as_i64().unwrap();
    let second = app
        .get(
            &format!("/v1/me/access-log?limit=1&cursor={cursor}"),
            Some(&token),
        )
        .await
        .json();
    assert_eq!(second["entries"].as_array().unwrap().len(), 1);

    // API keys cannot use it; bad paging is refused.
    app.get("/v1/me/access-log", Some(&key))
        .await
        .assert_problem(403, "auth.forbidden");
    app.get("/v1/me/access-log?limit=501", Some(&token))
        .await
        .assert_problem(422, "request.invalid_field");
    app.get("/v1/me/access-log?subject=bob", Some(&token))
        .await
        .assert_problem(400, "request.invalid_query");

    // Configured to show operators as they are.
    let raw =
        spawn_app_with(|c| c.audit.subject_view_operator = baomi::config::OperatorDisplay::Raw)
            .await;
    let (_, key) = raw.create_key("service", &["kyc"]).await;
    decrypt_as(&raw, &key, "agent-7", "alice").await;
    let token = raw.mint_token(&key, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = raw.get("/v1/me/access-log", Some(&token)).await.json();
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["operator"] == "agent-7")
    );
}
