//! The one place authorization is decided: what a principal may do, and whether it may
//! grant a set of permissions to someone else.
//!
//! Roles map to permissions through the role repository; `admin` holds every permission,
//! resolved here at check time, so permissions added later need no grant. An API key holds
//! the intersection of its scopes and its owner's current permissions.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use trae_core::identity::permission::{ADMIN_ROLE, RoleRepository};
use trae_core::{Error, Permission, PermissionSet, Principal, Result};

type GrantCache = HashMap<Vec<String>, (Instant, BTreeSet<Permission>)>;

/// Authorization decisions.
#[derive(Clone)]
pub struct Rbac {
    roles: Arc<dyn RoleRepository>,
    // What a set of roles grants, trusted for `ttl`; policy changes on this node clear it.
    cache_ttl: Duration,
    cache: Arc<Mutex<GrantCache>>,
}

impl std::fmt::Debug for Rbac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rbac").finish_non_exhaustive()
    }
}

impl Rbac {
    /// Decisions over the roles in `roles`, read afresh on every check.
    pub fn new(roles: Arc<dyn RoleRepository>) -> Self {
        Self::with_cache(roles, Duration::ZERO)
    }

    /// Decisions that trust what a set of roles grants for `ttl`: a role changed on another
    /// node takes effect here within `ttl`; on this node at once.
    pub fn with_cache(roles: Arc<dyn RoleRepository>, ttl: Duration) -> Self {
        Self {
            roles,
            cache_ttl: ttl,
            cache: Arc::default(),
        }
    }

    /// The role repository decisions read.
    pub fn roles(&self) -> &Arc<dyn RoleRepository> {
        &self.roles
    }

    /// Forgets every cached grant (a role changed).
    pub fn forget_grants(&self) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Everything the named roles grant together.
    pub async fn role_permissions(&self, roles: &[String]) -> Result<PermissionSet> {
        if roles.iter().any(|r| r == ADMIN_ROLE) {
            return Ok(PermissionSet::All);
        }
        if self.cache_ttl.is_zero() {
            return Ok(PermissionSet::Only(self.roles.permissions_of(roles).await?));
        }
        if let Some((at, set)) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(roles)
            && at.elapsed() < self.cache_ttl
        {
            return Ok(PermissionSet::Only(set.clone()));
        }
        let set = self.roles.permissions_of(roles).await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // Role sets are few; a bound only guards against a pathological spread.
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(roles.to_vec(), (Instant::now(), set.clone()));
        Ok(PermissionSet::Only(set))
    }

    /// Everything `principal` may do.
    pub async fn permissions(&self, principal: &Principal) -> Result<PermissionSet> {
        match principal {
            Principal::System => Ok(PermissionSet::All),
            Principal::User { roles, .. } => self.role_permissions(roles).await,
            Principal::ApiKey {
                owner_roles,
                scopes,
                ..
            } => Ok(self
                .role_permissions(owner_roles)
                .await?
                .intersect(&PermissionSet::Only(scopes.clone()))),
        }
    }

    /// `Ok` when `principal` holds `needed`, else `Forbidden` naming the permission.
    pub async fn authorize(&self, principal: &Principal, needed: &Permission) -> Result<()> {
        if self.permissions(principal).await?.contains(needed) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this needs the permission {needed}"
            )))
        }
    }

    /// `Ok` when `principal` holds every permission in `granting`: nobody hands out what they
    /// do not have.
    pub async fn authorize_grant(
        &self,
        principal: &Principal,
        granting: &PermissionSet,
    ) -> Result<()> {
        if self.permissions(principal).await?.covers(granting) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "you cannot grant permissions you do not hold".into(),
            ))
        }
    }
}

#[async_trait::async_trait]
impl trae_core::identity::permission::Authorizer for Rbac {
    async fn authorize(&self, principal: &Principal, needed: &Permission) -> Result<()> {
        Rbac::authorize(self, principal, needed).await
    }
}
