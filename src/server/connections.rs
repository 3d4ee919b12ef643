//! Accepting connections: a cap on open connections, in all and per client address, a
//! time limit on reading each request's head, and a graceful stop.
//!
//! `axum::serve` has none of these limits: a client that opens connections and sends half
//! a header holds each of them for as long as it likes.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then waits
/// for the requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionsConfig,
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
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is not the server's error.
            let _ = connection.await;
            drop(counted);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
