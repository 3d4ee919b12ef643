//! HTTPS and mutual TLS end to end, with certificates made here (rcgen): keys bound to a
//! client certificate, the certificate's identity in the trail, the console and subject
//! tokens without one, certificates replaced on disk served without a restart, and the
//! `baomi` process reloading on SIGHUP and closing handshakes that never start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::{Reply, TestDb, client_builder, read};

/// A certificate authority made for a test.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

/// A certificate with its key, in PEM.
pub struct Leaf {
    pub cert: String,
    pub key: String,
    /// SHA-256 of its SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Leaf {
        self.leaf(
            "baomi",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate for `name` at Example Pay.
    fn client(&self, name: &str) -> Leaf {
        self.leaf(name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "CN");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example Pay");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap().pem();
        let spki = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        Leaf {
            cert,
            key: key.serialize_pem(),
            spki_sha256: data_encoding::HEXLOWER.encode(spki.as_ref()),
        }
    }
}

/// A Baomi serving HTTPS on 127.0.0.1; it stops when dropped.
struct HttpsApp {
    base: String,
    admin: String,
    dir: PathBuf,
    _db: TestDb,
    _stop: oneshot::Sender<()>,
}

/// Writes the server's certificate and key where the configuration names them.
fn install(dir: &Path, server: &Leaf) {
    std::fs::write(dir.join("server.key"), &server.key).unwrap();
    std::fs::write(dir.join("server.pem"), &server.cert).unwrap();
}

/// Serves HTTPS with `server`'s certificate, and client certificates signed by
/// `client_ca` if given; the files are checked every second.
async fn start(server: &Leaf, client_ca: Option<&Ca>) -> HttpsApp {
    let db = TestDb::new().await;
    let dir = db.path().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    install(&dir, server);
    let mut config = db.config();
    config.tls.cert_file = Some(dir.join("server.pem"));
    config.tls.key_file = Some(dir.join("server.key"));
    if let Some(ca) = client_ca {
        std::fs::write(dir.join("clients.pem"), &ca.pem).unwrap();
        config.tls.client_ca_file = Some(dir.join("clients.pem"));
    }
    config.tls.reload_check_secs = 1;
    // Long enough that an idle connection outlives a reload.
    config.connections.header_read_timeout_secs = 120;
    let https = baomi::server::https(&config, false).unwrap();
    assert!(https.is_some(), "certificates configured: HTTPS");
    let opened = baomi::server::open(&config, false).await.unwrap();
    let admin = opened
        .bootstrap_admin_key
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(baomi::server::serve(listener, opened, https, async {
        let _ = stopped.await;
    }));
    HttpsApp {
        base,
        admin,
        dir,
        _db: db,
        _stop: stop,
    }
}

/// A client that trusts `ca` only, presenting `identity` if given.
fn client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap()]);
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert, leaf.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

impl HttpsApp {
    async fn call(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }
}

#[tokio::test]
async fn mutual_tls_binds_keys_to_certificates_and_names_them_in_the_trail() {
    let platform = Ca::new("Example Pay client CA");
    let server_ca = Ca::new("Example Pay server CA");
    let app = start(&server_ca.server(), Some(&platform)).await;
    let payments = platform.client("payments");
    let reports = platform.client("reports");
    let stranger = Ca::new("Somebody else").client("payments");
    let get = reqwest::Method::GET;

    // Without a certificate: public routes and the console answer; an API key does not.
    let bare = client(&server_ca, None);
    let health = bare.get(format!("{}/healthz", app.base)).send().await;
    assert_eq!(health.unwrap().status(), 200);
    let signin = bare
        .get(format!("{}/console/signin", app.base))
        .send()
        .await;
    assert_eq!(
        signin.unwrap().status(),
        200,
        "the console needs no certificate"
    );
    app.call(&bare, get.clone(), "/v1/keys", &app.admin, None)
        .await
        .assert_problem(401, "auth.client_certificate_required");

    // A certificate the platform's CA signed lets the key in.
    let as_payments = client(&server_ca, Some(&payments));
    let keys = app
        .call(&as_payments, get.clone(), "/v1/keys", &app.admin, None)
        .await;
    assert_eq!(keys.status, 200, "{}", keys.text);

    // One another CA signed does not get past the handshake.
    let as_stranger = client(&server_ca, Some(&stranger));
    let refused = as_stranger
        .get(format!("{}/v1/keys", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await;
    assert!(refused.is_err(), "an unknown CA's certificate is refused");

    // A key bound to one certificate's public key needs that certificate.
    let created = app
        .call(
            &as_payments,
            reqwest::Method::POST,
            "/v1/keys",
            &app.admin,
            Some(json!({"name": "reports officer", "role": "officer",
                "client_certificate": {"spki_sha256": reports.spki_sha256.to_uppercase()}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = created.json();
    assert_eq!(
        created["client_certificate"],
        json!({"spki_sha256": reports.spki_sha256}),
        "{created}"
    );
    let officer = created["secret"].as_str().unwrap().to_owned();
    let officer_id = created["id"].as_str().unwrap().to_owned();
    for client in [&bare, &as_payments] {
        app.call(client, get.clone(), "/v1/audit/events", &officer, None)
            .await
            .assert_problem(401, "auth.client_certificate_required");
    }
    let as_reports = client(&server_ca, Some(&reports));
    let events = app
        .call(&as_reports, get.clone(), "/v1/audit/events", &officer, None)
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    // A wrong secret with the right certificate is still a wrong key, and says nothing of
    // the binding.
    let wrong = format!("bm_{officer_id}_{}", "A".repeat(43));
    app.call(&as_reports, get.clone(), "/v1/audit/events", &wrong, None)
        .await
        .assert_problem(401, "auth.invalid_key");

    // A subject token is the platform's app speaking for one person, with no certificate
    // of its own: it needs none, while the key that minted it does.
    let purpose = app
        .call(
            &as_payments,
            reqwest::Method::PUT,
            "/v1/purposes/account",
            &app.admin,
            Some(crate::helpers::contract_purpose()),
        )
        .await;
    assert_eq!(purpose.status, 200, "{}", purpose.text);
    let service = app
        .call(
            &as_payments,
            reqwest::Method::POST,
            "/v1/keys",
            &app.admin,
            Some(json!({"name": "app backend", "role": "service",
                "grants": [{"purpose": "account", "views": ["masked"]}],
                "permissions": ["mint_subject_tokens", "self_service"]})),
        )
        .await;
    assert_eq!(service.status, 201, "{}", service.text);
    let service = service.json()["secret"].as_str().unwrap().to_owned();
    let mint = json!({"subject_id": "u1"});
    app.call(
        &bare,
        reqwest::Method::POST,
        "/v1/subject-tokens",
        &service,
        Some(mint.clone()),
    )
    .await
    .assert_problem(401, "auth.client_certificate_required");
    let minted = app
        .call(
            &as_payments,
            reqwest::Method::POST,
            "/v1/subject-tokens",
            &service,
            Some(mint),
        )
        .await;
    assert_eq!(minted.status, 201, "{}", minted.text);
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    let me = app.call(&bare, get.clone(), "/v1/me", &token, None).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["subject_id"], "u1", "{}", me.text);

    // The trail names the certificate each call came with.
    let page = app
        .call(
            &as_reports,
            get.clone(),
            &format!("/v1/audit/events?actor={officer_id}"),
            &officer,
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let page = page.json();
    let searches: Vec<&Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["action"] == "audit_read")
        .collect();
    assert!(!searches.is_empty(), "{page}");
    for event in searches {
        assert_eq!(
            event["actor"]["certificate"],
            json!({"subject": "C=CN, O=Example Pay, CN=reports",
                   "spki_sha256": reports.spki_sha256}),
            "{event}"
        );
    }
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let (old_ca, new_ca) = (Ca::new("old server CA"), Ca::new("new server CA"));
    let app = start(&old_ca.server(), None).await;
    let healthz = format!("{}/healthz", app.base);
    let trusting_old = client(&old_ca, None);
    assert_eq!(
        trusting_old.get(&healthz).send().await.unwrap().status(),
        200
    );

    install(&app.dir, &new_ca.server());
    let trusting_new = client(&new_ca, None);
    let mut served = false;
    for _ in 0..100 {
        if trusting_new.get(&healthz).send().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the new certificate was not picked up within 10 s");
    assert!(
        client(&old_ca, None).get(&healthz).send().await.is_err(),
        "new connections get the new certificate"
    );
    // The connection opened before the reload was not dropped.
    assert_eq!(
        trusting_old.get(&healthz).send().await.unwrap().status(),
        200
    );

    // A broken file is not loaded: the certificate in use stays.
    std::fs::write(app.dir.join("server.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        client(&new_ca, None)
            .get(&healthz)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A client trusting `ca` only that opens a connection per request: the process below
/// closes idle connections after one second, and a pooled one may close as it is reused.
fn fresh_client(ca: &Ca) -> reqwest::Client {
    client_builder()
        .pool_max_idle_per_host(0)
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

/// The value of the sample `name` (with its labels, as Prometheus writes them) in a
/// scrape, if the scrape has it.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

/// The `baomi serve` process over HTTPS, its certificate files polled only once a day: a
/// SIGHUP reloads them at once, a file that does not load is refused and counted while the
/// certificate in use stays, and a connection that never starts its handshake is closed
/// after the header timeout and counted.
#[tokio::test]
async fn the_https_process_reloads_on_sighup_and_times_out_silent_handshakes() {
    let (old_ca, new_ca) = (Ca::new("old server CA"), Ca::new("new server CA"));
    let db = TestDb::new().await;
    let dir = db.path().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    install(&dir, &old_ca.server());
    let port = crate::helpers::free_port();
    let mut command = tokio::process::Command::from(crate::helpers::baomi_process());
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(db.path())
        .env_remove("TEST_DATABASE_URL")
        .env("BAOMI_UNSEAL_PASSPHRASE", crate::helpers::PASSPHRASE)
        .env("BAOMI_KDF__M_COST_KIB", "8192")
        .env("BAOMI_KDF__T_COST", "1")
        .env("BAOMI_TLS__CERT_FILE", dir.join("server.pem"))
        .env("BAOMI_TLS__KEY_FILE", dir.join("server.key"))
        .env("BAOMI_TLS__RELOAD_CHECK_SECS", "86400")
        .env("BAOMI_CONNECTIONS__HEADER_READ_TIMEOUT_SECS", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = &db.url {
        command.env("BAOMI_DATABASE_URL", url);
    }
    let mut child = command.spawn().unwrap();
    let pid = child.id().unwrap().to_string();
    let base = format!("https://127.0.0.1:{port}");
    let answers = async |ca: &Ca| {
        fresh_client(ca)
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    };
    crate::helpers::until("the process serves HTTPS", async || answers(&old_ca).await).await;
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };

    install(&dir, &new_ca.server());
    hangup();
    crate::helpers::until("the new certificate after SIGHUP", async || {
        answers(&new_ca).await
    })
    .await;
    assert!(
        !answers(&old_ca).await,
        "new connections get the new certificate"
    );

    let scrape = async || {
        fresh_client(&new_ca)
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let failed = r#"baomi_tls_reloads_total{result="failed"}"#;
    assert_eq!(sample(&scrape().await, failed), None, "nothing failed yet");
    std::fs::write(dir.join("server.pem"), "not a certificate").unwrap();
    hangup();
    crate::helpers::until("the failed reload counted", async || {
        sample(&scrape().await, failed) == Some(1.0)
    })
    .await;
    assert!(answers(&new_ca).await, "the certificate in use stays");

    // A connection that says nothing is closed after the header timeout (one second), and
    // the handshake that never was is counted.
    let handshakes = "baomi_tls_handshakes_failed_total";
    let before = sample(&scrape().await, handshakes).unwrap_or(0.0);
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    assert!(
        crate::connections::closed_within(&mut silent, Duration::from_secs(5)).await,
        "a silent handshake is closed within the header timeout"
    );
    crate::helpers::until("the silent handshake counted", async || {
        sample(&scrape().await, handshakes).unwrap_or(0.0) > before
    })
    .await;
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    child.kill().await.unwrap();
}
