//! HTTPS and mutual TLS end to end, with certificates made here (rcgen): keys bound to a
//! client certificate, the certificate's identity in the trail, the console without one,
//! and certificates replaced on disk served without a restart.

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
