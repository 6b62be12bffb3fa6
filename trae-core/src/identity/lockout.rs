//! Account lockout after repeated failed logins: the one place the rule lives.
//!
//! Failures are counted twice: per (account, client address), with a low threshold, and per
//! account over every address, with a much higher one. The low one stops guessing from one
//! place; because it is per address, a stranger cannot lock a user (or the only admin) out
//! from elsewhere with a handful of requests (OWASP Authentication Cheat Sheet, "Account
//! Lockout": lockout must not become a denial of service). The account-wide one bounds what
//! an attacker spread over many addresses can try.
//!
//! Storage keeps a [`LoginState`] per user and swaps it atomically (compare-and-set); the
//! decisions — count this failure, lock now, is the account locked for this address, reset on
//! success — are pure functions of the state, the policy and the time.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Addresses tracked per account at most; past this the stalest are forgotten (the
/// account-wide count still bounds what forgotten addresses can try).
pub const MAX_TRACKED_ADDRESSES: usize = 256;

/// The key of failures that came without a known client address.
const UNKNOWN_ADDRESS: &str = "unknown";

/// How many failures within which window lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures from one client address that lock the account for that address.
    pub max_failures: u32,
    /// Failures from all addresses together that lock the account for everyone.
    pub account_max_failures: u32,
    /// The span in which they must fall.
    pub window: Duration,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            account_max_failures: 100,
            window: Duration::minutes(15),
            lock_for: Duration::minutes(15),
        }
    }
}

/// Failures counted in one window, and the lock they led to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCount {
    /// Failures counted in the current window.
    pub failed: u32,
    /// When the current window's first failure happened.
    pub window_started_at: Option<DateTime<Utc>>,
    /// Until when this count's lock holds, if it does.
    pub locked_until: Option<DateTime<Utc>>,
}

impl FailureCount {
    fn locked_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|until| *until > now)
    }

    /// The count after one more failure at `now` (`max` of them lock), and the lock's end
    /// when this failure locked. Nothing changes while locked: failures then neither count
    /// nor extend the lock.
    fn after_failure(
        &self,
        max: u32,
        policy: &LockoutPolicy,
        now: DateTime<Utc>,
    ) -> (Self, Option<DateTime<Utc>>) {
        if let Some(until) = self.locked_until(now) {
            return (*self, Some(until));
        }
        // An expired lock leaves no count behind, so the window restarts after it.
        let in_window = self.locked_until.is_none()
            && self
                .window_started_at
                .is_some_and(|start| now - start < policy.window);
        let (failed, started) = match (in_window, self.window_started_at) {
            (true, Some(start)) => (self.failed.saturating_add(1), start),
            _ => (1, now),
        };
        if failed >= max {
            let until = now + policy.lock_for;
            let locked = Self {
                failed: 0,
                window_started_at: None,
                locked_until: Some(until),
            };
            return (locked, Some(until));
        }
        let counted = Self {
            failed,
            window_started_at: Some(started),
            locked_until: None,
        };
        (counted, None)
    }

    /// Whether the count still matters at `now` (a lock or a window in force).
    fn is_current(&self, policy: &LockoutPolicy, now: DateTime<Utc>) -> bool {
        self.locked_until(now).is_some()
            || (self.locked_until.is_none()
                && self
                    .window_started_at
                    .is_some_and(|start| now - start < policy.window))
    }
}

/// The failed-login bookkeeping of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// Failures from every address counted in the current window.
    pub failed_logins: u32,
    /// When the current account-wide window's first failure happened.
    pub window_started_at: Option<DateTime<Utc>>,
    /// Until when the account is locked for everyone, if it is.
    pub locked_until: Option<DateTime<Utc>>,
    /// Failures per client address (see [`address_key`]).
    pub by_address: BTreeMap<String, FailureCount>,
}

/// What a failed attempt did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; the account stays open.
    Counted,
    /// The account is locked for this address until the given time (by this failure or an
    /// earlier one).
    AddressLocked(DateTime<Utc>),
    /// The account is locked for every address until the given time.
    AccountLocked(DateTime<Utc>),
}

/// The key failures from `ip` are counted under: the address itself, or its /64 for IPv6
/// (one host usually holds a whole /64, so counting single addresses would not bound it).
pub fn address_key(ip: Option<&str>) -> String {
    match ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => UNKNOWN_ADDRESS.to_owned(),
    }
}

impl LoginState {
    fn account(&self) -> FailureCount {
        FailureCount {
            failed: self.failed_logins,
            window_started_at: self.window_started_at,
            locked_until: self.locked_until,
        }
    }

    fn set_account(&mut self, count: FailureCount) {
        self.failed_logins = count.failed;
        self.window_started_at = count.window_started_at;
        self.locked_until = count.locked_until;
    }

    /// Seconds until the lock that applies to `address` expires, when the account is locked
    /// for it (account-wide or for that address) at `now`.
    pub fn locked_for(&self, address: &str, now: DateTime<Utc>) -> Option<u64> {
        let account = self.account().locked_until(now);
        let here = self
            .by_address
            .get(address)
            .and_then(|c| c.locked_until(now));
        account
            .max(here)
            .map(|until| (until - now).num_seconds().max(1).unsigned_abs())
    }

    /// The state after a failed attempt from `address` at `now`, and what it did.
    pub fn after_failure(
        &self,
        policy: &LockoutPolicy,
        address: &str,
        now: DateTime<Utc>,
    ) -> (Self, FailureOutcome) {
        if let Some(until) = self.account().locked_until(now) {
            return (self.clone(), FailureOutcome::AccountLocked(until));
        }
        let here = self.by_address.get(address).copied().unwrap_or_default();
        if let Some(until) = here.locked_until(now) {
            return (self.clone(), FailureOutcome::AddressLocked(until));
        }
        let mut next = self.clone();
        next.by_address.retain(|_, c| c.is_current(policy, now));
        let (account, account_lock) =
            self.account()
                .after_failure(policy.account_max_failures, policy, now);
        next.set_account(account);
        let (here, address_lock) = here.after_failure(policy.max_failures, policy, now);
        next.by_address.insert(address.to_owned(), here);
        while next.by_address.len() > MAX_TRACKED_ADDRESSES {
            // Forget the address whose count matters least: unlocked before locked, then the
            // oldest window.
            let stalest = next
                .by_address
                .iter()
                .filter(|(key, _)| key.as_str() != address)
                .min_by_key(|(_, c)| (c.locked_until.is_some(), c.window_started_at))
                .map(|(key, _)| key.clone());
            match stalest {
                Some(key) => next.by_address.remove(&key),
                None => break,
            };
        }
        let outcome = match (account_lock, address_lock) {
            (Some(until), _) => FailureOutcome::AccountLocked(until),
            (None, Some(until)) => FailureOutcome::AddressLocked(until),
            (None, None) => FailureOutcome::Counted,
        };
        (next, outcome)
    }

    /// The state after a successful login: everything cleared.
    pub fn after_success() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const HERE: &str = "192.0.2.1";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn fail_n(
        policy: &LockoutPolicy,
        mut state: LoginState,
        n: u32,
        address: &str,
        at: DateTime<Utc>,
    ) -> (LoginState, FailureOutcome) {
        let mut outcome = FailureOutcome::Counted;
        for _ in 0..n {
            (state, outcome) = state.after_failure(policy, address, at);
        }
        (state, outcome)
    }

    #[test]
    fn fifth_failure_from_one_address_locks_it_for_fifteen_minutes() {
        let policy = LockoutPolicy::default();
        let (state, outcome) = fail_n(&policy, LoginState::default(), 4, HERE, t0());
        assert_eq!(outcome, FailureOutcome::Counted);
        assert_eq!(state.locked_for(HERE, t0()), None);
        let at = t0() + Duration::minutes(14);
        let (state, outcome) = state.after_failure(&policy, HERE, at);
        let until = t0() + Duration::minutes(29);
        assert_eq!(outcome, FailureOutcome::AddressLocked(until));
        assert_eq!(state.locked_for(HERE, at), Some(15 * 60));
        assert_eq!(state.locked_for("192.0.2.2", at), None, "other addresses");
        assert_eq!(
            state.locked_for(HERE, until),
            None,
            "the lock expires cleanly"
        );
    }

    #[test]
    fn failures_spread_over_addresses_lock_the_account_at_its_own_threshold() {
        let policy = LockoutPolicy {
            account_max_failures: 10,
            ..LockoutPolicy::default()
        };
        let mut state = LoginState::default();
        let mut outcome = FailureOutcome::Counted;
        for n in 0..10 {
            (state, outcome) = state.after_failure(&policy, &format!("192.0.2.{n}"), t0());
        }
        assert_eq!(
            outcome,
            FailureOutcome::AccountLocked(t0() + Duration::minutes(15))
        );
        assert!(state.locked_for("198.51.100.1", t0()).is_some());
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let policy = LockoutPolicy::default();
        let (state, _) = fail_n(&policy, LoginState::default(), 4, HERE, t0());
        let (state, outcome) = state.after_failure(&policy, HERE, t0() + Duration::minutes(16));
        assert_eq!(outcome, FailureOutcome::Counted, "a new window starts");
        assert_eq!(state.by_address[HERE].failed, 1);
        assert_eq!(state.failed_logins, 1);
    }

    #[test]
    fn after_a_lock_expires_counting_starts_over() {
        let policy = LockoutPolicy::default();
        let (locked, _) = fail_n(&policy, LoginState::default(), 5, HERE, t0());
        let later = t0() + Duration::minutes(20);
        assert_eq!(locked.locked_for(HERE, later), None);
        let (state, outcome) = locked.after_failure(&policy, HERE, later);
        assert_eq!(outcome, FailureOutcome::Counted);
        assert_eq!(state.by_address[HERE].failed, 1);
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        let policy = LockoutPolicy::default();
        let (locked, _) = fail_n(&policy, LoginState::default(), 5, HERE, t0());
        let (state, outcome) = locked.after_failure(&policy, HERE, t0() + Duration::minutes(10));
        assert_eq!(state, locked);
        assert_eq!(
            outcome,
            FailureOutcome::AddressLocked(t0() + Duration::minutes(15))
        );
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let policy = LockoutPolicy {
            account_max_failures: 1_000_000,
            ..LockoutPolicy::default()
        };
        let mut state = LoginState::default();
        for n in 0..(MAX_TRACKED_ADDRESSES + 50) {
            (state, _) =
                state.after_failure(&policy, &format!("10.0.{}.{}", n / 256, n % 256), t0());
        }
        assert_eq!(state.by_address.len(), MAX_TRACKED_ADDRESSES);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(
            address_key(Some("2001:db8:1:2:aaaa::1")),
            address_key(Some("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            address_key(Some("2001:db8:1:2::1")),
            address_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(Some("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(None), "unknown");
        assert_eq!(address_key(Some("junk")), "unknown");
    }

    #[test]
    fn success_resets_everything() {
        assert_eq!(LoginState::after_success(), LoginState::default());
    }
}
