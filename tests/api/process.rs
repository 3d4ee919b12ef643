//! The `baomi` binary itself: start-up on an empty directory, restart, wrong passphrase,
//! `--dev`, graceful stop, and what it writes to its logs.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{PASSPHRASE, TestDb, read, send};

/// A `baomi serve` process with its output captured.
pub(crate) struct Process {
    child: Child,
    pub(crate) base: String,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

fn command(db: &TestDb, passphrase: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baomi"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(db.path())
        .env_remove("TEST_DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("BAOMI_LOG_FORMAT", "json")
        .env("BAOMI_LOG_LEVEL", "debug")
        .env("BAOMI_KDF__M_COST_KIB", "8192")
        .env("BAOMI_KDF__T_COST", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("BAOMI_")
            && !key.starts_with("BAOMI_KDF")
            && !key.starts_with("BAOMI_LOG")
        {
            cmd.env_remove(key);
        }
    }
    // Plain HTTP on purpose (the HTTPS tests are in tls.rs); `plain_http_needs_a_reason`
    // starts without this.
    cmd.env("BAOMI_TLS__ENABLED", "false");
    match passphrase {
        Some(p) => cmd.env("BAOMI_UNSEAL_PASSPHRASE", p),
        None => cmd.env_remove("BAOMI_UNSEAL_PASSPHRASE"),
    };
    if let Some(url) = &db.url {
        cmd.env("BAOMI_DATABASE_URL", url);
    }
    cmd
}

fn collect<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    stream: R,
    into: std::sync::Arc<std::sync::Mutex<String>>,
    addr_tx: Option<tokio::sync::oneshot::Sender<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        let mut addr_tx = addr_tx;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(tx) = addr_tx.take_if(|_| line.contains("baomi is serving")) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                let _ = tx.send(v["addr"].as_str().unwrap().to_owned());
            }
            let mut all = into.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
}

impl Process {
    /// Starts `baomi serve` and waits until it listens.
    pub(crate) async fn start(db: &TestDb, passphrase: Option<&str>, extra: &[&str]) -> Self {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = command(db, passphrase, &args).spawn().unwrap();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        collect(child.stdout.take().unwrap(), stdout.clone(), Some(tx));
        collect(child.stderr.take().unwrap(), stderr.clone(), None);
        let addr = match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!(
                "baomi did not start.\nstdout:\n{}\nstderr:\n{}",
                stdout.lock().unwrap(),
                stderr.lock().unwrap()
            ),
        };
        Self {
            child,
            base: format!("http://{addr}"),
            stdout,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// The bootstrap admin key printed on standard error, if any.
    pub(crate) fn bootstrap_key(&self) -> Option<String> {
        bootstrap_keys(&self.stderr()).into_iter().next()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub(crate) async fn stop(self) -> (String, String) {
        let pid = self.child.id().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        self.stop_after_signal().await
    }

    /// Kills it with SIGKILL, as a power cut or the OOM killer would, and waits until it
    /// is gone.
    pub(crate) async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let exit = self.child.wait().await.unwrap();
        assert!(!exit.success(), "killed, not exited: {exit:?}");
    }

    /// Waits for a clean exit after a signal was sent.
    async fn stop_after_signal(mut self) -> (String, String) {
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("baomi stops within 20 s of SIGTERM")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(exit.success(), "exit status {exit:?}\n{}", self.stderr());
        (self.stdout(), self.stderr())
    }
}

fn bootstrap_keys(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("bm_") && w.len() > 40)
        .map(str::to_owned)
        .collect()
}

pub(crate) async fn post(
    base: &str,
    path: &str,
    key: &str,
    body: serde_json::Value,
) -> crate::helpers::Reply {
    let client = crate::helpers::client();
    send(
        client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body),
    )
    .await
}

/// Creates a key as `admin` and returns its secret.
pub(crate) async fn new_key(base: &str, admin: &str, body: serde_json::Value) -> String {
    let created = post(base, "/v1/keys", admin, body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.json()["secret"].as_str().unwrap().to_owned()
}

/// Declares the purpose `kyc` (contract basis, every built-in PI type): a key holds declared
/// purposes only.
pub(crate) async fn declare_kyc(base: &str, admin: &str) {
    let r = send(
        crate::helpers::client()
            .put(format!("{base}/v1/purposes/kyc"))
            .bearer_auth(admin)
            .json(&crate::helpers::contract_purpose()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

pub(crate) async fn get(base: &str, path: &str, key: Option<&str>) -> crate::helpers::Reply {
    let mut req = crate::helpers::client().get(format!("{base}{path}"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn starts_on_an_empty_directory_and_restarts_with_its_state() {
    let db = TestDb::new().await;
    let first = Process::start(&db, Some(PASSPHRASE), &[]).await;
    assert_eq!(get(&first.base, "/healthz", None).await.status, 200);
    assert_eq!(get(&first.base, "/readyz", None).await.status, 200);
    let openapi = get(&first.base, "/openapi.json", None).await;
    assert_eq!(openapi.status, 200);
    assert!(openapi.json()["paths"]["/v1/keys"].is_object());
    let admin = first.bootstrap_key().expect("bootstrap key on stderr");
    declare_kyc(&first.base, &admin).await;
    let service = new_key(
        &first.base,
        &admin,
        json!({"name": "svc", "role": "service", "purposes": ["kyc"],
            "permissions": ["mint_subject_tokens"]}),
    )
    .await;
    assert!(
        format!("{}{}", first.stdout(), first.stderr()).contains("cryptographic self-test passed"),
        "the self-test runs before anything is unsealed"
    );
    first.stop().await;

    let second = Process::start(&db, Some(PASSPHRASE), &[]).await;
    assert_eq!(
        second.bootstrap_key(),
        None,
        "the bootstrap key is printed only once"
    );
    let list = get(&second.base, "/v1/keys", Some(&admin)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["keys"].as_array().unwrap().len(), 2);
    let minted = post(
        &second.base,
        "/v1/subject-tokens",
        &service,
        json!({"subject_id": "u1"}),
    )
    .await;
    assert_eq!(
        minted.status, 201,
        "keys made before the restart still work"
    );
    second.stop().await;
}

#[tokio::test]
async fn a_wrong_passphrase_refuses_to_start_and_changes_nothing() {
    let db = TestDb::new().await;
    let first = Process::start(&db, Some(PASSPHRASE), &[]).await;
    let admin = first.bootstrap_key().unwrap();
    first.stop().await;

    let output = command(
        &db,
        Some("an entirely different passphrase"),
        &["serve", "--listen", "127.0.0.1:0"],
    )
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not open the root key"), "{stderr}");
    assert!(!stderr.contains("an entirely different passphrase"));
    assert!(bootstrap_keys(&stderr).is_empty());

    let again = Process::start(&db, Some(PASSPHRASE), &[]).await;
    assert_eq!(get(&again.base, "/v1/keys", Some(&admin)).await.status, 200);
    again.stop().await;
}

#[tokio::test]
async fn plain_http_needs_a_reason() {
    let db = TestDb::new().await;
    for listen in ["127.0.0.1:0", "0.0.0.0:0"] {
        let output = command(&db, Some(PASSPHRASE), &["serve", "--listen", listen])
            .env_remove("BAOMI_TLS__ENABLED")
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{listen}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("tls.cert_file"), "{stderr}");
        assert!(stderr.contains("tls.enabled = false"), "{stderr}");
    }
    // --dev on every address is not loopback.
    let output = command(&db, None, &["serve", "--dev", "--listen", "0.0.0.0:0"])
        .env_remove("BAOMI_TLS__ENABLED")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    // Nothing was initialised by a start that could not listen.
    assert!(!db.path().join("dev-unseal-passphrase").exists());
}

#[tokio::test]
async fn without_a_passphrase_it_refuses_unless_dev() {
    let db = TestDb::new().await;
    let output = command(&db, None, &["serve", "--listen", "127.0.0.1:0"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no unseal passphrase"), "{stderr}");

    let dev = Process::start(&db, None, &["--dev"]).await;
    let file = db.path().join("dev-unseal-passphrase");
    assert!(file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(dev.stdout().contains("DEVELOPMENT MODE"));
    let admin = dev.bootstrap_key().unwrap();
    dev.stop().await;
    let dev_again = Process::start(&db, None, &["--dev"]).await;
    assert_eq!(
        get(&dev_again.base, "/v1/keys", Some(&admin)).await.status,
        200
    );
    dev_again.stop().await;
}

#[tokio::test]
async fn short_passphrases_are_refused_for_a_new_store() {
    let db = TestDb::new().await;
    let output = command(&db, Some("short"), &["init"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 12 characters"));
}

#[tokio::test]
async fn init_and_offline_key_commands() {
    let db = TestDb::new().await;
    let init = command(&db, Some(PASSPHRASE), &["init"])
        .output()
        .await
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let admin = bootstrap_keys(&String::from_utf8_lossy(&init.stderr))
        .pop()
        .unwrap();

    let create = command(
        &db,
        Some(PASSPHRASE),
        &["keys", "create", "--name", "ops", "--role", "officer"],
    )
    .output()
    .await
    .unwrap();
    assert!(
        create.status.success(),
        "{}",
        String::from_utf8_lossy(&create.stderr)
    );
    let officer = String::from_utf8_lossy(&create.stdout).trim().to_owned();
    assert!(officer.starts_with("bm_"));

    let list = command(&db, Some(PASSPHRASE), &["keys", "list"])
        .output()
        .await
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("officer\tactive\tops"));
    assert!(!listed.contains("bm_"), "lists never show secrets");

    let wrong = command(&db, Some("not the passphrase at all"), &["keys", "list"])
        .output()
        .await
        .unwrap();
    assert!(!wrong.status.success());

    let server = Process::start(&db, Some(PASSPHRASE), &[]).await;
    assert_eq!(
        get(&server.base, "/v1/keys", Some(&admin)).await.status,
        200
    );
    get(&server.base, "/v1/keys", Some(&officer))
        .await
        .assert_problem(403, "auth.forbidden");
    server.stop().await;

    // A key bound offline to a client certificate's public key: the secret alone does not
    // get in, and the binding is listed with the key.
    let spki = "ab".repeat(32);
    let bound = command(
        &db,
        Some(PASSPHRASE),
        &[
            "keys",
            "create",
            "--name",
            "bound",
            "--role",
            "officer",
            "--client-spki-sha256",
            &spki.to_uppercase(),
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(
        bound.status.success(),
        "{}",
        String::from_utf8_lossy(&bound.stderr)
    );
    let bound = String::from_utf8_lossy(&bound.stdout).trim().to_owned();
    let server = Process::start(&db, Some(PASSPHRASE), &[]).await;
    get(&server.base, "/v1/audit/events", Some(&bound))
        .await
        .assert_problem(401, "auth.client_certificate_required");
    let keys = get(&server.base, "/v1/keys", Some(&admin)).await.json();
    let listed = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "bound")
        .cloned()
        .unwrap();
    assert_eq!(listed["client_certificate"], json!({"spki_sha256": spki}));
    server.stop().await;
}

/// Drives the server with secrets and PI-like values in every place they could leak from,
/// then scans everything it wrote.
#[tokio::test]
async fn logs_never_contain_secrets_or_personal_information() {
    let db = TestDb::new().await;
    let server = Process::start(&db, Some(PASSPHRASE), &[]).await;
    let base = server.base.clone();
    let admin = server.bootstrap_key().unwrap();
    let client = crate::helpers::client();

    declare_kyc(&base, &admin).await;
    let service = new_key(
        &base,
        &admin,
        json!({"name": "svc", "role": "service",
            "grants": [{"purpose": "kyc", "views": ["masked", "plain"]}],
            "permissions": ["mint_subject_tokens", "record_consent"]}),
    )
    .await;
    let minted = post(
        &base,
        "/v1/subject-tokens",
        &service,
        json!({"subject_id": "u1"}),
    )
    .await
    .json();
    let token = minted["token"].as_str().unwrap().to_owned();
    assert_eq!(get(&base, "/v1/me", Some(&token)).await.status, 200);

    let pi = [
        "110101199003077777",
        "13800138000",
        "6222021234567890123",
        "zhang.san@example.cn",
    ];
    let mut replies = Vec::new();
    replies.push(
        post(
            &base,
            "/v1/keys",
            &admin,
            json!({"name": pi[1], "role": pi[0]}),
        )
        .await,
    );
    replies.push(
        post(
            &base,
            "/v1/keys",
            &admin,
            json!({"name": "x", "role": "service", "purposes": [format!("{}X", pi[2])]}),
        )
        .await,
    );
    replies.push(
        post(
            &base,
            "/v1/subject-tokens",
            &service,
            json!({"subject_id": pi[3]}),
        )
        .await,
    );
    replies.push(get(&base, &format!("/v1/keys?card={}", pi[2]), Some(&admin)).await);
    replies.push(
        send(
            client
                .delete(format!("{base}/v1/keys/{}", pi[0]))
                .bearer_auth(&admin),
        )
        .await,
    );
    replies.push(
        send(
            client
                .get(format!("{base}/v1/keys"))
                .header("authorization", format!("Bearer {}", pi[1])),
        )
        .await,
    );
    replies.push(
        send(
            client
                .get(format!("{base}/v1/keys"))
                .bearer_auth(&admin)
                .header("x-baomi-operator", format!("{}\tx", pi[3])),
        )
        .await,
    );
    replies.push(
        post(
            &base,
            "/v1/subject-tokens/revoke",
            &service,
            json!({"token": format!("bmst_{}", pi[0])}),
        )
        .await,
    );
    // Consent and rights requests: a purpose refused with PI in it, a grant refused with PI
    // as evidence, a read refused by consent, a request whose note is PI.
    replies.push(
        send(
            client
                .put(format!("{base}/v1/purposes/kyc"))
                .bearer_auth(&admin)
                .json(&json!({"description": pi[3], "legal_basis": "consent", "categories": [], "retention_days": 30})),
        )
        .await,
    );
    let purpose = send(
        client
            .put(format!("{base}/v1/purposes/kyc"))
            .bearer_auth(&admin)
            .json(&json!({"description": "identity checks", "legal_basis": "consent",
                "categories": [{"name": "id_number", "sensitive": false, "level": "C3"}], "retention_days": 30})),
    )
    .await;
    assert_eq!(purpose.status, 200, "{}", purpose.text);
    replies.push(
        post(
            &base,
            "/v1/subjects/u1/consents",
            &service,
            json!({"purpose": "kyc", "channel": "", "evidence": pi[2]}),
        )
        .await,
    );
    let sealed = post(
        &base,
        "/v1/encrypt",
        &service,
        json!({"items": [{"subject_id": "u1", "field": "id_number", "value": pi[0]}]}),
    )
    .await;
    replies.push(
        post(
            &base,
            "/v1/decrypt",
            &service,
            json!({"purpose": "kyc", "view": "plain", "items": [{"subject_id": "u1", "field": "id_number",
                "ciphertext": sealed.json()["items"][0]["ciphertext"]}]}),
        )
        .await,
    );
    replies.push(
        post(
            &base,
            "/v1/me/requests",
            &token,
            json!({"kind": "correction", "note": format!("my mobile is {}", pi[1])}),
        )
        .await,
    );
    assert_eq!(replies.last().unwrap().status, 201);
    let metrics = get(&base, "/metrics", None).await.text;

    let (stdout, stderr) = server.stop().await;
    assert!(
        stdout.contains("\"route\":\"/v1/keys\""),
        "the access log was captured"
    );
    // Whole credentials, and their secret parts alone (after `bm_<id>_`, after the token's `.`).
    let token_tag = token.rsplit('.').next().unwrap().to_owned();
    let mut secrets = vec![
        PASSPHRASE.to_owned(),
        admin[17..].to_owned(),
        service[17..].to_owned(),
        token.clone(),
        token_tag,
    ];
    secrets.extend(pi.iter().map(|s| (*s).to_owned()));
    for secret in &secrets {
        assert!(!stdout.contains(secret.as_str()), "logs contain {secret}");
        assert!(
            !metrics.contains(secret.as_str()),
            "metrics contain {secret}"
        );
        for reply in &replies {
            assert!(
                !reply.text.contains(secret.as_str()),
                "a reply echoes {secret}: {}",
                reply.text
            );
        }
    }
    // Standard error holds the one-time bootstrap key display and nothing else secret.
    assert_eq!(stderr.matches(admin.as_str()).count(), 1);
    for secret in secrets.iter().filter(|s| !admin.ends_with(s.as_str())) {
        assert!(
            !stderr.contains(secret.as_str()),
            "stderr contains {secret}"
        );
    }
}

/// A request still arriving when SIGTERM comes is finished and answered, and what it
/// created is there after a restart.
#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::new().await;
    let server = Process::start(&db, Some(PASSPHRASE), &[]).await;
    let admin = server.bootstrap_key().unwrap();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = json!({"name": "in flight", "role": "officer"}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);

    // One request answered on the connection first: the server has taken it, so it is in
    // flight from here on.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answered = [0u8; 1024];
    let n = stream.read(&mut answered).await.unwrap();
    assert!(answered[..n].starts_with(b"HTTP/1.1 200"));
    let request = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();

    let pid = server.child.id().unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    // The shutdown has begun once the server takes no new connection.
    crate::helpers::until("the listener closes", async || {
        tokio::net::TcpStream::connect(&addr).await.is_err()
    })
    .await;
    stream.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let (stdout, _) = server.stop_after_signal().await;
    assert!(stdout.contains("shutting down"));

    let again = Process::start(&db, Some(PASSPHRASE), &[]).await;
    let list = get(&again.base, "/v1/keys", Some(&admin)).await;
    assert!(list.text.contains("in flight"), "{}", list.text);
    again.stop().await;
}

#[tokio::test]
async fn crypto_self_test_reports_every_algorithm() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_baomi"))
        .args(["crypto", "self-test"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // Every algorithm Baomi uses, each once, with the crate that implements it.
    let expected = [
        ("AES-256-GCM ", "RustCrypto aes-gcm"),
        ("AES-256-GCM (root-key sealing)", "ring"),
        ("SM4-GCM", "RustCrypto sm4"),
        ("AES-256-SIV", "RustCrypto aes-siv"),
        ("HMAC-SHA256", "ring"),
        ("HKDF-SHA256", "ring"),
        ("SM3 ", "RustCrypto sm3"),
        ("HMAC-SM3", "RustCrypto hmac + sm3"),
        ("HKDF-SM3", "RustCrypto hkdf + sm3"),
        ("Argon2id", "RustCrypto argon2"),
        ("SHA-256", "ring"),
        ("Ed25519", "ring"),
        ("SM2 signature", "RustCrypto sm2"),
    ];
    let results: Vec<&str> = text.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(results.len(), expected.len(), "{text}");
    for (algorithm, implementation) in expected {
        assert!(
            results
                .iter()
                .any(|l| l[5..].starts_with(algorithm) && l.contains(implementation)),
            "{algorithm}: {text}"
        );
    }
    assert!(
        text.contains("all 13 algorithms gave their known answers"),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
}
