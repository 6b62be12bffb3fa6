//! The one place authorization is decided: what a principal may do, and whether it may
//! grant a set of permissions to someone else.
//!
//! Roles map to permissions through the role repository; `admin` holds every permission,
//! resolved here at check time, so permissions added later need no grant. An API key holds
//! the intersection of its scopes and its owner's current permissions.

use std::sync::Arc;

use trae_core::permission::{ADMIN_ROLE, RoleRepository};
use trae_core::{Error, Permission, PermissionSet, Principal, Result};

/// Authorization decisions.
#[derive(Clone)]
pub struct Rbac {
    roles: Arc<dyn RoleRepository>,
}

impl std::fmt::Debug for Rbac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rbac").finish_non_exhaustive()
    }
}

impl Rbac {
    /// Decisions over the roles in `roles`.
    pub fn new(roles: Arc<dyn RoleRepository>) -> Self {
        Self { roles }
    }

    /// Everything the named roles grant together.
    pub async fn role_permissions(&self, roles: &[String]) -> Result<PermissionSet> {
        if roles.iter().any(|r| r == ADMIN_ROLE) {
            return Ok(PermissionSet::All);
        }
        Ok(PermissionSet::Only(self.roles.permissions_of(roles).await?))
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
