//! Sessions: one per sign-in, holding a family of refresh tokens that rotate on every use.
//!
//! Presenting a refresh token that was already used means it was copied: the whole family
//! (the session) is revoked, and with it every access token that names the session.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Result;

/// A sign-in and its refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Identifier, carried as `sid` in access tokens.
    pub id: Uuid,
    /// Whose session it is.
    pub user_id: Uuid,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// When it was revoked (logout, reuse, password change, deactivation).
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// When it ends however often it is refreshed (`TRAE_SESSION_TTL_DAYS` after sign-in).
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Whether the session still authorizes requests at `now`: not revoked and not expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A refresh token as stored: its SHA-256 digest, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// The session (family) it belongs to.
    pub session_id: Uuid,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for the next one.
    pub used_at: Option<DateTime<Utc>>,
}

/// What happened when a refresh token was exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was unused; it is now used and the next one is stored.
    Rotated,
    /// The token had been used before: a replay.
    AlreadyUsed,
}

/// Storage of sessions and refresh tokens.
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Stores a new session with its first refresh token.
    async fn create(&self, session: &Session, first: &RefreshTokenRecord) -> Result<()>;
    /// Reads a session.
    async fn get(&self, id: Uuid) -> Result<Option<Session>>;
    /// Reads a refresh token by digest, with its session.
    async fn find_refresh(&self, hash: &str) -> Result<Option<(RefreshTokenRecord, Session)>>;
    /// Atomically marks `hash` used at `now` and stores `next`, unless `hash` was used
    /// already.
    async fn rotate(
        &self,
        hash: &str,
        next: &RefreshTokenRecord,
        now: DateTime<Utc>,
    ) -> Result<Rotation>;
    /// Revokes a session; false when it was already revoked or does not exist.
    async fn revoke(&self, id: Uuid, now: DateTime<Utc>, reason: &str) -> Result<bool>;
    /// Revokes every live session of a user except `keep`; returns how many.
    async fn revoke_all_for_user(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64>;
}
