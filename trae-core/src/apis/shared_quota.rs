//! Rate limits shared by every process on one database: nodes take batched reservations from
//! a shared counter, so a cluster as a whole keeps an endpoint's limits.
//!
//! # How
//!
//! Each reservation is a row `(key, at, count)`. A node that has used up its allowance asks
//! the database for a batch: under a per-key lock, the rows inside each window of the policy
//! are summed and the grant is the batch size, cut to what every window still has room for.
//! The node then spends the grant locally, one permit per call, without touching the
//! database. A permit taken and then not used (the local limiter refused the call) goes back
//! to the allowance; what is left of an allowance older than [`ALLOWANCE_TTL`] is released
//! (its row shrinks) at the node's next call for that key, and everything at shutdown
//! ([`SharedQuota::release_all`]).
//!
//! # How far a cluster can overshoot
//!
//! Grants never exceed a window's limit counted at the times they were granted. A permit is
//! spent after it was granted, and a node asks for a new batch only once its allowance is
//! spent, so at any moment each node holds less than one batch. Any span of a window's length
//! therefore sees at most `limit + nodes × batch` calls, and [`batch_size`] keeps the batch
//! at a twentieth of the smallest limit (1 to 100): with limits of 60 per minute and three
//! nodes, at most 60 + 3 × 3 = 69 calls in a minute. Released and unspent permits make the
//! error go the other way (under-admitting) by at most the same amount.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Clock, RateLimitPolicy, Result};

/// How long a node keeps an unspent allowance before releasing it.
pub const ALLOWANCE_TTL: Duration = Duration::from_secs(10);
/// The largest batch a node reserves at once.
pub const MAX_BATCH: u64 = 100;

/// What the shared counter granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Permits granted (0 when a window is full).
    pub granted: u64,
    /// The grant's row, to release unspent permits (0 when nothing was granted).
    pub id: i64,
    /// With nothing granted, how long until the fullest window has room again.
    pub retry_after: Option<Duration>,
}

/// The shared counter. Implemented by trae-storage.
#[async_trait]
pub trait QuotaRepository: Send + Sync + 'static {
    /// Grants up to `want` permits for `key` at `now`, so that no window `(length, limit)`
    /// holds more than its limit of granted permits, all under one lock per key.
    async fn reserve(
        &self,
        key: &str,
        windows: &[(Duration, u64)],
        want: u64,
        now: DateTime<Utc>,
    ) -> Result<Grant>;
    /// Gives back `count` unspent permits of grant `id`.
    async fn release(&self, key: &str, id: i64, count: u64) -> Result<()>;
    /// Deletes grants older than `before`; returns how many went.
    async fn trim(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// The batch a node reserves for `policy`: a twentieth of its smallest limit, 1 to
/// [`MAX_BATCH`].
pub fn batch_size(policy: &RateLimitPolicy) -> u64 {
    policy
        .windows()
        .iter()
        .map(|w| w.limit)
        .min()
        .map_or(MAX_BATCH, |smallest| (smallest / 20).clamp(1, MAX_BATCH))
}

#[derive(Debug)]
struct Allowance {
    remaining: u64,
    grant: i64,
    taken: Instant,
}

/// This node's view of the shared counter: allowances per key. Cheap to clone.
#[derive(Clone)]
pub struct SharedQuota {
    repo: Arc<dyn QuotaRepository>,
    clock: Arc<dyn Clock>,
    allowances: Arc<Mutex<HashMap<String, Allowance>>>,
}

impl std::fmt::Debug for SharedQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedQuota").finish_non_exhaustive()
    }
}

impl SharedQuota {
    /// A node's quota over `repo`.
    pub fn new(repo: Arc<dyn QuotaRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            clock,
            allowances: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Allowance>> {
        self.allowances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one permit for `key`: `Ok(None)` when granted, `Ok(Some(retry_after))` when the
    /// cluster is at a limit.
    pub async fn acquire(&self, key: &str, policy: &RateLimitPolicy) -> Result<Option<Duration>> {
        if policy.is_unlimited() {
            return Ok(None);
        }
        let stale = {
            let mut allowances = self.lock();
            match allowances.get_mut(key) {
                Some(a) if a.remaining > 0 && a.taken.elapsed() < ALLOWANCE_TTL => {
                    a.remaining -= 1;
                    return Ok(None);
                }
                Some(_) => allowances.remove(key),
                None => None,
            }
        };
        if let Some(old) = stale
            && old.remaining > 0
        {
            self.repo.release(key, old.grant, old.remaining).await?;
        }
        let windows: Vec<(Duration, u64)> = policy
            .windows()
            .iter()
            .map(|w| (w.window, w.limit))
            .collect();
        let grant = self
            .repo
            .reserve(key, &windows, batch_size(policy), self.clock.now())
            .await?;
        if grant.granted == 0 {
            return Ok(Some(grant.retry_after.unwrap_or(Duration::from_secs(1))));
        }
        let spare = grant.granted - 1;
        let mut allowances = self.lock();
        let entry = allowances.entry(key.to_owned()).or_insert(Allowance {
            remaining: 0,
            grant: grant.id,
            taken: Instant::now(),
        });
        // Another task of this node may have reserved meanwhile: the permits merge (a later
        // release shrinks the newer grant's row, at most to zero).
        entry.remaining += spare;
        entry.grant = grant.id;
        entry.taken = Instant::now();
        Ok(None)
    }

    /// Returns a permit taken by [`acquire`](Self::acquire) but not used.
    pub fn give_back(&self, key: &str) {
        if let Some(a) = self.lock().get_mut(key) {
            a.remaining += 1;
        }
    }

    /// Releases every allowance (for an orderly shutdown).
    pub async fn release_all(&self) {
        let drained: Vec<(String, Allowance)> = self.lock().drain().collect();
        for (key, a) in drained {
            if a.remaining > 0
                && let Err(e) = self.repo.release(&key, a.grant, a.remaining).await
            {
                tracing::warn!(key = %key, error = %e, "releasing an API quota allowance failed");
            }
        }
    }

    /// Deletes grants older than a day and a half (every window is at most a day long).
    pub async fn trim(&self) -> Result<u64> {
        self.repo
            .trim(self.clock.now() - chrono::Duration::hours(36))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_a_twentieth_of_the_smallest_limit() {
        let p = |m, h, d| RateLimitPolicy::from_limits(m, h, d).unwrap();
        assert_eq!(batch_size(&p(Some(60), Some(1000), None)), 3);
        assert_eq!(batch_size(&p(Some(5), None, None)), 1);
        assert_eq!(batch_size(&p(None, None, Some(1_000_000))), MAX_BATCH);
    }
}
