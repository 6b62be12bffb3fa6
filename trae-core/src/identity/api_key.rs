//! API keys: long-lived credentials a user makes for scripts, limited to a subset of the
//! user's permissions and stored only as a SHA-256 digest.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Permission, Result};

/// The prefix every API key starts with.
pub const API_KEY_PREFIX: &str = "trae_";
/// How many leading characters of a key are kept to recognise it in lists.
pub const DISPLAY_PREFIX_CHARS: usize = 12;
/// The longest key name.
pub const NAME_MAX_CHARS: usize = 64;

/// An API key as its owner sees it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Identifier.
    pub id: Uuid,
    /// The user it acts for.
    pub owner_id: Uuid,
    /// What it is for.
    pub name: String,
    /// Its first characters, e.g. `trae_Ab3dEf9`, to recognise it.
    pub prefix: String,
    /// The most it may do; the owner's current permissions limit it further.
    pub scopes: BTreeSet<Permission>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key works at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// Validates a key name and returns it trimmed.
pub fn check_key_name(name: &str) -> Result<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            format!("must be 1–{NAME_MAX_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Storage of API keys.
#[async_trait]
pub trait ApiKeyRepository: Send + Sync + 'static {
    /// Stores a key with the digest of its secret.
    async fn insert(&self, key: &ApiKey, hash: &str) -> Result<()>;
    /// The keys of one owner, newest first.
    async fn list_for_owner(&self, owner_id: Uuid) -> Result<Vec<ApiKey>>;
    /// The key with this digest.
    async fn find_by_hash(&self, hash: &str) -> Result<Option<ApiKey>>;
    /// Revokes one of `owner_id`'s keys; false when there is no such live key of theirs.
    async fn revoke(&self, id: Uuid, owner_id: Uuid, now: DateTime<Utc>) -> Result<bool>;
    /// Revokes every live key of a user; returns how many.
    async fn revoke_all_for_owner(&self, owner_id: Uuid, now: DateTime<Utc>) -> Result<u64>;
    /// Records a use.
    async fn touch(&self, id: Uuid, now: DateTime<Utc>) -> Result<()>;
}
