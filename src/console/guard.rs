//! The sign-in form's guard: attempts limited per client address and in all before any
//! work is done, argon2 checks limited in number at once, and refusals that cost nothing
//! (too fast, malformed) counted and recorded as one audit event per address and reason a
//! minute, not one event each, so that a flood cannot fill the trail or the disk.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use baomi_audit::AuditSink;
use baomi_types::Action;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, watch};

use crate::config::ConsoleConfig;
use crate::service::refusals::{self, CountedRefusals};
use crate::service::{ErrorCode, ServiceError, audit};

/// Addresses whose refusals are counted apart at most; past that they are counted under
/// no address (`source:other`).
const MAX_COUNTED_ADDRESSES: usize = 4096;

/// The longest a password check waits for its turn before the sign-in is refused as busy.
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(10);

/// Why a sign-in attempt was refused without being looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unexamined {
    /// Over the per-address or overall rate.
    TooFast,
    /// A name, password or key of a shape no account or key has (too long, say).
    Malformed,
    /// A name still waiting out its earlier failures.
    NameWaiting,
}

impl Unexamined {
    fn code(self) -> &'static str {
        match self {
            Unexamined::TooFast => "console.too_many_signins",
            Unexamined::Malformed => "console.malformed_signin",
            Unexamined::NameWaiting => "console.slow_down",
        }
    }
}

/// The guard, one per node.
pub struct SigninGuard {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    everyone: DefaultDirectRateLimiter,
    password_checks: Semaphore,
    unexamined: CountedRefusals<(Option<IpAddr>, Unexamined)>,
}

impl SigninGuard {
    /// A guard with `config`'s limits.
    pub fn new(config: &ConsoleConfig) -> Arc<Self> {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Arc::new(Self {
            per_address: RateLimiter::keyed(per_minute(config.signins_per_minute_per_address)),
            everyone: RateLimiter::direct(per_minute(config.signins_per_minute)),
            password_checks: Semaphore::new(config.password_checks_at_once),
            unexamined: CountedRefusals::new(MAX_COUNTED_ADDRESSES),
        })
    }

    /// Takes one attempt from `address`'s budget and the overall one; `Err` with the
    /// seconds to wait when either is spent (the attempt is then counted as refused).
    pub fn admit(&self, address: Option<IpAddr>) -> Result<(), u64> {
        let clock = governor::clock::DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| {
            not_until
                .wait_time_from(governor::clock::Clock::now(&clock))
                .as_secs()
                .max(1)
        };
        let outcome = match address {
            Some(address) => self.per_address.check_key(&address).map_err(wait),
            None => Ok(()),
        }
        .and_then(|()| self.everyone.check().map_err(wait));
        if outcome.is_err() {
            self.count(address, Unexamined::TooFast);
        }
        outcome
    }

    /// Counts an attempt refused without being looked at.
    pub fn count(&self, address: Option<IpAddr>, why: Unexamined) {
        metrics::counter!("baomi_console_signins_refused_total", "reason" => why.code())
            .increment(1);
        self.unexamined.count(
            (address, why),
            |&(_, why)| (None, why),
            |&(address, why)| {
                let source =
                    address.map_or_else(|| "source:other".to_owned(), |a| format!("source:{a}"));
                audit::denied(
                    audit::system("console", Action::ConsoleSignin, &source),
                    why.code(),
                )
            },
        );
    }

    /// Runs `check` (an argon2 verification or hash) on the blocking pool once one of the
    /// limited turns is free; refuses as busy (503) after waiting too long for one.
    pub async fn password_check<R: Send + 'static>(
        &self,
        check: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, ServiceError> {
        let _turn = tokio::time::timeout(PASSWORD_CHECK_WAIT, self.password_checks.acquire())
            .await
            .map_err(|_| ServiceError::Busy {
                code: ErrorCode::ConsoleBusy,
            })?
            .map_err(|_| ServiceError::Internal("password check semaphore closed".to_owned()))?;
        tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Records what was counted since the last call, one event per address and reason with
    /// its count, and forgets the rate limiter's idle addresses.
    pub async fn record(&self, sink: &dyn AuditSink) -> Result<(), ServiceError> {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
        self.unexamined.record(sink).await
    }
}

/// Records the guard's counts every `every` until `stop`, and once more then.
pub async fn keep_recording(
    guard: Arc<SigninGuard>,
    sink: Arc<dyn AuditSink>,
    every: Duration,
    stop: watch::Receiver<bool>,
) {
    refusals::every(every, stop, "refused sign-ins", || {
        guard.record(sink.as_ref())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(per_address: u32, everyone: u32) -> Arc<SigninGuard> {
        SigninGuard::new(&ConsoleConfig {
            signins_per_minute_per_address: per_address,
            signins_per_minute: everyone,
            password_checks_at_once: 1,
            refusals_recorded_every_secs: 60,
            ..ConsoleConfig::default()
        })
    }

    #[test]
    fn each_address_has_its_budget_and_all_share_one() {
        let guard = guard(2, 3);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        assert!(guard.admit(Some(a)).is_ok());
        assert!(guard.admit(Some(a)).is_ok());
        let wait = guard.admit(Some(a)).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(guard.admit(Some(b)).is_ok());
        assert!(guard.admit(Some(c)).is_err(), "the overall budget is spent");
        assert_eq!(guard.unexamined.counted(&(Some(a), Unexamined::TooFast)), 1);
        assert_eq!(guard.unexamined.counted(&(Some(c), Unexamined::TooFast)), 1);
    }

    #[test]
    fn counted_addresses_are_bounded() {
        let guard = guard(1, 100_000);
        for i in 0..(MAX_COUNTED_ADDRESSES as u32 + 500) {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            guard.count(Some(address), Unexamined::Malformed);
        }
        assert!(guard.unexamined.kinds() <= MAX_COUNTED_ADDRESSES + 1);
        assert_eq!(
            guard.unexamined.counted(&(None, Unexamined::Malformed)),
            500
        );
    }
}
