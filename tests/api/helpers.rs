//! `spawn_app()`: Baomi in this process on `127.0.0.1:0`, on a fresh database.

use std::net::SocketAddr;
use std::path::PathBuf;

use baomi::config::Config;
use baomi_vault::KdfParams;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The passphrase every test store is sealed with.
pub const PASSPHRASE: &str = "test passphrase, never for production";

/// argon2id at its cheapest accepted setting, to keep tests quick.
pub fn fast_kdf() -> KdfParams {
    KdfParams {
        m_cost_kib: 8 * 1024,
        t_cost: 1,
        p_cost: 1,
    }
}

/// The PostgreSQL URL under test, if the suite runs on PostgreSQL. With
/// `REQUIRE_POSTGRES=1` (CI's PostgreSQL pass) a missing URL fails the test instead of
/// quietly running it on SQLite.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_POSTGRES=1 and no TEST_DATABASE_URL: this pass must run on PostgreSQL");
    }
    url
}

/// The PostgreSQL URL for a test that runs on PostgreSQL only. Such a test is marked
/// `#[ignore = "PostgreSQL only: …"]`, so that the SQLite pass counts it as ignored, not
/// passed; the PostgreSQL pass includes ignored tests (`TEST_DATABASE_URL=… cargo test --
/// --include-ignored`). Run without a database, it fails: it never passes by doing nothing.
pub fn postgres_only() -> String {
    postgres_url().unwrap_or_else(|| {
        panic!("this test runs on PostgreSQL only and none is set: set TEST_DATABASE_URL")
    })
}

/// Runs `$body` with `$q` (the SQL) and `$conn` (a new connection to the test database of
/// `$db`, PostgreSQL or SQLite).
macro_rules! on_raw_connection {
    ($db:expr, $sql:expr, |$q:ident, $conn:ident| $body:expr) => {{
        use sqlx::Connection;
        let $q = sqlx::AssertSqlSafe($sql.to_owned());
        match &$db.url {
            Some(url) => {
                let mut $conn = sqlx::PgConnection::connect(url).await.unwrap();
                $body
            }
            None => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename($db.dir.path().join("baomi.db"));
                let mut $conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                $body
            }
        }
    }};
}

/// A fresh, empty database for one test.
pub struct TestDb {
    /// The URL Baomi should use; `None` means SQLite in the data directory.
    pub url: Option<String>,
    /// The data directory.
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A new database: a new schema on PostgreSQL, or a new directory for SQLite.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = match postgres_url() {
            None => None,
            Some(base) => Some(new_pg_schema(&base).await),
        };
        Self { url, dir }
    }

    /// On PostgreSQL, a new database of its own (not a schema in the shared one), for what
    /// works on whole databases: `pg_dump`, `pg_restore`. Drop it with
    /// [`TestDb::drop_pg_database`]. `None` on SQLite.
    pub async fn new_pg_database() -> Option<Self> {
        use sqlx::Connection;
        let base = postgres_url()?;
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        let name = format!("t_{}", random_suffix());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = reqwest::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        Some(Self {
            url: Some(url.to_string()),
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// Drops the database [`TestDb::new_pg_database`] made.
    pub async fn drop_pg_database(self) {
        use sqlx::Connection;
        let (Some(base), Some(url)) = (postgres_url(), &self.url) else {
            return;
        };
        let name = reqwest::Url::parse(url)
            .unwrap()
            .path()
            .trim_start_matches('/')
            .to_owned();
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }

    /// A configuration for this database.
    pub fn config(&self) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: self.dir.path().to_path_buf(),
            database_url: self.url.clone(),
            database_max_connections: 4,
            unseal_passphrase: Some(SecretString::from(PASSPHRASE)),
            kdf: fast_kdf(),
            ..Config::default()
        }
    }

    /// The data directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Reads one integer from this database behind Baomi's back.
    pub async fn count(&self, sql: &str) -> i64 {
        on_raw_connection!(self, sql, |q, conn| sqlx::query_scalar(q)
            .fetch_one(&mut conn)
            .await
            .unwrap())
    }

    /// Reads text rows from this database behind Baomi's back.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        on_raw_connection!(self, sql, |q, conn| sqlx::query_scalar(q)
            .fetch_all(&mut conn)
            .await
            .unwrap())
    }

    /// Runs one SQL statement behind Baomi's back and reports whether the database took it.
    pub async fn try_execute(&self, sql: &str) -> Result<u64, String> {
        on_raw_connection!(self, sql, |q, conn| sqlx::query(q)
            .execute(&mut conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string()))
    }

    /// Runs one SQL statement on this database behind Baomi's back (to corrupt, or to
    /// stage a restore); returns the rows affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        on_raw_connection!(self, sql, |q, conn| sqlx::query(q)
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected())
    }
}

/// Creates a schema with a random name and returns a URL whose connections use it.
async fn new_pg_schema(base: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    let schema = format!("t_{}", random_suffix());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

fn random_suffix() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A running Baomi.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub admin_key: String,
    /// The vault behind the server, for what has no HTTP call (background maintenance).
    pub vault: std::sync::Arc<baomi_vault::Vault>,
    /// The audit trail's Merkle log, to integrate on demand instead of waiting a second.
    pub audit_log: std::sync::Arc<baomi::service::audit_log::AuditLog>,
    /// The app's database (and data directory, which lives as long as the app).
    pub db: TestDb,
    /// Dropping the sender (with the app) stops the server gracefully.
    _shutdown: oneshot::Sender<()>,
    /// The server's task, which ends once it has stopped.
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Baomi on a fresh database with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Baomi on `db`, a fresh database.
pub async fn spawn_app_on(db: TestDb) -> TestApp {
    let config = db.config();
    spawn_on(db, &config, None).await
}

/// Baomi on a fresh database, with `adjust` applied to the configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new().await;
    let mut config = db.config();
    adjust(&mut config);
    spawn_on(db, &config, None).await
}

impl TestApp {
    /// Stops this server (gracefully, as on SIGTERM) and starts a new one on its database.
    pub async fn restart(self) -> TestApp {
        let (db, admin_key) = self.stop().await;
        TestApp::start(db, admin_key).await
    }

    /// Stops this server and hands back its database and admin key.
    pub async fn stop(self) -> (TestDb, String) {
        let TestApp {
            db,
            admin_key,
            _shutdown,
            server,
            ..
        } = self;
        drop(_shutdown);
        // The server has finished its shutdown (its last checkpoint, the store closed)
        // before anything else touches the database.
        server
            .await
            .expect("the server task ended without panicking")
            .expect("the server stopped cleanly");
        (db, admin_key)
    }

    /// Starts a server on a database an earlier one used.
    pub async fn start(db: TestDb, admin_key: String) -> TestApp {
        TestApp::start_with(db, admin_key, |_| {}).await
    }

    /// [`TestApp::start`] with `adjust` applied to the configuration.
    pub async fn start_with(
        db: TestDb,
        admin_key: String,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        let mut config = db.config();
        adjust(&mut config);
        spawn_on(db, &config, Some(admin_key)).await
    }
}

/// Another Baomi node serving the same database as a [`TestApp`] (PostgreSQL: several
/// nodes share one database); it stops when dropped.
pub struct OtherNode {
    pub addr: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

impl OtherNode {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl TestApp {
    /// A second node on this app's database.
    pub async fn other_node(&self) -> OtherNode {
        self.other_node_with(|_| {}).await
    }

    /// [`Self::other_node`] with `adjust` applied to its configuration.
    pub async fn other_node_with(&self, adjust: impl FnOnce(&mut Config)) -> OtherNode {
        let mut config = self.db.config();
        adjust(&mut config);
        let opened = baomi::server::open(&config, false).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(baomi::server::serve(listener, opened, None, async {
            let _ = rx.await;
        }));
        OtherNode {
            addr,
            _shutdown: tx,
        }
    }
}

/// Serves `config` on `db`; `admin_key` is the bootstrap key of an earlier start, if any.
async fn spawn_on(db: TestDb, config: &Config, admin_key: Option<String>) -> TestApp {
    let opened = baomi::server::open(config, false).await.unwrap();
    let admin_key = admin_key.unwrap_or_else(|| {
        opened
            .bootstrap_admin_key
            .as_ref()
            .expect("a fresh database prints a bootstrap key")
            .expose_secret()
            .to_owned()
    });
    let vault = std::sync::Arc::clone(&opened.vault);
    let audit_log = std::sync::Arc::clone(&opened.audit_log);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(baomi::server::serve(listener, opened, None, async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: crate::helpers::client(),
        admin_key,
        vault,
        audit_log,
        db,
        _shutdown: tx,
        server,
    }
}

/// An HTTP client builder. reqwest is built with rustls and no default cryptographic
/// provider: this installs Baomi's (ring) first, as the server does.
pub fn client_builder() -> reqwest::ClientBuilder {
    baomi::server::tls::install_crypto_provider();
    reqwest::Client::builder()
}

/// An HTTP client with the defaults.
pub fn client() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    /// Asserts this is a problem response with `status` and `code`, of the documented shape.
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(
            self.headers.get_all("content-type").iter().count(),
            1,
            "one Content-Type: {:?}",
            self.headers
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{}", self.text);
        assert_eq!(body["status"], status);
        assert_eq!(body["type"], format!("urn:baomi:problem:{code}"));
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
        let request_id = body["request_id"].as_str().expect("request_id");
        assert_eq!(self.headers["x-request-id"], request_id);
        for leak in ["panicked", "sqlx", "src/", "backtrace", "Error {"] {
            assert!(!self.text.contains(leak), "internals in {}", self.text);
        }
        body
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with an optional bearer credential and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.call(Method::GET, path, bearer, None).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, bearer, Some(body)).await
    }

    /// Creates a key with the admin key; returns (id, secret). A service key gets every
    /// permission and both views under each purpose, and the masking roles the tests use;
    /// each purpose not yet declared is declared first (contract basis, every built-in PI
    /// type as a category). Tests of least privilege make their keys with [`Self::create_key_with`].
    pub async fn create_key(&self, role: &str, purposes: &[&str]) -> (String, String) {
        for p in purposes {
            self.declare_purpose_if_missing(p).await;
        }
        let body = if role == "service" {
            json!({
                "name": "service key",
                "role": role,
                "grants": purposes
                    .iter()
                    .map(|p| json!({"purpose": p, "views": ["masked", "plain"]}))
                    .collect::<Vec<_>>(),
                "permissions": ALL_PERMISSIONS,
                "masking_roles": ["service", "cs_agent", "analyst", "auditor"],
            })
        } else {
            json!({"name": format!("{role} key"), "role": role, "purposes": purposes})
        };
        self.create_key_with(body).await
    }

    /// Creates a key from a whole `POST /v1/keys` body; returns (id, secret).
    pub async fn create_key_with(&self, body: Value) -> (String, String) {
        let reply = self.post("/v1/keys", Some(&self.admin_key), body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let body = reply.json();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Declares `purpose` (contract basis, every built-in PI type) unless it is declared.
    pub async fn declare_purpose_if_missing(&self, purpose: &str) {
        let listed = self.get("/v1/purposes", Some(&self.admin_key)).await.json();
        let known = listed["purposes"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["id"] == purpose));
        if !known {
            let r = self
                .call(
                    Method::PUT,
                    &format!("/v1/purposes/{purpose}"),
                    Some(&self.admin_key),
                    Some(contract_purpose()),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    }

    /// Rotates the `default` keyring with the admin key (a new KEK version).
    pub async fn rotate_default_keyring(&self) -> Reply {
        self.call(
            Method::POST,
            "/v1/keyrings/default/rotate",
            Some(&self.admin_key),
            None,
        )
        .await
    }

    /// Mints a subject token with a service key; returns the whole reply body.
    pub async fn mint_token(&self, service_key: &str, subject: &str) -> Value {
        let reply = self
            .post(
                "/v1/subject-tokens",
                Some(service_key),
                json!({"subject_id": subject}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }
}

/// Every permission a service key can hold.
pub const ALL_PERMISSIONS: [&str; 5] = [
    "store_data",
    "erase_subjects",
    "mint_subject_tokens",
    "record_consent",
    "self_service",
];

/// Every built-in PI type, as purpose categories.
pub const ALL_CATEGORIES: [&str; 10] = [
    "id_number",
    "mobile",
    "landline",
    "bank_card",
    "name",
    "email",
    "address",
    "passport",
    "birth_date",
    "text",
];

/// A purpose on a contract basis (no consent asked) that covers every built-in PI type.
pub fn contract_purpose() -> Value {
    json!({
        "description": "a purpose of the tests",
        "legal_basis": "contract",
        "categories": ALL_CATEGORIES
            .iter()
            .map(|c| json!({"name": c, "sensitive": false, "level": "C2"}))
            .collect::<Vec<_>>(),
        "retention_days": 365,
    })
}

/// Sends a request and reads the whole response.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    read(request.send().await.unwrap()).await
}

/// Reads a whole response.
pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        text,
    }
}

/// The `baomi` binary, with none of the test process's own `BAOMI_` settings.
pub fn baomi_process() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_baomi"));
    for (key, _) in std::env::vars() {
        if key.starts_with("BAOMI_") {
            command.env_remove(key);
        }
    }
    command
}

/// A port nothing listens on now, for a process of its own to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 100 ms until it holds; fails after 30 s, naming `what`.
pub async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed().as_secs() < 30, "{what} within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
