//! The server holds under abuse at the connection level: half-sent heads are closed after
//! the header timeout, and no address holds more connections than it is allowed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

/// Whether the server has closed `stream` (a read ends) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
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
