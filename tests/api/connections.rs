//! The server holds under abuse at the connection level: half-sent heads are closed after
//! the header timeout, no address holds more connections than it is allowed, and no more
//! connections are open at once than the server allows in all.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

/// Whether the server has closed `stream` (a read ends) within `within`.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // An answer (a 408, say) before the close: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends `GET /healthz` on `stream` and reads the answer's first bytes.
async fn ask_health(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: baomi\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).await.unwrap();
    answer[..n].to_vec()
}

/// `/healthz` answers a new connection. (Not a pooled one: the server closes idle
/// connections after the header timeout, and a client may send on one as it closes.)
async fn healthz_answers(app: &TestApp) {
    let fresh = crate::helpers::client_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let reply = crate::helpers::send(fresh.get(app.url("/healthz"))).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn half_sent_heads_are_closed_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.connections.header_read_timeout_secs = 1).await;
    let mut half_open = Vec::new();
    for _ in 0..500 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: baomi\r\nX-Slow: ")
            .await
            .unwrap();
        half_open.push(stream);
    }
    // They hold nothing another client needs.
    healthz_answers(&app).await;
    for stream in &mut half_open {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "a half-sent head outlived the header timeout"
        );
    }
    healthz_answers(&app).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.connections.header_read_timeout_secs = 1).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let answer = ask_health(&mut stream).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    // Kept alive for the next request, but not for ever.
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let app = spawn_app_with(|c| c.connections.max_per_address = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        // Each is answered once, so the server has surely taken it, then kept alive.
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        assert!(ask_health(&mut stream).await.starts_with(b"HTTP/1.1 200"));
        held.push(stream);
    }
    let mut fourth = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_secs(2)).await,
        "the fourth connection from one address is closed at once"
    );
    // Once one closes, the address may connect again (as soon as the server has seen the
    // close).
    drop(held.pop());
    crate::helpers::until("a place frees up", async || {
        let fresh = crate::helpers::client_builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        fresh
            .get(app.url("/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// The count of connections refused for `max_open`, from a scrape over a connection of its
/// own (`None` if that connection was itself refused). The recorder is the test process's,
/// shared by every test in it: only a rise means anything.
async fn refused_for_max_open(app: &TestApp) -> Option<f64> {
    let fresh = crate::helpers::client_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let scrape = fresh.get(app.url("/metrics")).send().await.ok()?;
    let text = scrape.text().await.ok()?;
    let count = text.lines().find_map(|line| {
        line.strip_prefix(r#"baomi_connections_refused_total{reason="max_open"}"#)?
            .trim()
            .parse()
            .ok()
    });
    Some(count.unwrap_or(0.0))
}

#[tokio::test]
async fn open_connections_are_capped_in_all_and_refusals_counted() {
    let app = spawn_app_with(|c| {
        c.connections.max_open = 4;
        c.connections.max_per_address = 100;
    })
    .await;
    let before = refused_for_max_open(&app).await.unwrap();
    let (mut held, mut attempts) = (Vec::new(), 0);
    while held.len() < 4 {
        attempts += 1;
        assert!(attempts < 100, "four connections answered");
        // Answered once, so the server has surely taken it. (A refusal here is the scrape's
        // connection not yet seen closed: try again.)
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: baomi\r\n\r\n")
            .await;
        let mut answer = [0u8; 512];
        let n = stream.read(&mut answer).await.unwrap_or(0);
        if answer[..n].starts_with(b"HTTP/1.1 200") {
            held.push(stream);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut fifth = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut fifth, Duration::from_secs(2)).await,
        "a connection past the cap is closed at once"
    );
    drop(held.pop());
    crate::helpers::until("a place frees up, and the refusal is counted", async || {
        refused_for_max_open(&app)
            .await
            .is_some_and(|now| now > before)
    })
    .await;
}
