//! Policy administration: custom roles and the permissions they grant (`policy:admin`).
//!
//! Built-in roles are defined by trae and its migrations and cannot be changed or deleted
//! here; custom roles grant only permissions from the catalogue, and only permissions the
//! acting principal holds itself.

use std::collections::BTreeSet;
use std::fmt;

use trae_core::identity::permission::{
    CATALOGUE, Role, check_role_description, check_role_name, known_permissions,
};
use trae_core::{AuditLog, Error, Outcome, Permission, PermissionSet, Principal, Result};

use crate::Rbac;
use crate::accounts::RequestMeta;

/// The permission every policy operation needs.
pub const POLICY_ADMIN: &str = "policy:admin";

/// A custom role to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRole {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// What it grants (catalogue names).
    pub permissions: Vec<String>,
}

/// Changes to a custom role; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePatch {
    /// A new description.
    pub description: Option<String>,
    /// The complete new set of permissions.
    pub permissions: Option<Vec<String>>,
}

/// Role and permission administration.
#[derive(Clone)]
pub struct Policy {
    rbac: Rbac,
    audit: AuditLog,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy").finish_non_exhaustive()
    }
}

fn policy_admin() -> Permission {
    Permission::from_static(POLICY_ADMIN)
}

impl Policy {
    /// A service deciding with `rbac`, auditing to `audit`.
    pub fn new(rbac: Rbac, audit: AuditLog) -> Self {
        Self { rbac, audit }
    }

    async fn audit(
        &self,
        principal: &Principal,
        action: &str,
        role: &str,
        meta: &RequestMeta,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit
            .record(meta.audit_entry(
                principal.actor(),
                action,
                Some(format!("role:{role}")),
                Outcome::Success,
                details,
            ))
            .await
            .map(|_| ())
    }

    /// Every role.
    pub async fn roles(&self, principal: &Principal) -> Result<Vec<Role>> {
        self.rbac.authorize(principal, &policy_admin()).await?;
        self.rbac.roles().list().await
    }

    /// One role.
    pub async fn role(&self, principal: &Principal, name: &str) -> Result<Role> {
        self.rbac.authorize(principal, &policy_admin()).await?;
        self.rbac
            .roles()
            .get(name)
            .await?
            .ok_or_else(|| Error::not_found("role", name))
    }

    /// Every permission trae checks.
    pub async fn permissions(&self, principal: &Principal) -> Result<Vec<Permission>> {
        self.rbac.authorize(principal, &policy_admin()).await?;
        Ok(CATALOGUE
            .iter()
            .map(|p| Permission::from_static(p))
            .collect())
    }

    async fn may_grant(&self, principal: &Principal, set: &BTreeSet<Permission>) -> Result<()> {
        self.rbac
            .authorize_grant(principal, &PermissionSet::Only(set.clone()))
            .await
    }

    async fn custom(&self, name: &str) -> Result<Role> {
        let role = self
            .rbac
            .roles()
            .get(name)
            .await?
            .ok_or_else(|| Error::not_found("role", name))?;
        if role.built_in {
            return Err(Error::Conflict(format!(
                "{name:?} is a built-in role and cannot be changed; create a custom role instead"
            )));
        }
        Ok(role)
    }

    /// Creates a custom role.
    pub async fn create_role(
        &self,
        principal: &Principal,
        input: NewRole,
        meta: &RequestMeta,
    ) -> Result<Role> {
        self.rbac.authorize(principal, &policy_admin()).await?;
        let role = Role {
            name: check_role_name(&input.name)?,
            description: check_role_description(&input.description)?,
            built_in: false,
            permissions: known_permissions(&input.permissions)?,
        };
        self.may_grant(principal, &role.permissions).await?;
        self.rbac.roles().create(&role).await?;
        self.audit(
            principal,
            "role.create",
            &role.name,
            meta,
            serde_json::json!({ "permissions": role.permissions }),
        )
        .await?;
        Ok(role)
    }

    /// Changes a custom role's description or permissions.
    pub async fn update_role(
        &self,
        principal: &Principal,
        name: &str,
        patch: RolePatch,
        meta: &RequestMeta,
    ) -> Result<Role> {
        self.rbac.authorize(principal, &policy_admin()).await?;
        let before = self.custom(name).await?;
        let description = patch
            .description
            .as_deref()
            .map(check_role_description)
            .transpose()?;
        let permissions = patch
            .permissions
            .as_deref()
            .map(known_permissions)
            .transpose()?;
        if let Some(new) = &permissions {
            // Taking permissions away from a role is granting in reverse: both need holding.
            self.may_grant(principal, &before.permissions).await?;
            self.may_grant(principal, new).await?;
        }
        let role = self
            .rbac
            .roles()
            .update(name, description.as_deref(), permissions.as_ref())
            .await?;
        self.rbac.forget_grants();
        self.audit(
            principal,
            "role.update",
            name,
            meta,
            serde_json::json!({
                "permissions": { "from": before.permissions, "to": role.permissions },
            }),
        )
        .await?;
        Ok(role)
    }

    /// Deletes a custom role no user holds.
    pub async fn delete_role(
        &self,
        principal: &Principal,
        name: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.rbac.authorize(principal, &policy_admin()).await?;
        let before = self.custom(name).await?;
        self.may_grant(principal, &before.permissions).await?;
        self.rbac.roles().delete(name).await?;
        self.rbac.forget_grants();
        self.audit(
            principal,
            "role.delete",
            name,
            meta,
            serde_json::json!({ "permissions": before.permissions }),
        )
        .await
    }
}
