//! API keys: users make them for themselves with a subset of their own permissions; a key
//! authenticates as [`Principal::ApiKey`], holding its scopes within its owner's current
//! permissions.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use chrono::Duration;
use trae_core::identity::api_key::{API_KEY_PREFIX, DISPLAY_PREFIX_CHARS, check_key_name};
use trae_core::{
    ApiKey, ApiKeyRepository, AuditLog, Clock, Error, Outcome, Permission, PermissionSet,
    Principal, Result, UserRepository,
};
use uuid::Uuid;

use crate::accounts::RequestMeta;
use crate::{OpaqueToken, Rbac};

/// `last_used_at` is written at most this often per key, so reads do not become writes.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The longest expiry a key may be given.
pub const MAX_EXPIRY_DAYS: u32 = 3650;

/// A key as created: the record, and the secret shown this once.
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The key itself; never retrievable again.
    pub secret: String,
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What a user asks for when making a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKey {
    /// What the key is for.
    pub name: String,
    /// The permissions it may use; all of the owner's when absent.
    pub scopes: Option<Vec<String>>,
    /// Days until it expires; never when absent.
    pub expires_in_days: Option<u32>,
}

/// API key management and authentication.
#[derive(Clone)]
pub struct ApiKeys {
    keys: Arc<dyn ApiKeyRepository>,
    users: Arc<dyn UserRepository>,
    rbac: Rbac,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys").finish_non_exhaustive()
    }
}

fn owner_of(principal: &Principal) -> Result<Uuid> {
    match principal {
        Principal::User { user_id, .. } => Ok(*user_id),
        // A key cannot mint keys, and the system owns none.
        _ => Err(Error::Forbidden(
            "only a signed-in user manages API keys".into(),
        )),
    }
}

impl ApiKeys {
    /// A service over `keys`, deciding scopes with `rbac`.
    pub fn new(
        keys: Arc<dyn ApiKeyRepository>,
        users: Arc<dyn UserRepository>,
        rbac: Rbac,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            keys,
            users,
            rbac,
            audit,
            clock,
        }
    }

    async fn audit(
        &self,
        principal: &Principal,
        action: &str,
        key: &ApiKey,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.audit
            .record(meta.audit_entry(
                principal.actor(),
                action,
                Some(format!("api_key:{}", key.id)),
                Outcome::Success,
                serde_json::json!({ "name": key.name, "prefix": key.prefix, "scopes": key.scopes }),
            ))
            .await
            .map(|_| ())
    }

    /// Makes a key for the acting user, within their own permissions.
    pub async fn create(
        &self,
        principal: &Principal,
        input: NewKey,
        meta: &RequestMeta,
    ) -> Result<CreatedKey> {
        let owner_id = owner_of(principal)?;
        let name = check_key_name(&input.name)?;
        let held = self.rbac.permissions(principal).await?;
        let scopes: BTreeSet<Permission> = match input.scopes {
            Some(names) => names.iter().map(|n| n.parse()).collect::<Result<_>>()?,
            None => match &held {
                PermissionSet::Only(set) => set.clone(),
                PermissionSet::All => trae_core::identity::permission::CATALOGUE
                    .iter()
                    .map(|p| p.parse())
                    .collect::<Result<_>>()?,
            },
        };
        if scopes.is_empty() {
            return Err(Error::validation(
                "scopes",
                "a key needs at least one permission",
            ));
        }
        self.rbac
            .authorize_grant(principal, &PermissionSet::Only(scopes.clone()))
            .await?;
        let now = self.clock.now_micros();
        let expires_at = match input.expires_in_days {
            None => None,
            Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
                Some(now + Duration::days(i64::from(days)))
            }
            Some(days) => {
                return Err(Error::validation(
                    "expires_in_days",
                    format!("must be between 1 and {MAX_EXPIRY_DAYS}, got {days}"),
                ));
            }
        };
        let token = OpaqueToken::generate(API_KEY_PREFIX)?;
        let key = ApiKey {
            id: Uuid::now_v7(),
            owner_id,
            name,
            prefix: token.plaintext.chars().take(DISPLAY_PREFIX_CHARS).collect(),
            scopes,
            created_at: now,
            last_used_at: None,
            expires_at,
            revoked_at: None,
        };
        self.keys.insert(&key, &token.hash.0).await?;
        self.audit(principal, "api_key.create", &key, meta).await?;
        Ok(CreatedKey {
            key,
            secret: token.plaintext,
        })
    }

    /// The acting user's keys, newest first.
    pub async fn list(&self, principal: &Principal) -> Result<Vec<ApiKey>> {
        self.keys.list_for_owner(owner_of(principal)?).await
    }

    /// Revokes one of the acting user's keys; another user's key is `NotFound`.
    pub async fn revoke(&self, principal: &Principal, id: Uuid, meta: &RequestMeta) -> Result<()> {
        let owner_id = owner_of(principal)?;
        let key = self
            .keys
            .list_for_owner(owner_id)
            .await?
            .into_iter()
            .find(|k| k.id == id && k.revoked_at.is_none())
            .ok_or_else(|| Error::not_found("api key", id))?;
        if !self
            .keys
            .revoke(id, owner_id, self.clock.now_micros())
            .await?
        {
            return Err(Error::not_found("api key", id));
        }
        self.audit(principal, "api_key.revoke", &key, meta).await
    }

    /// The principal a presented key stands for.
    pub async fn authenticate(&self, secret: &str) -> Result<Principal> {
        let invalid = || Error::Unauthenticated("invalid or expired credentials".into());
        let secret = secret.trim();
        if !secret.starts_with(API_KEY_PREFIX) {
            return Err(invalid());
        }
        let now = self.clock.now_micros();
        let key = self
            .keys
            .find_by_hash(&OpaqueToken::digest(secret).0)
            .await?
            .filter(|k| k.is_usable(now))
            .ok_or_else(invalid)?;
        let owner = self
            .users
            .get(key.owner_id)
            .await?
            .filter(|u| u.user.is_active)
            .ok_or_else(invalid)?;
        if key.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
            self.keys.touch(key.id, now).await?;
        }
        Ok(Principal::ApiKey {
            key_id: key.id,
            owner_id: key.owner_id,
            owner_roles: owner.user.roles,
            scopes: key.scopes,
        })
    }
}
