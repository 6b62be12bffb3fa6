//! Principals: who is acting on a service call, as authorization and the audit log see them.

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::Permission;
use crate::identity::audit::{ActorKind, ActorRef};

/// The acting principal of a service call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user, with the roles their token (or session) carries.
    User {
        /// The user.
        user_id: Uuid,
        /// The username, for the audit log.
        username: Option<String>,
        /// The session the request belongs to, when it came with an access token.
        session_id: Option<Uuid>,
        /// Role names.
        roles: Vec<String>,
    },
    /// An API key acting for its owner, limited to its scopes.
    ApiKey {
        /// The key.
        key_id: Uuid,
        /// Its owner.
        owner_id: Uuid,
        /// The owner's current roles.
        owner_roles: Vec<String>,
        /// What the key may do at most.
        scopes: BTreeSet<Permission>,
    },
    /// trae itself: the CLI, bootstrap, or Python without a principal. Holds every permission.
    System,
}

impl Principal {
    /// The principal as the audit log records it.
    pub fn actor(&self) -> ActorRef {
        match self {
            Self::User {
                user_id, username, ..
            } => ActorRef {
                kind: ActorKind::User,
                id: Some(*user_id),
                name: username.clone(),
            },
            Self::ApiKey { key_id, .. } => ActorRef {
                kind: ActorKind::ApiKey,
                id: Some(*key_id),
                name: None,
            },
            Self::System => ActorRef::system(),
        }
    }

    /// How records name their creator: `user:<id>`, `api_key:<id>` or `system`.
    pub fn created_by(&self) -> String {
        match self {
            Self::User { user_id, .. } => format!("user:{user_id}"),
            Self::ApiKey { key_id, .. } => format!("api_key:{key_id}"),
            Self::System => "system".to_owned(),
        }
    }

    /// The user on whose behalf the principal acts, if any.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::User { user_id, .. } => Some(*user_id),
            Self::ApiKey { owner_id, .. } => Some(*owner_id),
            Self::System => None,
        }
    }
}

/// Every permission a principal or role holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionSet {
    /// All permissions, present and future (the admin role, the system).
    All,
    /// Exactly these.
    Only(BTreeSet<Permission>),
}

impl PermissionSet {
    /// Whether `permission` is in the set.
    pub fn contains(&self, permission: &Permission) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(permission),
        }
    }

    /// The permissions in both sets.
    pub fn intersect(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::All, x) | (x, Self::All) => x.clone(),
            (Self::Only(a), Self::Only(b)) => Self::Only(a.intersection(b).cloned().collect()),
        }
    }

    /// Whether every permission of `other` is in this set.
    pub fn covers(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::All, _) => true,
            (Self::Only(_), Self::All) => false,
            (Self::Only(a), Self::Only(b)) => b.is_subset(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> PermissionSet {
        PermissionSet::Only(names.iter().map(|n| n.parse().unwrap()).collect())
    }

    #[test]
    fn intersection_and_cover() {
        let all = PermissionSet::All;
        let rw = set(&["pets:read", "pets:write"]);
        let r = set(&["pets:read"]);
        assert_eq!(all.intersect(&rw), rw);
        assert_eq!(rw.intersect(&set(&["pets:read", "audit:read"])), r);
        assert!(all.covers(&rw) && rw.covers(&r) && !r.covers(&rw) && !rw.covers(&all));
        assert!(rw.contains(&"pets:write".parse().unwrap()));
        assert!(!r.contains(&"pets:write".parse().unwrap()));
    }
}
