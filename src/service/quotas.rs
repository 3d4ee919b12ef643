//! Quotas enforced on reads of PI, on every node of a fleet (see `crate::auth::quota` for
//! the limits and their layers).
//!
//! Each node counts against allowance it leases from the database in blocks of a sixteenth
//! of a limit (or what a request needs, if more). The database grants a lease only while
//! the window's total stays within the limit, so the fleet together never admits more than
//! the limit in a window. What a node has leased and not used is the margin: a node leases
//! only when it has too little left, so with `n` nodes a key may be refused up to
//! `n × (block − 1)` units before its limit is reached, never after.
//!
//! Distinct subjects are remembered by each node for the window: a subject read again on
//! the same node is not counted again, one read on two nodes counts twice (early, never
//! late).
//!
//! A refused read is answered 429 with `Retry-After`, and is on the record: the first
//! refusal of a limit in its window is appended at once (the `quota_exceeded` alert rule
//! watches for it), later ones are counted and recorded once every
//! `quotas.refusals_recorded_every_secs`, with their count.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use baomi_audit::AuditSink;
use baomi_types::{AccessEvent, Action};

use crate::auth::Caller;
use crate::auth::quota::{Counts, Limit, Limits};
use crate::config::QuotasConfig;
use crate::service::refusals::CountedRefusals;
use crate::service::{ErrorCode, RequestContext, ServiceError, audit, now, now_ms};
use crate::store::QuotaStore;
use crate::store::quotas::{Counter, Window};

/// A block leased from the fleet is this fraction of the limit.
const LEASE_PARTS: u64 = 16;
/// Kinds of refusal counted apart between recordings (per node), at most.
const MAX_COUNTED_KINDS: usize = 4096;

/// The code of a refusal by a per-second limit (slow down).
pub const RATE_LIMITED: ErrorCode = ErrorCode::QuotaRateLimited;
/// The code of a refusal by any other limit (the allowance of the window is spent).
pub const EXCEEDED: ErrorCode = ErrorCode::QuotaExceeded;
/// The refusal of one more operator name past `quotas.max_operators_per_key` in a day.
pub const OPERATORS_PER_KEY: &str = "operators_per_key";

/// Whose count ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The key as a whole, under the purpose.
    Key,
    /// One operator the key named, under the purpose.
    Operator,
}

impl Scope {
    /// `key` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Operator => "operator",
        }
    }
}

/// Why a read was refused: which limit ran out, whose, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The limit's name (`subjects_per_day`, …, or `operators_per_key`).
    pub limit: &'static str,
    /// Whose count.
    pub scope: Scope,
    /// Seconds until its window ends.
    pub retry_after_secs: u64,
    /// When its window ends, Unix milliseconds.
    pub until_ms: i64,
}

impl Refusal {
    /// The stable code: [`RATE_LIMITED`] for requests per second, else [`EXCEEDED`].
    pub fn code(&self) -> ErrorCode {
        if self.limit == Limit::RequestsPerSecond.as_str() {
            RATE_LIMITED
        } else {
            EXCEEDED
        }
    }
}

/// What a read would take: the distinct subjects it reads, and how many fields it shows in
/// the plain view.
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    /// The subjects read, each once.
    pub subjects: &'a [&'a str],
    /// Fields shown in the plain view.
    pub plain_fields: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CounterKey {
    key_id: String,
    purpose: String,
    operator: Option<String>,
    limit: Limit,
}

impl CounterKey {
    fn counter(&self) -> Counter<'_> {
        Counter {
            key_id: &self.key_id,
            purpose: &self.purpose,
            operator: self.operator.as_deref(),
            limit: self.limit.as_str(),
        }
    }

    fn scope(&self) -> Scope {
        if self.operator.is_some() {
            Scope::Operator
        } else {
            Scope::Key
        }
    }
}

/// One counter's state on this node for its current window.
#[derive(Debug, Default)]
struct Tally {
    window: Option<Window>,
    /// Leased from the fleet and not used yet.
    unused: u64,
    /// The subjects counted in the window (keyed hashes), for subject limits.
    seen: HashSet<u64>,
    /// Held while a lease for this counter is asked of the fleet: requests that lack
    /// allowance at once wait for one lease instead of each taking a block.
    leasing: Arc<tokio::sync::Mutex<()>>,
}

impl Tally {
    /// The tally for `window`, or for the later one it has moved on to (then `window` is
    /// moved on too: a request that began just before a window ended is counted in the
    /// next). A tally never goes back to an earlier window, whose allowance would be
    /// leased again.
    fn at(&mut self, window: &mut Window) -> &mut Self {
        match self.window {
            Some(w) if w.start > window.start => *window = w,
            Some(w) if w == *window => {}
            _ => {
                *self = Tally {
                    window: Some(*window),
                    leasing: Arc::clone(&self.leasing),
                    ..Tally::default()
                };
            }
        }
        self
    }
}

#[derive(Default)]
struct Tallies {
    counters: HashMap<CounterKey, Tally>,
    /// The operators each key named today: (day's start, their keyed hashes).
    operators: HashMap<String, (i64, HashSet<u64>)>,
    /// The refusals recorded at once, each with the end of the window it was refused for.
    refused: HashMap<RefusalKind, i64>,
}

/// A kind of refusal, as counted and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RefusalKind {
    key_id: String,
    purpose: String,
    operator: Option<String>,
    limit: &'static str,
}

fn seconds_until(end_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((end_ms - now_ms).max(1))
        .unwrap_or(1)
        .div_ceil(1000)
}

/// One limit to check for a read, with its value and window.
struct Check {
    key: CounterKey,
    limit: u64,
    window: Window,
}

/// This node's quota counting.
pub struct QuotaMeter {
    store: Arc<dyn QuotaStore>,
    config: QuotasConfig,
    hasher: RandomState,
    tallies: Mutex<Tallies>,
    refusals: CountedRefusals<RefusalKind>,
}

impl QuotaMeter {
    /// A meter leasing from `store`, with `config`'s defaults.
    pub fn new(store: Arc<dyn QuotaStore>, config: QuotasConfig) -> Self {
        Self {
            store,
            config,
            hasher: RandomState::new(),
            tallies: Mutex::new(Tallies::default()),
            refusals: CountedRefusals::new(MAX_COUNTED_KINDS),
        }
    }

    /// The limits in force for `key` (and for each operator it names) under `purpose` at
    /// `now` (Unix seconds): the configuration's, under the grant's, under a break-glass
    /// raise in force.
    pub fn limits(
        &self,
        grants: &crate::auth::grant::Grants,
        purpose: &str,
        now: i64,
    ) -> (Limits, Limits) {
        let (mut key, mut operator) = (self.config.key, self.config.operator);
        if let Some(grant) = grants.purpose(purpose) {
            key = grant.quota.key.over(key);
            operator = grant.quota.operator.over(operator);
        }
        if let Some(raise) = grants.raise(purpose, now) {
            key = raise.quota.key.over(key);
            operator = raise.quota.operator.over(operator);
        }
        (key, operator)
    }

    fn checks(
        &self,
        key_id: &str,
        purpose: &str,
        operator: Option<&str>,
        limits: (Limits, Limits),
        now_ms: i64,
    ) -> Vec<Check> {
        let mut scopes = vec![(None, limits.0)];
        if let Some(op) = operator {
            scopes.push((Some(op), limits.1));
        }
        let mut checks = Vec::new();
        for (who, in_force) in scopes {
            for limit in Limit::ALL {
                let Some(value) = in_force.get(limit) else {
                    continue;
                };
                let (start, end) = limit.window(now_ms, self.config.utc_offset_minutes);
                checks.push(Check {
                    key: CounterKey {
                        key_id: key_id.to_owned(),
                        purpose: purpose.to_owned(),
                        operator: who.map(str::to_owned),
                        limit,
                    },
                    limit: value,
                    window: Window { start, end },
                });
            }
        }
        checks
    }

    /// What a demand takes from `tally`'s limit: `subjects` are the demand's subjects,
    /// hashed once per request.
    fn need(tally: &Tally, limit: Limit, demand: &Demand<'_>, subjects: &[u64]) -> u64 {
        match limit.counts() {
            Counts::Requests => 1,
            Counts::PlainFields => demand.plain_fields,
            Counts::Subjects => subjects.iter().filter(|s| !tally.seen.contains(s)).count() as u64,
        }
    }

    /// Takes what `demand` needs from every limit of `key_id` (and of `operator`) under
    /// `purpose`, all or nothing; the refusal says which limit ran out first.
    pub async fn take(
        &self,
        key_id: &str,
        purpose: &str,
        operator: Option<&str>,
        limits: (Limits, Limits),
        demand: Demand<'_>,
        now_ms: i64,
    ) -> Result<(), ServiceError> {
        let mut checks = self.checks(key_id, purpose, operator, limits, now_ms);
        if checks.is_empty() {
            return Ok(());
        }
        let mut operator_check = operator.map(|op| self.hasher.hash_one(op));
        let subjects: Vec<u64> = demand
            .subjects
            .iter()
            .map(|s| self.hasher.hash_one(s))
            .collect();
        loop {
            // What this node still lacks, counter by counter; nothing is taken unless
            // nothing is lacking.
            let lacking: Vec<(usize, u64)> = {
                let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(op) = operator_check.take() {
                    let (day, _) =
                        Limit::SubjectsPerDay.window(now_ms, self.config.utc_offset_minutes);
                    let named = tallies
                        .operators
                        .entry(key_id.to_owned())
                        .or_insert_with(|| (day, HashSet::new()));
                    if named.0 != day {
                        *named = (day, HashSet::new());
                    }
                    if !named.1.contains(&op) {
                        if named.1.len() >= self.config.max_operators_per_key as usize {
                            return Err(self.refused_operators(now_ms));
                        }
                        named.1.insert(op);
                    }
                }
                let mut lacking = Vec::new();
                let mut needs = Vec::with_capacity(checks.len());
                for (i, check) in checks.iter_mut().enumerate() {
                    let tally = tallies
                        .counters
                        .entry(check.key.clone())
                        .or_default()
                        .at(&mut check.window);
                    let need = Self::need(tally, check.key.limit, &demand, &subjects);
                    needs.push(need);
                    if need > check.limit {
                        // More than a whole window allows: no lease can help.
                        return Err(self.refused(check, now_ms));
                    }
                    if need > tally.unused {
                        lacking.push((i, need - tally.unused));
                    }
                }
                if lacking.is_empty() {
                    // Still under the same lock: the needs just computed hold.
                    for (check, need) in checks.iter_mut().zip(needs) {
                        let tally = tallies
                            .counters
                            .entry(check.key.clone())
                            .or_default()
                            .at(&mut check.window);
                        tally.unused -= need;
                        if check.key.limit.counts() == Counts::Subjects {
                            tally.seen.extend(subjects.iter().copied());
                        }
                    }
                    return Ok(());
                }
                lacking
            };
            for (i, _) in lacking {
                let check = &mut checks[i];
                let leasing = {
                    let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
                    let tally = tallies.counters.entry(check.key.clone()).or_default();
                    Arc::clone(&tally.leasing)
                };
                let _turn = leasing.lock().await;
                // What is lacking now: another request may have leased while this waited.
                let short = {
                    let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
                    let tally = tallies
                        .counters
                        .entry(check.key.clone())
                        .or_default()
                        .at(&mut check.window);
                    Self::need(tally, check.key.limit, &demand, &subjects)
                        .saturating_sub(tally.unused)
                };
                if short == 0 {
                    continue;
                }
                let check = &checks[i];
                // A block of the limit, or what is lacking if more; what is lacking alone
                // when the fleet has less than a block left.
                let block = check.limit.div_ceil(LEASE_PARTS).max(short);
                let lease = |amount| {
                    self.store
                        .lease(check.key.counter(), check.window, amount, check.limit)
                };
                let amount = if lease(block).await? {
                    block
                } else if block > short && lease(short).await? {
                    short
                } else {
                    return Err(self.refused(check, now_ms));
                };
                let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
                let tally = tallies.counters.entry(check.key.clone()).or_default();
                if tally.window == Some(check.window) {
                    tally.unused += amount;
                }
            }
        }
    }

    fn refused(&self, check: &Check, now_ms: i64) -> ServiceError {
        ServiceError::QuotaExceeded(Refusal {
            limit: check.key.limit.as_str(),
            scope: check.key.scope(),
            retry_after_secs: seconds_until(check.window.end, now_ms),
            until_ms: check.window.end,
        })
    }

    fn refused_operators(&self, now_ms: i64) -> ServiceError {
        let (_, end) = Limit::SubjectsPerDay.window(now_ms, self.config.utc_offset_minutes);
        ServiceError::QuotaExceeded(Refusal {
            limit: OPERATORS_PER_KEY,
            scope: Scope::Key,
            retry_after_secs: seconds_until(end, now_ms),
            until_ms: end,
        })
    }

    /// Records a refusal: at once if it is the first of its kind in the window it is
    /// refused until (`event` is returned for the caller to append), else counted for the
    /// next recording.
    fn on_refusal(
        &self,
        kind: RefusalKind,
        window_end: i64,
        event: AccessEvent,
    ) -> Option<AccessEvent> {
        let first = {
            let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
            tallies.refused.insert(kind.clone(), window_end) != Some(window_end)
        };
        if first {
            return Some(event);
        }
        self.refusals.count(
            kind,
            |k| RefusalKind {
                operator: None,
                ..k.clone()
            },
            |k| AccessEvent {
                operator: k.operator.clone(),
                ..event
            },
        );
        None
    }

    /// Appends the refusals counted since the last call, one event per kind with its count,
    /// and forgets the counters whose windows are over.
    pub async fn record(&self, sink: &dyn AuditSink) -> Result<(), ServiceError> {
        let now = now_ms();
        {
            let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
            tallies
                .counters
                .retain(|_, t| t.window.is_some_and(|w| w.end > now));
            let (day, _) = Limit::SubjectsPerDay.window(now, self.config.utc_offset_minutes);
            tallies.operators.retain(|_, (d, _)| *d == day);
            tallies.refused.retain(|_, end| *end > now);
        }
        self.refusals.record(sink).await
    }
}

/// Records `meter`'s counted refusals, forgets finished windows and prunes the fleet's
/// finished counters every `quotas.refusals_recorded_every_secs` until `stop`, and once
/// more then.
pub async fn keep_recording(
    meter: Arc<QuotaMeter>,
    sink: Arc<dyn AuditSink>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = std::time::Duration::from_secs(meter.config.refusals_recorded_every_secs);
    crate::service::refusals::every(every, stop, "quota refusals", || async {
        meter.record(sink.as_ref()).await?;
        meter.store.prune_quota_usage(now_ms()).await?;
        Ok(())
    })
    .await;
}

/// Takes what a read of PI by `caller` under `purpose` would take from its quotas, before
/// any of it is returned. A refusal is recorded in the trail as a denied event of `action`
/// naming the purpose and the limit (`fields: ["quota:<scope>:<limit>"]`), and returned as
/// [`ServiceError::QuotaExceeded`].
pub async fn take(
    state: &crate::service::Services,
    caller: &Caller,
    ctx: &RequestContext,
    action: Action,
    purpose: &str,
    demand: Demand<'_>,
) -> Result<(), ServiceError> {
    // A subject token's reads count against the key that minted it, and the operator who
    // had it minted unless the request names another.
    let (id, grants, operator) = match caller {
        Caller::Key { id, grants, .. } => (id, grants, ctx.operator.as_ref().map(|o| o.as_str())),
        Caller::Subject {
            issuer,
            issuer_grants,
            operator,
            ..
        } => (
            issuer,
            issuer_grants,
            ctx.operator
                .as_ref()
                .map(|o| o.as_str())
                .or(operator.as_deref()),
        ),
    };
    let meter = &state.quotas;
    let limits = meter.limits(grants, purpose, now());
    let at = now_ms();
    let Err(e) = meter.take(id, purpose, operator, limits, demand, at).await else {
        return Ok(());
    };
    let ServiceError::QuotaExceeded(refusal) = &e else {
        return Err(e);
    };
    metrics::counter!("baomi_quota_refusals_total", "limit" => refusal.limit, "scope" => refusal.scope.as_str())
        .increment(1);
    let mut event = audit::denied(audit::event(caller, ctx, action), refusal.code());
    event.purpose = Some(purpose.to_owned());
    event.fields = vec![format!(
        "quota:{}:{}",
        refusal.scope.as_str(),
        refusal.limit
    )];
    event.count = 1;
    let kind = RefusalKind {
        key_id: id.clone(),
        purpose: purpose.to_owned(),
        operator: match refusal.scope {
            Scope::Key => None,
            Scope::Operator => operator.map(str::to_owned),
        },
        limit: refusal.limit,
    };
    if let Some(event) = meter.on_refusal(kind, refusal.until_ms, event) {
        audit::append(state.audit.as_ref(), &[event]).await?;
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use async_trait::async_trait;

    use super::*;
    use crate::store::StoreError;

    /// The fleet's counters in memory, with the database's rule: a lease is granted only
    /// while the window's total stays within the limit.
    /// A counter's window: key, purpose, operator (or ''), limit, window start.
    type Row = (String, String, String, &'static str, i64);

    #[derive(Default)]
    struct Fleet {
        used: Mutex<HashMap<Row, u64>>,
        leases: std::sync::atomic::AtomicUsize,
    }

    impl Fleet {
        fn used(&self, limit: &str) -> u64 {
            let used = self.used.lock().unwrap();
            used.iter()
                .filter(|(k, _)| k.3 == limit && k.2.is_empty())
                .map(|(_, v)| *v)
                .sum()
        }
    }

    #[async_trait]
    impl QuotaStore for Fleet {
        async fn lease(
            &self,
            counter: Counter<'_>,
            window: Window,
            amount: u64,
            limit: u64,
        ) -> Result<bool, StoreError> {
            self.leases
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut used = self.used.lock().unwrap();
            let key = (
                counter.key_id.to_owned(),
                counter.purpose.to_owned(),
                counter.operator.unwrap_or("").to_owned(),
                counter.limit,
                window.start,
            );
            let total = used.entry(key).or_default();
            if *total + amount > limit {
                return Ok(false);
            }
            *total += amount;
            Ok(true)
        }

        async fn prune_quota_usage(&self, _now_ms: i64) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn config(subjects_per_day: u64) -> QuotasConfig {
        QuotasConfig {
            key: Limits {
                subjects_per_day,
                ..Limits::default()
            },
            operator: Limits::default(),
            ..QuotasConfig::default()
        }
    }

    fn meter(fleet: &Arc<Fleet>, config: QuotasConfig) -> QuotaMeter {
        QuotaMeter::new(Arc::clone(fleet) as Arc<dyn QuotaStore>, config)
    }

    /// 2026-12-03 12:00 in China (04:00 UTC).
    const NOON: i64 = 1_796_270_400_000;

    async fn read(meter: &QuotaMeter, subject: &str) -> Result<(), ServiceError> {
        let limits = (meter.config.key, meter.config.operator);
        let demand = Demand {
            subjects: &[subject],
            plain_fields: 1,
        };
        meter.take("k", "p", None, limits, demand, NOON).await
    }

    #[tokio::test]
    async fn a_key_is_refused_from_the_subject_past_its_quota_and_rereads_are_free() {
        let fleet = Arc::new(Fleet::default());
        let meter = meter(&fleet, config(100));
        for i in 0..100 {
            read(&meter, &format!("s{i}")).await.unwrap();
        }
        read(&meter, "s7")
            .await
            .expect("a subject read before is not counted again");
        let Err(ServiceError::QuotaExceeded(refusal)) = read(&meter, "s100").await else {
            panic!("the 101st subject must be refused");
        };
        assert_eq!(refusal.limit, "subjects_per_day");
        assert_eq!(refusal.scope, Scope::Key);
        assert_eq!(refusal.code(), EXCEEDED);
        assert_eq!(
            refusal.retry_after_secs,
            12 * 3600,
            "until midnight in China"
        );
        assert_eq!(fleet.used("subjects_per_day"), 100);
    }

    #[tokio::test]
    async fn nodes_share_one_quota_within_a_block_each() {
        let fleet = Arc::new(Fleet::default());
        let nodes: Vec<QuotaMeter> = (0..3).map(|_| meter(&fleet, config(160))).collect();
        let mut admitted = 0;
        for i in 0..400 {
            if read(&nodes[i % 3], &format!("s{i}")).await.is_ok() {
                admitted += 1;
            }
        }
        assert!(admitted <= 160, "never past the quota: {admitted}");
        let block = 160u64.div_ceil(LEASE_PARTS);
        assert!(
            admitted >= 160 - 3 * (block - 1),
            "early by a block less one on each node at most: {admitted}"
        );
        assert_eq!(fleet.used("subjects_per_day"), 160);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_at_once_wait_for_one_lease_instead_of_each_taking_a_block() {
        let fleet = Arc::new(Fleet::default());
        let meter = Arc::new(meter(&fleet, config(1600)));
        let reads: Vec<_> = (0..64)
            .map(|_| {
                let meter = Arc::clone(&meter);
                tokio::spawn(async move { read(&meter, "same").await })
            })
            .collect();
        for r in reads {
            r.await.unwrap().expect("one subject, far below the quota");
        }
        assert_eq!(fleet.leases.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(fleet.used("subjects_per_day"), 100, "one block");
    }

    #[tokio::test]
    async fn a_request_begun_in_a_second_that_ended_counts_in_the_next() {
        let fleet = Arc::new(Fleet::default());
        let config = QuotasConfig {
            key: Limits {
                requests_per_second: 2,
                ..Limits::default()
            },
            operator: Limits::default(),
            ..QuotasConfig::default()
        };
        let meter = meter(&fleet, config);
        let limits = (meter.config.key, meter.config.operator);
        let demand = Demand {
            subjects: &[],
            plain_fields: 0,
        };
        let take = |at: i64| meter.take("k", "p", None, limits, demand, at);
        take(NOON + 999).await.unwrap();
        take(NOON + 1000).await.unwrap();
        take(NOON + 999)
            .await
            .expect("late, so counted in the next second");
        assert!(
            take(NOON + 1001).await.is_err(),
            "the next second's two are used"
        );
        assert_eq!(
            fleet.used("requests_per_second"),
            3,
            "no second lease of the first"
        );
    }

    #[tokio::test]
    async fn a_batch_that_does_not_fit_takes_nothing() {
        let fleet = Arc::new(Fleet::default());
        let meter = meter(&fleet, config(10));
        let limits = (meter.config.key, meter.config.operator);
        let many: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let demand = Demand {
            subjects: &many,
            plain_fields: 0,
        };
        assert!(
            meter
                .take("k", "p", None, limits, demand, NOON)
                .await
                .is_err()
        );
        for i in 0..10 {
            read(&meter, &format!("t{i}"))
                .await
                .expect("the allowance is whole");
        }
    }

    #[tokio::test]
    async fn operators_have_their_own_quota_and_their_number_is_bounded() {
        let fleet = Arc::new(Fleet::default());
        let config = QuotasConfig {
            key: Limits::default(),
            operator: Limits {
                requests_per_second: 2,
                ..Limits::default()
            },
            max_operators_per_key: 2,
            ..QuotasConfig::default()
        };
        let meter = meter(&fleet, config);
        let limits = (meter.config.key, meter.config.operator);
        let demand = Demand {
            subjects: &[],
            plain_fields: 0,
        };
        let take = |op: &'static str, at: i64| meter.take("k", "p", Some(op), limits, demand, at);
        take("alice", NOON).await.unwrap();
        take("alice", NOON).await.unwrap();
        let Err(ServiceError::QuotaExceeded(r)) = take("alice", NOON).await else {
            panic!("alice's third request in a second");
        };
        assert_eq!(
            (r.limit, r.scope, r.code()),
            ("requests_per_second", Scope::Operator, RATE_LIMITED)
        );
        assert_eq!(r.retry_after_secs, 1);
        take("bob", NOON).await.expect("bob counts apart");
        take("alice", NOON + 1000).await.expect("the next second");
        let Err(ServiceError::QuotaExceeded(r)) = take("carol", NOON).await else {
            panic!("a third operator name in a day");
        };
        assert_eq!(r.limit, OPERATORS_PER_KEY);
        take("carol", NOON + 86_400_000)
            .await
            .expect("names are counted per day");
    }

    #[tokio::test]
    async fn refusals_after_the_first_are_counted_not_appended() {
        let fleet = Arc::new(Fleet::default());
        let meter = meter(&fleet, config(1));
        read(&meter, "a").await.unwrap();
        let event = || {
            AccessEvent::new(
                NOON,
                Action::Decrypt,
                baomi_types::Actor::new("k", "service"),
                None,
                &baomi_types::RequestId::parse("r").unwrap(),
            )
        };
        let kind = RefusalKind {
            key_id: "k".into(),
            purpose: "p".into(),
            operator: None,
            limit: "subjects_per_day",
        };
        let until = NOON + 1000;
        assert!(
            meter.on_refusal(kind.clone(), until, event()).is_some(),
            "the first at once"
        );
        for _ in 0..5 {
            assert!(meter.on_refusal(kind.clone(), until, event()).is_none());
        }
        assert_eq!(meter.refusals.counted(&kind), 5);
        assert!(
            meter
                .on_refusal(kind, until + 86_400_000, event())
                .is_some(),
            "the first of the next window at once again"
        );
    }

    #[test]
    fn layers_lay_over_the_configuration() {
        use crate::auth::grant::{Grants, PurposeGrant, ViewKind};
        use crate::auth::quota::{GrantQuota, QuotaLimits, QuotaRaise};
        use baomi_consent::PurposeId;
        let fleet = Arc::new(Fleet::default());
        let meter = meter(&fleet, config(100));
        let purpose = PurposeId::parse("p").unwrap();
        let grant_quota = GrantQuota {
            key: QuotaLimits {
                subjects_per_day: Some(200),
                ..QuotaLimits::default()
            },
            ..GrantQuota::default()
        };
        let mut grants = Grants {
            purposes: vec![PurposeGrant {
                purpose: purpose.clone(),
                views: [ViewKind::Plain].into(),
                quota: grant_quota,
            }],
            ..Grants::default()
        };
        assert_eq!(meter.limits(&grants, "p", 0).0.subjects_per_day, 200);
        grants.raises.push(QuotaRaise {
            purpose,
            quota: GrantQuota {
                key: QuotaLimits {
                    subjects_per_day: Some(5000),
                    ..QuotaLimits::default()
                },
                ..GrantQuota::default()
            },
            reason: "month-end reconciliation".into(),
            raised_by: "admin".into(),
            raised_at: 0,
            expires_at: 60,
        });
        assert_eq!(meter.limits(&grants, "p", 59).0.subjects_per_day, 5000);
        assert_eq!(
            meter.limits(&grants, "p", 60).0.subjects_per_day,
            200,
            "expired"
        );
        assert_eq!(meter.limits(&grants, "other", 0).0.subjects_per_day, 100);
    }
}
