//! Account lockout after repeated failed logins: the one place the rule lives.
//!
//! Storage keeps a [`LoginState`] per user and swaps it atomically (compare-and-set); the
//! decisions — count this failure, lock now, is the account locked, reset on success — are
//! pure functions of the state, the policy and the time.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How many failures within which window lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that lock the account.
    pub max_failures: u32,
    /// The span in which they must fall.
    pub window: Duration,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
            lock_for: Duration::minutes(15),
        }
    }
}

/// The failed-login bookkeeping of one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// Failures counted in the current window.
    pub failed_logins: u32,
    /// When the current window's first failure happened.
    pub window_started_at: Option<DateTime<Utc>>,
    /// Until when the account is locked, if it is.
    pub locked_until: Option<DateTime<Utc>>,
}

/// What a failed attempt did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; the account stays open.
    Counted,
    /// The account is locked until the given time (by this failure or an earlier one).
    LockedNow(DateTime<Utc>),
}

impl LoginState {
    /// Seconds until the lock expires, when the account is locked at `now`.
    pub fn locked_for(&self, now: DateTime<Utc>) -> Option<u64> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| (until - now).num_seconds().max(1).unsigned_abs())
    }

    /// The state after a failed attempt at `now`, and what it did. While the account is
    /// locked nothing changes: failures then neither count nor extend the lock.
    pub fn after_failure(
        &self,
        policy: &LockoutPolicy,
        now: DateTime<Utc>,
    ) -> (Self, FailureOutcome) {
        if let (Some(until), Some(_)) = (self.locked_until, self.locked_for(now)) {
            return (*self, FailureOutcome::LockedNow(until));
        }
        // An expired lock leaves no count behind, so the window restarts after it.
        let in_window = self.locked_until.is_none()
            && self
                .window_started_at
                .is_some_and(|start| now - start < policy.window);
        let (failed, started) = match (in_window, self.window_started_at) {
            (true, Some(start)) => (self.failed_logins.saturating_add(1), start),
            _ => (1, now),
        };
        if failed >= policy.max_failures {
            let until = now + policy.lock_for;
            let state = Self {
                failed_logins: 0,
                window_started_at: None,
                locked_until: Some(until),
            };
            return (state, FailureOutcome::LockedNow(until));
        }
        let state = Self {
            failed_logins: failed,
            window_started_at: Some(started),
            locked_until: None,
        };
        (state, FailureOutcome::Counted)
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

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn fail_n(
        policy: &LockoutPolicy,
        mut state: LoginState,
        n: u32,
        at: DateTime<Utc>,
    ) -> (LoginState, FailureOutcome) {
        let mut outcome = FailureOutcome::Counted;
        for _ in 0..n {
            (state, outcome) = state.after_failure(policy, at);
        }
        (state, outcome)
    }

    #[test]
    fn fifth_failure_within_the_window_locks_for_fifteen_minutes() {
        let policy = LockoutPolicy::default();
        let (state, outcome) = fail_n(&policy, LoginState::default(), 4, t0());
        assert_eq!((state.failed_logins, outcome), (4, FailureOutcome::Counted));
        assert_eq!(state.locked_for(t0()), None);
        let (state, outcome) = state.after_failure(&policy, t0() + Duration::minutes(14));
        let until = t0() + Duration::minutes(29);
        assert_eq!(outcome, FailureOutcome::LockedNow(until));
        assert_eq!(
            state.locked_for(t0() + Duration::minutes(14)),
            Some(15 * 60)
        );
        assert_eq!(state.locked_for(until), None, "the lock expires cleanly");
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let policy = LockoutPolicy::default();
        let (state, _) = fail_n(&policy, LoginState::default(), 4, t0());
        let (state, outcome) = state.after_failure(&policy, t0() + Duration::minutes(16));
        assert_eq!(
            (state.failed_logins, outcome),
            (1, FailureOutcome::Counted),
            "a new window starts"
        );
    }

    #[test]
    fn after_a_lock_expires_counting_starts_over() {
        let policy = LockoutPolicy::default();
        let (locked, _) = fail_n(&policy, LoginState::default(), 5, t0());
        let later = t0() + Duration::minutes(20);
        assert_eq!(locked.locked_for(later), None);
        let (state, outcome) = locked.after_failure(&policy, later);
        assert_eq!((state.failed_logins, outcome), (1, FailureOutcome::Counted));
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        let policy = LockoutPolicy::default();
        let (locked, _) = fail_n(&policy, LoginState::default(), 5, t0());
        let (state, outcome) = locked.after_failure(&policy, t0() + Duration::minutes(10));
        assert_eq!(state, locked);
        assert_eq!(
            outcome,
            FailureOutcome::LockedNow(t0() + Duration::minutes(15))
        );
    }

    #[test]
    fn success_resets_everything() {
        assert_eq!(LoginState::after_success(), LoginState::default());
    }
}
