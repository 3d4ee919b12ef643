//! Health, readiness, metrics, the OpenAPI document and the reference page.

use std::collections::BTreeSet;

use crate::helpers::{spawn_app, spawn_app_with};

/// Every route the server has, as (method, path). Routes are only ever added through
/// `utoipa_axum`'s `OpenApiRouter` (see `app::routes`), so the document and the router come
/// from one list; this test pins that list and checks that each entry is really served.
const ROUTES: &[(&str, &str)] = &[
    ("put", "/v1/policies/{name}"),
    ("get", "/v1/policies/{name}"),
    ("get", "/v1/policies"),
    ("post", "/v1/detect"),
    ("post", "/v1/mask"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys"),
    ("delete", "/v1/keys/{id}"),
    ("put", "/v1/keys/{id}/grants"),
    ("post", "/v1/keys/{id}/quota-raises"),
    ("delete", "/v1/keys/{id}/quota-raises/{purpose}"),
    ("post", "/v1/subject-tokens"),
    ("post", "/v1/subject-tokens/revoke"),
    ("get", "/v1/me"),
    ("post", "/v1/encrypt"),
    ("post", "/v1/decrypt"),
    ("post", "/v1/rewrap"),
    ("delete", "/v1/subjects/{id}"),
    ("get", "/v1/subjects/{id}/erasure-certificate"),
    ("put", "/v1/subjects/{id}/data"),
    ("get", "/v1/subjects/{id}/data"),
    ("post", "/v1/store"),
    ("post", "/v1/detokenize"),
    ("post", "/v1/search"),
    ("get", "/v1/audit/checkpoint"),
    ("get", "/v1/audit/events"),
    ("get", "/v1/audit/events/{seq}"),
    ("get", "/v1/audit/proofs/inclusion"),
    ("get", "/v1/audit/keys"),
    ("post", "/v1/audit/keys/rotate"),
    ("get", "/v1/audit/proofs/consistency"),
    ("get", "/v1/audit/export"),
    ("get", "/v1/audit/alerts"),
    ("get", "/v1/me/access-log"),
    ("put", "/v1/purposes/{id}"),
    ("get", "/v1/purposes"),
    ("post", "/v1/subjects/{id}/consents"),
    ("get", "/v1/subjects/{id}/consents"),
    ("delete", "/v1/subjects/{id}/consents/{purpose}"),
    ("get", "/v1/me/consents"),
    ("post", "/v1/me/consents"),
    ("delete", "/v1/me/consents/{purpose}"),
    ("post", "/v1/consent/decisions"),
    ("get", "/v1/consent/receipts/{id}"),
    ("put", "/v1/notices/{id}"),
    ("get", "/v1/field-catalogue"),
    ("put", "/v1/field-catalogue"),
    ("post", "/v1/me/requests"),
    ("get", "/v1/me/requests"),
    ("get", "/v1/me/export"),
    ("get", "/v1/requests"),
    ("get", "/v1/requests/{id}"),
    ("post", "/v1/requests/{id}/approve"),
    ("post", "/v1/requests/{id}/close"),
    ("post", "/v1/keyrings"),
    ("get", "/v1/keyrings"),
    ("get", "/v1/keyrings/{name}"),
    ("patch", "/v1/keyrings/{name}"),
    ("post", "/v1/keyrings/{name}/rotate"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
];

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["checks"]["database"], "ok");
    assert_eq!(ready.json()["checks"]["root_key"], "unsealed");
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            listed.insert((method.clone(), path.clone()));
        }
    }
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(listed, expected);
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Every listed route is served: none answers 404 or 405 from the router.
    for (method, path) in ROUTES {
        let path = path
            .replace("{id}", "aaaaaaaaaaaaa")
            .replace("{name}", "default")
            .replace("{seq}", "1")
            .replace("{purpose}", "marketing");
        let reply = app
            .call(method.to_uppercase().parse().unwrap(), &path, None, None)
            .await;
        assert!(
            reply.status != 404 || reply.json()["code"] != "request.not_found",
            "{method} {path} is not served"
        );
        assert_ne!(reply.status, 405, "{method} {path}");
    }

    let page = app.get("/docs", None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    for (_, path) in ROUTES {
        assert!(
            page.text.contains(&format!("<code>{path}</code>")),
            "{path} missing from /docs"
        );
    }
}

/// The value of one sample line of the Prometheus text, 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|c| {
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    })
    .await;
    app.get("/metrics", None)
        .await
        .assert_problem(404, "request.not_found");
    let scrape = |path: &'static str| async move {
        crate::helpers::send(crate::helpers::client().get(format!("http://127.0.0.1:{port}{path}")))
            .await
    };
    let metrics = scrape("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.contains("baomi_http_requests_total"),
        "{}",
        metrics.text
    );
    assert_eq!(scrape("/healthz").await.status, 404, "metrics only");
    assert_eq!(scrape("/v1/keys").await.status, 404, "metrics only");
}

#[tokio::test]
async fn metrics_count_requests_latency_and_errors() {
    let app = spawn_app().await;
    // OPTIONS /docs is sent by no other test: its counter moves only with this one.
    let series = "baomi_http_requests_total{method=\"OPTIONS\",route=\"/docs\",status=\"405\"}";
    let before = sample(&app.get("/metrics", None).await.text, series);
    for _ in 0..3 {
        app.call(reqwest::Method::OPTIONS, "/docs", None, None)
            .await;
    }
    app.get("/v1/keys", None).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text;
    assert_eq!(sample(&text, series) - before, 3.0, "{text}");
    assert!(
        text.contains(
            "baomi_http_request_duration_seconds_bucket{method=\"OPTIONS\",route=\"/docs\""
        ),
        "{text}"
    );
    assert!(
        text.contains("baomi_http_errors_total{code=\"request.method_not_allowed\"}"),
        "{text}"
    );
    assert!(
        text.contains("baomi_http_errors_total{code=\"auth.missing\"}"),
        "{text}"
    );

    // Unusual methods are counted as `other`, never by their (caller-chosen) name.
    let odd = reqwest::Method::from_bytes(b"X13800138000").unwrap();
    app.call(odd, "/healthz", None, None).await;
    let text = app.get("/metrics", None).await.text;
    assert!(!text.contains("13800138000"));
    assert!(text.contains("method=\"other\""));
}

/// A TCP proxy in front of PostgreSQL that can be cut, as a network partition or a database
/// crash would.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }
}

/// An embedded SQLite file has no connection to lose.
#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=… cargo test -- --include-ignored"]
async fn a_database_outage_gives_503_and_readyz_says_so() {
    let base = crate::helpers::postgres_only();
    let url = url_parts(&base);
    let proxy = Proxy::start(url.0).await;
    let app = spawn_app_with(|c| {
        let through_proxy =
            c.database_url
                .as_ref()
                .unwrap()
                .replacen(&url.1, &proxy.addr.to_string(), 1);
        c.database_url = Some(through_proxy);
    })
    .await;
    assert_eq!(app.get("/readyz", None).await.status, 200);

    proxy.cut.send(true).unwrap();
    let ready = app.get("/readyz", None).await;
    let body = ready.assert_problem(503, "service.not_ready");
    assert_eq!(body["checks"]["database"], "unavailable");
    app.get("/v1/keys", Some(&app.admin_key))
        .await
        .assert_problem(503, "service.database_unavailable");

    proxy.cut.send(false).unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if app.get("/readyz", None).await.status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "readyz recovers when the database is back");
    assert_eq!(app.get("/v1/keys", Some(&app.admin_key)).await.status, 200);
}

/// The socket address and the `host:port` text of a PostgreSQL URL.
fn url_parts(url: &str) -> (std::net::SocketAddr, String) {
    let after = url.split("://").nth(1).unwrap();
    let hostport = after.rsplit('@').next().unwrap().split('/').next().unwrap();
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    use std::net::ToSocketAddrs;
    let addr = hostport.to_socket_addrs().unwrap().next().unwrap();
    let written = after
        .rsplit('@')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    (addr, written)
}

/// `baomi probe`, the container image's health check: 0 when the URL answers 200.
#[tokio::test]
async fn the_probe_command_follows_health() {
    let app = spawn_app().await;
    // The server runs on this test's runtime: wait for the command without blocking it.
    let probe = |path: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_baomi"))
            .args(["probe", "--url", &app.url(path)])
            .env_remove("BAOMI_CONFIG")
            .output()
    };
    assert!(probe("/healthz").await.unwrap().status.success());
    let down = probe("/no-such-page").await.unwrap();
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("404"));
}

/// The bank cards the README and the docs use as examples are valid cards (Luhn), so a
/// reader who pastes them gets what the text says.
#[test]
fn sample_bank_cards_in_the_docs_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut seen = 0;
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (i, _) in text.match_indices("\"bank_card\":\"") {
            let card: String = text[i + 13..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if card.len() >= 16 {
                seen += 1;
                assert!(
                    baomi_masking::validate::bank_card(&card),
                    "{}: {card}",
                    page.display()
                );
            }
        }
    }
    assert!(seen > 0, "the README shows a sample card");
}
