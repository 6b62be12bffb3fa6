//! Users as their owners and administrators manage them: one's own profile, and the admin
//! operations (list, change roles, deactivate, unlock, delete, end sessions).
//!
//! The rules: only `users:admin` manages other users; nobody grants a role whose permissions
//! they lack, nor changes a user who holds permissions they lack; the last active admin
//! cannot be demoted, deactivated or deleted (storage enforces this atomically); deactivating
//! a user ends their sessions and revokes their API keys; every change is audited.

use std::fmt;
use std::sync::Arc;

use trae_core::identity::{canonical_email, clean_full_name};
use trae_core::{
    ApiKeyRepository, AuditLog, Clock, Error, Outcome, Page, PageRequest, Permission,
    PermissionSet, Principal, Result, User, UserChange, UserFilter, UserRepository,
};
use uuid::Uuid;

use crate::accounts::{Accounts, Registration, RequestMeta};
use crate::session_cache::SessionState;
use crate::{Rbac, Sessions};

/// The permission every admin operation on users needs.
pub const USERS_ADMIN: &str = "users:admin";

/// What a user may change about themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    /// A new email.
    pub email: Option<String>,
    /// A new display name (`Some(None)` clears it).
    pub full_name: Option<Option<String>>,
}

/// What an administrator may change about a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminChange {
    /// A new email.
    pub email: Option<String>,
    /// A new display name (`Some(None)` clears it).
    pub full_name: Option<Option<String>>,
    /// The complete new set of roles.
    pub roles: Option<Vec<String>>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Clear failed logins and any lock.
    pub unlock: bool,
}

/// Profile and user administration.
#[derive(Clone)]
pub struct Users {
    users: Arc<dyn UserRepository>,
    keys: Arc<dyn ApiKeyRepository>,
    accounts: Accounts,
    sessions: Sessions,
    rbac: Rbac,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

fn users_admin() -> Permission {
    Permission::from_static(USERS_ADMIN)
}

fn signed_in_user(principal: &Principal) -> Result<Uuid> {
    match principal {
        Principal::User { user_id, .. } => Ok(*user_id),
        _ => Err(Error::Forbidden(
            "only a signed-in user changes their own profile".into(),
        )),
    }
}

impl Users {
    /// A service over the given repositories and services.
    pub fn new(
        users: Arc<dyn UserRepository>,
        keys: Arc<dyn ApiKeyRepository>,
        accounts: Accounts,
        sessions: Sessions,
        rbac: Rbac,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            keys,
            accounts,
            sessions,
            rbac,
            audit,
            clock,
        }
    }

    async fn audit(
        &self,
        principal: &Principal,
        action: &str,
        target: Uuid,
        meta: &RequestMeta,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit
            .record(meta.audit_entry(
                principal.actor(),
                action,
                Some(format!("user:{target}")),
                Outcome::Success,
                details,
            ))
            .await
            .map(|_| ())
    }

    async fn load(&self, id: Uuid) -> Result<User> {
        self.users
            .get(id)
            .await?
            .map(|s| s.user)
            .ok_or_else(|| Error::not_found("user", id))
    }

    /// The user a principal acts for (from the session cache when the request's session was
    /// just checked).
    pub async fn me(&self, principal: &Principal) -> Result<User> {
        if let Principal::User {
            user_id,
            session_id: Some(sid),
            ..
        } = principal
            && let Some(SessionState::Live(user)) = self.sessions.cache().get(*sid)
            && user.id == *user_id
        {
            return Ok(user);
        }
        let id = principal
            .user_id()
            .ok_or_else(|| Error::Forbidden("the system principal has no profile".into()))?;
        self.load(id).await
    }

    /// Changes the acting user's password after checking the current one; their other
    /// sessions end.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let Principal::User {
            user_id,
            session_id,
            ..
        } = principal
        else {
            return Err(Error::Forbidden(
                "only a signed-in user changes their own password".into(),
            ));
        };
        self.accounts
            .change_password(*user_id, *session_id, current, new, meta)
            .await
    }

    /// Changes the acting user's email or display name (never roles or status).
    pub async fn update_me(
        &self,
        principal: &Principal,
        change: ProfileChange,
        meta: &RequestMeta,
    ) -> Result<User> {
        let id = signed_in_user(principal)?;
        let change = UserChange {
            email: change.email.as_deref().map(canonical_email).transpose()?,
            full_name: change
                .full_name
                .map(|name| clean_full_name(name.as_deref()))
                .transpose()?,
            ..UserChange::default()
        };
        let user = self
            .users
            .update(id, &change, self.clock.now_micros())
            .await?;
        self.sessions.cache().forget_user(id);
        self.audit(
            principal,
            "user.update",
            id,
            meta,
            serde_json::json!({ "fields": changed_fields(&change) }),
        )
        .await?;
        Ok(user)
    }

    /// Users matching `filter` (needs `users:admin`).
    pub async fn list(
        &self,
        principal: &Principal,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>> {
        self.rbac.authorize(principal, &users_admin()).await?;
        self.users.list(filter, page).await
    }

    /// One user (needs `users:admin`).
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<User> {
        self.rbac.authorize(principal, &users_admin()).await?;
        self.load(id).await
    }

    /// Whether `principal` may hand out `roles`: it must hold all they grant.
    async fn may_grant(&self, principal: &Principal, roles: &[String]) -> Result<()> {
        let granting = self.rbac.role_permissions(roles).await?;
        self.rbac.authorize_grant(principal, &granting).await
    }

    /// Whether `principal` may change `target` at all: it must hold everything they hold.
    async fn may_manage(&self, principal: &Principal, target: &User) -> Result<()> {
        let held = self.rbac.role_permissions(&target.roles).await?;
        if self.rbac.permissions(principal).await?.covers(&held) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "you cannot change a user who holds permissions you do not".into(),
            ))
        }
    }

    /// Creates a user with `roles` (needs `users:admin` and every permission the roles grant).
    pub async fn create(
        &self,
        principal: &Principal,
        input: Registration,
        roles: Vec<String>,
        meta: &RequestMeta,
    ) -> Result<User> {
        self.rbac.authorize(principal, &users_admin()).await?;
        if roles.is_empty() {
            return Err(Error::validation("roles", "a user needs at least one role"));
        }
        self.may_grant(principal, &roles).await?;
        self.accounts
            .create(input, roles, Some(principal.actor()), meta)
            .await
    }

    /// Changes a user as an administrator.
    pub async fn update(
        &self,
        principal: &Principal,
        id: Uuid,
        change: AdminChange,
        meta: &RequestMeta,
    ) -> Result<User> {
        self.rbac.authorize(principal, &users_admin()).await?;
        let target = self.load(id).await?;
        self.may_manage(principal, &target).await?;
        let mut roles = change.roles;
        if let Some(roles) = roles.as_mut() {
            roles.sort();
            roles.dedup();
            if roles.is_empty() {
                return Err(Error::validation("roles", "a user needs at least one role"));
            }
            self.may_grant(principal, roles).await?;
        }
        let change = UserChange {
            email: change.email.as_deref().map(canonical_email).transpose()?,
            full_name: change
                .full_name
                .map(|name| clean_full_name(name.as_deref()))
                .transpose()?,
            roles,
            is_active: change.is_active,
            unlock: change.unlock,
        };
        let user = self
            .users
            .update(id, &change, self.clock.now_micros())
            .await?;
        let mut details = serde_json::json!({ "fields": changed_fields(&change) });
        if let Some(roles) = &change.roles {
            details["roles"] = serde_json::json!({ "from": target.roles, "to": roles });
        }
        if change.is_active == Some(false) && target.is_active {
            let (sessions, keys) = self.end_access(id).await?;
            details["sessions_ended"] = sessions.into();
            details["keys_revoked"] = keys.into();
        }
        self.sessions.cache().forget_user(id);
        self.audit(principal, "user.update", id, meta, details)
            .await?;
        Ok(user)
    }

    /// Ends every session and revokes every key of a user.
    async fn end_access(&self, id: Uuid) -> Result<(u64, u64)> {
        let sessions = self
            .sessions
            .revoke_all_for_user(id, None, "user deactivated")
            .await?;
        let keys = self
            .keys
            .revoke_all_for_owner(id, self.clock.now_micros())
            .await?;
        Ok((sessions, keys))
    }

    /// Deletes a user, their sessions and keys.
    pub async fn delete(&self, principal: &Principal, id: Uuid, meta: &RequestMeta) -> Result<()> {
        self.rbac.authorize(principal, &users_admin()).await?;
        let target = self.load(id).await?;
        self.may_manage(principal, &target).await?;
        self.users.delete(id).await?;
        self.sessions.cache().forget_user(id);
        self.audit(
            principal,
            "user.delete",
            id,
            meta,
            serde_json::json!({ "username": target.username, "roles": target.roles }),
        )
        .await
    }

    /// Ends every session of a user; returns how many.
    pub async fn revoke_sessions(
        &self,
        principal: &Principal,
        id: Uuid,
        meta: &RequestMeta,
    ) -> Result<u64> {
        self.rbac.authorize(principal, &users_admin()).await?;
        let target = self.load(id).await?;
        self.may_manage(principal, &target).await?;
        let ended = self
            .sessions
            .revoke_all_for_user(id, None, "revoked by an administrator")
            .await?;
        self.audit(
            principal,
            "user.revoke_sessions",
            id,
            meta,
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await?;
        Ok(ended)
    }

    /// Creates the first admin when no active admin exists; `None` when one does.
    pub async fn bootstrap_admin(
        &self,
        input: Registration,
        meta: &RequestMeta,
    ) -> Result<Option<User>> {
        if self.users.count_active_admins().await? > 0 {
            return Ok(None);
        }
        let roles = vec![trae_core::identity::permission::ADMIN_ROLE.to_owned()];
        match self.create(&Principal::System, input, roles, meta).await {
            Ok(user) => Ok(Some(user)),
            // Nodes starting together on a fresh database race here: the one that lost finds
            // the winner's admin and goes on (a name taken by someone who is not an admin
            // stays an error).
            Err(Error::Conflict(m)) => {
                if self.users.count_active_admins().await? > 0 {
                    Ok(None)
                } else {
                    Err(Error::Conflict(m))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Every permission `principal` holds, for display.
    pub async fn permissions_of(&self, principal: &Principal) -> Result<PermissionSet> {
        self.rbac.permissions(principal).await
    }
}

/// The names of the fields a change touches, for the audit log (never their values).
fn changed_fields(change: &UserChange) -> Vec<&'static str> {
    [
        ("email", change.email.is_some()),
        ("full_name", change.full_name.is_some()),
        ("roles", change.roles.is_some()),
        ("is_active", change.is_active.is_some()),
        ("unlock", change.unlock),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}
