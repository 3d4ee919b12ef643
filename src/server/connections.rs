//! Accepting connections: a cap on open connections, in all and per client address, a
//! time limit on the TLS handshake and on reading each request's head, and a graceful
//! stop.
//!
//! `axum::serve` has none of these limits: a client that opens connections and sends half
//! a header holds each of them for as long as it likes.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use baomi_types::ClientCertificate;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::tls::Certificates;
use crate::auth::client_certificate::{self, VerifiedCertificate};
use crate::config::ConnectionsConfig;

/// Open connections per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One open connection counted against its address; uncounted when dropped.
struct Counted {
    table: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    /// Counts a connection from `address`, unless it already has `max` open.
    fn admit(table: &Arc<Self>, address: IpAddr, max: usize) -> Option<Counted> {
        let mut open = table.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Counted {
            table: Arc::clone(table),
            address,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Serves `router` on `listener` within `limits`, over TLS with `tls` when set, until
/// `shutdown` completes, then waits for the requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionsConfig,
    tls: Option<Arc<Certificates>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let open = Arc::new(Semaphore::new(limits.max_open));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            metrics::counter!("baomi_connections_refused_total", "reason" => "max_open")
                .increment(1);
            continue;
        };
        let Some(counted) = PerAddress::admit(&per_address, peer.ip(), limits.max_per_address)
        else {
            metrics::counter!("baomi_connections_refused_total", "reason" => "max_per_address")
                .increment(1);
            continue;
        };
        let (router, builder, watcher, tls) = (
            router.clone(),
            builder.clone(),
            graceful.watcher(),
            tls.clone(),
        );
        let handshake_timeout = Duration::from_secs(limits.header_read_timeout_secs);
        tokio::spawn(async move {
            match tls {
                None => serve_connection(&builder, stream, peer, None, router, watcher).await,
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                    // The handshake is held to the header timeout too.
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let certificate = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .and_then(|der| client_certificate::identity(der))
                                .map(Arc::new);
                            serve_connection(&builder, stream, peer, certificate, router, watcher)
                                .await;
                        }
                        Ok(Err(_)) | Err(_) => {
                            metrics::counter!("baomi_tls_handshakes_failed_total").increment(1);
                        }
                    }
                }
            }
            drop(counted);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serves one connection until it closes or the server stops; every request carries the
/// client's address and the connection's verified client certificate, if any.
async fn serve_connection<I>(
    builder: &Builder<TokioExecutor>,
    io: I,
    peer: SocketAddr,
    certificate: Option<Arc<ClientCertificate>>,
    router: Router,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(peer));
        if let Some(certificate) = &certificate {
            extensions.insert(VerifiedCertificate(Arc::clone(certificate)));
        }
        tower::ServiceExt::oneshot(router.clone(), request)
    });
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    // A client that goes away mid-request is not the server's error.
    let _ = watcher.watch(connection).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_admitted_up_to_its_limit_and_again_once_one_closes() {
        let table = Arc::new(PerAddress::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = PerAddress::admit(&table, a, 2).unwrap();
        let _second = PerAddress::admit(&table, a, 2).unwrap();
        assert!(PerAddress::admit(&table, a, 2).is_none());
        assert!(PerAddress::admit(&table, b, 2).is_some(), "another address");
        drop(first);
        assert!(PerAddress::admit(&table, a, 2).is_some());
    }

    #[test]
    fn a_closed_address_leaves_no_entry() {
        let table = Arc::new(PerAddress::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        drop(PerAddress::admit(&table, a, 1));
        assert!(table.0.lock().unwrap().is_empty());
    }
}
