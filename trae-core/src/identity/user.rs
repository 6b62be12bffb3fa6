//! Users: the record, what storage keeps beside it, and the repository port.
//!
//! Usernames and emails are stored in canonical form (see [`crate::identity`]), so uniqueness
//! is a plain unique index and comparisons are case-insensitive by construction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::lockout::LoginState;
use crate::{Error, Page, PageRequest, Result};

/// A user, as anyone allowed to see it sees it (no password hash, no lockout counters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// Canonical username: 3–32 characters of `[a-z0-9_.-]`.
    pub username: String,
    /// Canonical (lowercase) email.
    pub email: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Role names, sorted.
    pub roles: Vec<String>,
    /// Whether the user may sign in.
    pub is_active: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user was last changed.
    pub updated_at: DateTime<Utc>,
    /// When the user last signed in.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A user with what only the identity service may read.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// The user.
    pub user: User,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Failed-login bookkeeping.
    pub login: LoginState,
    /// Bumped on every change of `login`, for compare-and-set.
    pub login_version: i64,
}

impl std::fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUser")
            .field("user", &self.user)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// Which users a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Users whose username or email contains this (case-insensitive).
    pub query: Option<String>,
    /// Users holding this role.
    pub role: Option<String>,
    /// Only active (true) or inactive (false) users.
    pub is_active: Option<bool>,
}

/// A change to a user; absent fields keep their value. Callers validate the values first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    /// A new canonical email.
    pub email: Option<String>,
    /// A new display name (`Some(None)` clears it).
    pub full_name: Option<Option<String>>,
    /// The complete new set of roles.
    pub roles: Option<Vec<String>>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Clear the failed-login counter and any lock.
    pub unlock: bool,
}

impl UserChange {
    /// Whether applying the change to `user` would take away their `admin` role or
    /// deactivate them.
    pub fn removes_admin(&self, user: &User) -> bool {
        let is_admin = |u: &User| {
            u.is_active
                && u.roles
                    .iter()
                    .any(|r| r == crate::identity::permission::ADMIN_ROLE)
        };
        if !is_admin(user) {
            return false;
        }
        let demoted = self.roles.as_ref().is_some_and(|roles| {
            !roles
                .iter()
                .any(|r| r == crate::identity::permission::ADMIN_ROLE)
        });
        demoted || self.is_active == Some(false)
    }
}

/// The error for a change that would leave nobody able to administer trae.
pub fn last_admin_error() -> Error {
    Error::Conflict("this is the last active admin; make another user admin first".into())
}

/// Storage of users.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Stores a new user with its password hash; `Conflict` when the username or email is
    /// taken; `Validation` when a role does not exist.
    async fn insert(&self, user: &User, password_hash: &str) -> Result<()>;
    /// Reads a user by id.
    async fn get(&self, id: Uuid) -> Result<Option<StoredUser>>;
    /// Reads a user by canonical username or canonical email.
    async fn find_by_login(&self, login: &str) -> Result<Option<StoredUser>>;
    /// Replaces the login state if it is still at `expected_version`; false when another
    /// attempt changed it first.
    async fn swap_login_state(
        &self,
        id: Uuid,
        expected_version: i64,
        state: &LoginState,
    ) -> Result<bool>;
    /// Records a successful sign-in at `at`: clears the login state, sets `last_login_at`,
    /// and stores `new_hash` when the password hash was upgraded.
    async fn record_login(&self, id: Uuid, at: DateTime<Utc>, new_hash: Option<&str>)
    -> Result<()>;
    /// Replaces the password hash, stamping `updated_at`.
    async fn set_password(&self, id: Uuid, hash: &str, at: DateTime<Utc>) -> Result<()>;
    /// Users matching `filter`, by username.
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>>;
    /// Applies `change` at `at` and returns the user as it now is. In one transaction that
    /// serialises with every other such change, it refuses with [`last_admin_error`] a change
    /// that would leave no active admin; `NotFound`, `Conflict` (email taken) and
    /// `Validation` (unknown role) as usual.
    async fn update(&self, id: Uuid, change: &UserChange, at: DateTime<Utc>) -> Result<User>;
    /// Deletes a user with their sessions and keys, under the same last-admin guard.
    async fn delete(&self, id: Uuid) -> Result<()>;
    /// How many active users hold the `admin` role.
    async fn count_active_admins(&self) -> Result<u64>;
}
