//! A small in-process cache of session checks, so an access token costs a signature check and
//! a map lookup rather than two database reads on every request.
//!
//! Revocation on this node invalidates the entry at once. Another node trusts its own entry
//! for at most the configured time-to-live (`TRAE_SESSION_CACHE_SECS`, 5 s by default): that is
//! the longest a session revoked elsewhere keeps working here. A TTL of zero turns the cache off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use trae_core::User;
use uuid::Uuid;

/// Entries kept at most; past this, expired entries are dropped, then everything.
const CAPACITY: usize = 50_000;

/// What a session check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// The session is live; its user as they are now.
    Live(User),
    /// The session is revoked or gone, or its user is inactive.
    Dead,
}

#[derive(Debug)]
struct Entry {
    state: SessionState,
    user_id: Option<Uuid>,
    checked: Instant,
}

/// Session checks by session id, each trusted for the TTL.
#[derive(Debug, Clone)]
pub struct SessionCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<Uuid, Entry>>>,
}

impl SessionCache {
    /// A cache trusting each check for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Arc::default(),
        }
    }

    /// How long an entry is trusted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        // A panic while holding the lock cannot leave a map half-updated in a harmful way.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached state of a session, if checked within the TTL.
    pub fn get(&self, session_id: Uuid) -> Option<SessionState> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.lock();
        let entry = entries.get(&session_id)?;
        // A dead session stays dead, so that answer never goes stale.
        (entry.state == SessionState::Dead || entry.checked.elapsed() < self.ttl)
            .then(|| entry.state.clone())
    }

    /// Records a check.
    pub fn put(&self, session_id: Uuid, state: SessionState) {
        if self.ttl.is_zero() {
            return;
        }
        let user_id = match &state {
            SessionState::Live(user) => Some(user.id),
            SessionState::Dead => None,
        };
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, e| e.checked.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            session_id,
            Entry {
                state,
                user_id,
                checked: Instant::now(),
            },
        );
    }

    /// Marks a session dead (it was revoked here).
    pub fn revoke(&self, session_id: Uuid) {
        self.put(session_id, SessionState::Dead);
    }

    /// Forgets every live entry of a user, so the next request re-reads them (their roles,
    /// their sessions or their account changed).
    pub fn forget_user(&self, user_id: Uuid) {
        self.lock().retain(|_, e| e.user_id != Some(user_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: Uuid) -> User {
        let now = chrono::Utc::now();
        User {
            id,
            username: "ada".into(),
            email: "ada@example.com".into(),
            full_name: None,
            roles: vec!["user".into()],
            is_active: true,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        }
    }

    #[test]
    fn entries_expire_and_revocation_and_user_changes_invalidate() {
        let cache = SessionCache::new(Duration::from_millis(50));
        let (sid, uid) = (Uuid::now_v7(), Uuid::now_v7());
        cache.put(sid, SessionState::Live(user(uid)));
        assert!(matches!(cache.get(sid), Some(SessionState::Live(_))));
        cache.forget_user(uid);
        assert_eq!(cache.get(sid), None);
        cache.put(sid, SessionState::Live(user(uid)));
        cache.revoke(sid);
        assert_eq!(cache.get(sid), Some(SessionState::Dead));
        let other = Uuid::now_v7();
        cache.put(other, SessionState::Live(user(uid)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(other), None, "a live entry expires");
        assert_eq!(
            cache.get(sid),
            Some(SessionState::Dead),
            "a dead one does not"
        );
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = SessionCache::new(Duration::ZERO);
        let sid = Uuid::now_v7();
        cache.put(sid, SessionState::Dead);
        assert_eq!(cache.get(sid), None);
    }
}
